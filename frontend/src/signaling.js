// signaling.js — the client of the built-in UI's WebSocket signalling at /ws (same host).
//
// Protocol (JSON text frames): the page sends {"type":"offer","sdp":…} once, with every ICE
// candidate already in the SDP (no trickle); the server answers {"type":"answer","sdp":…,
// "session":"<uuid>"} or {"type":"error","reason":…}, and pushes {"type":"state",…} (the same
// fields as GET /api/state) about once a second. Closing the socket ends the session.
// Unknown message types are ignored so the server can add more.

/** The /ws URL on the page's own host: wss on https pages. */
export function signalingUrl(loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

export class Signaling {
  /**
   * @param {object} handlers  onState(state), onError(reason) for errors outside an offer,
   *                           onClose(event) once the socket is closed.
   */
  constructor({ onState = () => {}, onError = () => {}, onClose = () => {} } = {}) {
    this.handlers = { onState, onError, onClose };
    this.ws = null;
    this.pending = null; // {resolve, reject} of the offer awaiting its answer
    this.session = null;
    this.closed = false;
  }

  /** Opens the socket; resolves once open, rejects if it closes first. */
  open(url = signalingUrl()) {
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onmessage = (ev) => this.dispatch(ev.data);
      ws.onclose = (ev) => {
        this.closed = true;
        if (!opened) reject(new Error(`signalling: /ws closed before opening (code ${ev.code})`));
        if (this.pending) {
          this.pending.reject(new Error(`signalling: /ws closed before the answer (code ${ev.code})`));
          this.pending = null;
        }
        this.handlers.onClose(ev);
      };
    });
  }

  /** Sends the offer SDP; resolves with {sdp, session} or rejects with the server's reason. */
  offer(sdp) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error('signalling: /ws is not open'));
    }
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.ws.send(JSON.stringify({ type: 'offer', sdp }));
    });
  }

  /** Handles one frame from the server. */
  dispatch(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (_) {
      return; // not JSON: ignore
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'answer' && this.pending) {
      this.session = msg.session ?? null;
      this.pending.resolve({ sdp: msg.sdp, session: this.session });
      this.pending = null;
    } else if (msg.type === 'error') {
      const reason = String(msg.reason ?? 'unknown error');
      if (this.pending) {
        this.pending.reject(new Error(`server: ${reason}`));
        this.pending = null;
      } else {
        this.handlers.onError(reason);
      }
    } else if (msg.type === 'state') {
      this.handlers.onState(msg);
    }
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes the socket, which ends the server-side session. */
  close() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, 'bye');
  }
}
