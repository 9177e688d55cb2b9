// video.js — the WebRTC receive side: one RTCPeerConnection per page, a recvonly video
// transceiver (H.264 preferred), and the `hid` data channel, negotiated over /ws without
// trickle ICE (the offer is sent once gathering is complete).
//
// It decides when WebRTC has failed: no RTCPeerConnection, an error from the server, not
// `connected` (or no decoded frame) within CONNECT_TIMEOUT_MS, `failed`, or `disconnected` for
// longer than DISCONNECT_GRACE_MS. It then calls onFail(reason) exactly once; what to show instead is the
// caller's business. It never touches the DOM beyond the <video> element it is given.

/** How long the connection may take to reach `connected` before we give up. */
export const CONNECT_TIMEOUT_MS = 8000;
/** How long `disconnected` may last before it counts as permanent. */
export const DISCONNECT_GRACE_MS = 5000;
/** Upper bound on waiting for ICE gathering; we then send whatever was gathered. */
export const GATHER_TIMEOUT_MS = 3000;

/** True when this browser can do WebRTC at all. */
export function webrtcAvailable() {
  return typeof window.RTCPeerConnection === 'function';
}

/** Puts H.264 (packetization-mode=1 first) ahead of the other codecs, where supported. */
export function preferH264(transceiver) {
  if (typeof transceiver.setCodecPreferences !== 'function') return;
  const caps = window.RTCRtpReceiver?.getCapabilities?.('video');
  if (!caps || !caps.codecs) return;
  // Constrained baseline with packetization-mode=1 first: what the appliance answers.
  const rank = (c) => {
    if (!/h264/i.test(c.mimeType)) return 3;
    const fmtp = c.sdpFmtpLine ?? '';
    if (!/packetization-mode=1/.test(fmtp)) return 2;
    return /profile-level-id=42e0/i.test(fmtp) ? 0 : 1;
  };
  const codecs = [...caps.codecs].sort((a, b) => rank(a) - rank(b));
  try {
    transceiver.setCodecPreferences(codecs);
  } catch (_) {
    // keep the browser's default order
  }
}

/** Resolves once ICE gathering is complete, or after timeoutMs. */
export function waitForIceGathering(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export class WebRtcSession {
  /**
   * @param {object} opts
   * @param {HTMLVideoElement} opts.video   where the remote track plays
   * @param {import('./signaling.js').Signaling} opts.signaling  an open /ws client
   * @param {(reason: string) => void} opts.onFail  called once when WebRTC is given up
   * @param {(state: string) => void} [opts.onConnectionState]
   * @param {(channel: RTCDataChannel) => void} [opts.onChannel]  the `hid` channel, once created
   */
  constructor({ video, signaling, onFail, onConnectionState = () => {}, onChannel = () => {} }) {
    this.video = video;
    this.signaling = signaling;
    this.onFail = onFail;
    this.onConnectionState = onConnectionState;
    this.onChannel = onChannel;
    this.pc = null;
    this.channel = null;
    this.failed = false;
    this.closed = false;
    this.timers = new Set();
  }

  /** Negotiates; failures end in onFail rather than a rejected promise. */
  async start() {
    if (!webrtcAvailable()) return this.fail('this browser has no RTCPeerConnection');
    try {
      this.pc = this.createPeer();
      this.after(CONNECT_TIMEOUT_MS, () => {
        const secs = CONNECT_TIMEOUT_MS / 1000;
        const state = this.pc.connectionState;
        if (state !== 'connected') this.fail(`not connected after ${secs} s (${state})`);
        else if (!(this.video.videoWidth > 0)) this.fail(`connected, but no video frame after ${secs} s`);
      });
      await this.pc.setLocalDescription(await this.pc.createOffer());
      await waitForIceGathering(this.pc);
      if (this.closed) return;
      const answer = await this.signaling.offer(this.pc.localDescription.sdp);
      if (this.closed) return;
      await this.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    } catch (err) {
      this.fail(err?.message ?? String(err));
    }
  }

  createPeer() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const transceiver = pc.addTransceiver('video', { direction: 'recvonly' });
    preferH264(transceiver);
    // Created before the offer so the SDP carries an application m-line.
    this.channel = pc.createDataChannel('hid', { ordered: true });
    this.onChannel(this.channel);
    pc.ontrack = (ev) => {
      const stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      this.video.srcObject = stream;
      this.video.play().catch(() => {}); // autoplay is muted; a refusal is not fatal
    };
    pc.onconnectionstatechange = () => this.connectionChanged(pc.connectionState);
    return pc;
  }

  connectionChanged(state) {
    this.onConnectionState(state);
    if (state === 'failed') this.fail('connection failed');
    else if (state === 'closed' && !this.closed) this.fail('connection closed');
    else if (state === 'disconnected') {
      this.after(DISCONNECT_GRACE_MS, () => {
        if (this.pc.connectionState !== 'connected') this.fail('connection lost');
      });
    }
  }

  /** Runs fn after ms unless the session was closed or failed meanwhile. */
  after(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.failed && !this.closed) fn();
    }, ms);
    this.timers.add(t);
  }

  /** True while the `hid` data channel can carry messages. */
  get channelOpen() {
    return !!this.channel && this.channel.readyState === 'open';
  }

  fail(reason) {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.onFail(reason);
  }

  /** Tears the connection down (idempotent); the caller closes the signalling socket. */
  close() {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.pc) this.pc.close();
  }
}
