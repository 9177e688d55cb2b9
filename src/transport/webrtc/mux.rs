//! One UDP port for every WebRTC session (`--webrtc-udp-port`): webrtc 0.21.1 has no UDP mux,
//! so this is ours.
//!
//! [`UdpMux`] owns one shared socket per bind address (all on the same port) and a reader task
//! per socket. Each peer connection gets a [`MuxSocket`] per address (handed out by the
//! session runtime's `wrap_udp_socket`): it sends through the shared socket and receives from
//! its own bounded queue. The reader routes each datagram by (local address, remote address);
//! a remote address it has not seen yet is learned from the USERNAME of a STUN Binding request
//! (`"<our ufrag>:<their ufrag>"`, RFC 8445 §7.2.2), registered per session with
//! [`UdpMux::register_ufrag`]. Anything else from an unknown address is dropped.
//!
//! Never touches a peer connection and never blocks: a full session queue drops datagrams
//! (UDP semantics) and counts them.

use super::runtime::Counters;
use bytes::Bytes;
use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::runtime::{AsyncUdpSocket, RecvMeta, Transmit};

/// Datagrams waiting for one session's driver. When full, further datagrams for that session
/// are dropped and counted (`Counters::dropped_in`); ICE and SCTP retransmit.
pub const SESSION_QUEUE: usize = 512;
/// Receive buffer of the shared sockets: the largest UDP payload, so nothing is truncated.
const MAX_DATAGRAM: usize = 65_535;
/// STUN magic cookie (RFC 5389 §6).
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// STUN Binding request message type.
const BINDING_REQUEST: u16 = 0x0001;
/// STUN USERNAME attribute type.
const ATTR_USERNAME: u16 = 0x0006;

/// One received datagram on its way to a session.
#[derive(Debug)]
struct Datagram {
    data: Bytes,
    from: SocketAddr,
}

/// Where a session's datagrams go.
#[derive(Debug, Clone)]
struct Inbox {
    /// The session (see [`UdpMux::next_tag`]).
    tag: u64,
    /// Sender: the shared socket's reader. Receiver: that session's [`MuxSocket`].
    tx: mpsc::Sender<Datagram>,
}

/// The routing tables, shared by the reader tasks and every [`MuxSocket`].
#[derive(Debug, Default)]
struct Routes {
    /// Local ICE ufrag → session tag.
    ufrags: HashMap<String, u64>,
    /// (session tag, local address) → that session's queue for it.
    inboxes: HashMap<(u64, IpAddr), Inbox>,
    /// (local address, remote address) → the session that remote talks to.
    remotes: HashMap<(IpAddr, SocketAddr), Inbox>,
}

/// The shared sockets and their demultiplexer.
#[derive(Debug)]
pub struct UdpMux {
    port: u16,
    sockets: HashMap<IpAddr, Arc<UdpSocket>>,
    routes: Arc<Mutex<Routes>>,
    next_tag: AtomicU64,
    readers: Vec<JoinHandle<()>>,
}

impl UdpMux {
    /// Binds `port` on every address in `ips` (port 0: one ephemeral port, then the same port
    /// on the others) and starts a reader per socket. Needs a tokio runtime.
    pub fn bind(ips: &[IpAddr], port: u16, counters: Arc<Counters>) -> io::Result<UdpMux> {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let mut port = port;
        let mut sockets = HashMap::new();
        let mut readers = Vec::new();
        for &ip in ips {
            if sockets.contains_key(&ip) {
                continue;
            }
            let std_socket = std::net::UdpSocket::bind(SocketAddr::new(ip, port)).map_err(|e| {
                io::Error::new(e.kind(), format!("bind {}: {e}", SocketAddr::new(ip, port)))
            })?;
            std_socket.set_nonblocking(true)?;
            let socket = Arc::new(UdpSocket::from_std(std_socket)?);
            port = socket.local_addr()?.port();
            readers.push(tokio::spawn(read_loop(
                Arc::clone(&socket),
                ip,
                Arc::clone(&routes),
                Arc::clone(&counters),
            )));
            sockets.insert(ip, socket);
        }
        tracing::info!(target: "webrtc", port, addresses = ?ips, "shared UDP port open");
        Ok(UdpMux {
            port,
            sockets,
            routes,
            next_tag: AtomicU64::new(1),
            readers,
        })
    }

    /// The shared port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A fresh session tag.
    pub fn next_tag(&self) -> u64 {
        self.next_tag.fetch_add(1, Ordering::Relaxed)
    }

    /// A virtual socket on the shared socket of `ip` for session `tag`, or `None` when no
    /// shared socket is bound there.
    pub fn socket(
        &self,
        tag: u64,
        ip: IpAddr,
        counters: Arc<Counters>,
    ) -> Option<Arc<dyn AsyncUdpSocket>> {
        let shared = Arc::clone(self.sockets.get(&ip)?);
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let inbox = Inbox { tag, tx };
        lock(&self.routes).inboxes.insert((tag, ip), inbox.clone());
        Some(Arc::new(MuxSocket {
            local: SocketAddr::new(ip, self.port),
            shared,
            rx: Mutex::new(rx),
            own: inbox,
            routes: Arc::clone(&self.routes),
            counters,
        }))
    }

    /// Routes Binding requests for `ufrag` (our side's ICE ufrag) to session `tag`.
    pub fn register_ufrag(&self, ufrag: &str, tag: u64) {
        if let Some(old) = lock(&self.routes).ufrags.insert(ufrag.to_string(), tag) {
            tracing::warn!(target: "webrtc", ufrag, old, new = tag, "ICE ufrag reused; routing to the newer session");
        }
    }

    /// Forgets a ufrag (the session ended).
    pub fn forget_ufrag(&self, ufrag: &str) {
        lock(&self.routes).ufrags.remove(ufrag);
    }
}

impl Drop for UdpMux {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Locks the routes; a poisoned lock still holds consistent maps (every update is one call).
fn lock(routes: &Mutex<Routes>) -> std::sync::MutexGuard<'_, Routes> {
    routes
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn read_loop(
    socket: Arc<UdpSocket>,
    ip: IpAddr,
    routes: Arc<Mutex<Routes>>,
    counters: Arc<Counters>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => route(&routes, &counters, ip, from, &buf[..n]),
            Err(e) if transient(e.kind()) => {}
            Err(e) => {
                tracing::error!(target: "webrtc", local = %ip, error = %e, "shared UDP socket receive failed");
                // Not a timing wait: keeps a persistent error from spinning a core.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Errors a socket serving many peers shrugs off (as the webrtc driver does).
fn transient(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// Hands one datagram to its session: by ufrag for a Binding request (learning the remote
/// address), else by remote address.
fn route(routes: &Mutex<Routes>, counters: &Counters, ip: IpAddr, from: SocketAddr, data: &[u8]) {
    let inbox = {
        let mut r = lock(routes);
        let by_ufrag = binding_request_ufrag(data)
            .and_then(|ufrag| r.ufrags.get(ufrag).copied())
            .and_then(|tag| r.inboxes.get(&(tag, ip)).cloned());
        match by_ufrag {
            Some(inbox) => {
                r.remotes.insert((ip, from), inbox.clone());
                Some(inbox)
            }
            None => r.remotes.get(&(ip, from)).cloned(),
        }
    };
    let Some(inbox) = inbox else {
        counters.unrouted_in.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(target: "webrtc", %from, len = data.len(), "datagram for no session dropped");
        return;
    };
    let datagram = Datagram {
        data: Bytes::copy_from_slice(data),
        from,
    };
    if inbox.tx.try_send(datagram).is_err() {
        counters.dropped_in.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `data` looks like a STUN message (RFC 7983 demultiplexing: first byte 0..=3, plus
/// the magic cookie).
fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] < 4 && data[4..8] == MAGIC_COOKIE
}

/// The local ufrag of a STUN Binding request: the part of USERNAME before `':'`. `None` for
/// anything else, including malformed messages.
pub fn binding_request_ufrag(data: &[u8]) -> Option<&str> {
    if !is_stun(data) || u16::from_be_bytes([data[0], data[1]]) != BINDING_REQUEST {
        return None;
    }
    let len = u16::from_be_bytes([data[2], data[3]]) as usize;
    let mut attrs = data.get(20..20 + len)?;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let alen = u16::from_be_bytes([attrs[2], attrs[3]]) as usize;
        let value = attrs.get(4..4 + alen)?;
        if kind == ATTR_USERNAME {
            let user = std::str::from_utf8(value).ok()?;
            return user.split(':').next().filter(|u| !u.is_empty());
        }
        attrs = attrs.get((4 + alen.div_ceil(4) * 4).min(attrs.len())..)?;
    }
    None
}

/// One session's view of a shared socket.
#[derive(Debug)]
struct MuxSocket {
    /// The shared address, reported as this socket's own.
    local: SocketAddr,
    shared: Arc<UdpSocket>,
    rx: Mutex<mpsc::Receiver<Datagram>>,
    /// This socket's own inbox, registered for remotes it sends STUN to.
    own: Inbox,
    routes: Arc<Mutex<Routes>>,
    counters: Arc<Counters>,
}

impl MuxSocket {
    /// Routes answers from `to` back here: the responses to our own connectivity checks
    /// carry no USERNAME.
    fn learn(&self, to: SocketAddr) {
        let mut r = lock(&self.routes);
        let key = (self.local.ip(), to);
        if r.remotes.get(&key).is_none_or(|i| i.tag != self.own.tag) {
            r.remotes.insert(key, self.own.clone());
        }
    }
}

impl AsyncUdpSocket for MuxSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        if is_stun(transmit.contents) {
            self.learn(transmit.destination);
        }
        let sent = self
            .shared
            .poll_send_to(cx, transmit.contents, transmit.destination);
        if let Poll::Ready(Ok(n)) = &sent {
            self.counters.sent(1, *n);
        }
        sent
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut rx = self
            .rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let max = bufs.len().min(meta.len());
        let mut n = 0;
        while n < max {
            let datagram = if n == 0 {
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(d)) => d,
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
                    }
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                match rx.try_recv() {
                    Ok(d) => d,
                    Err(_) => break,
                }
            };
            let len = datagram.data.len().min(bufs[n].len());
            bufs[n][..len].copy_from_slice(&datagram.data[..len]);
            meta[n] = RecvMeta::default();
            meta[n].len = len;
            meta[n].stride = len.max(1);
            meta[n].addr = datagram.from;
            meta[n].dst_ip = Some(self.local.ip());
            n += 1;
        }
        Poll::Ready(Ok(n))
    }
}

impl Drop for MuxSocket {
    fn drop(&mut self) {
        let (tag, ip) = (self.own.tag, self.local.ip());
        let mut r = lock(&self.routes);
        r.inboxes.remove(&(tag, ip));
        r.remotes
            .retain(|(local, _), inbox| !(inbox.tag == tag && *local == ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Binding request as Chromium sends it: USERNAME "AbCd:xyz1" (9 bytes, 3 of padding)
    /// between PRIORITY and MESSAGE-INTEGRITY.
    fn binding_request(username: &[u8], kind: u16) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 0x6e, 0x7f, 0x1e, 0xff]); // PRIORITY
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username);
        attrs.resize(attrs.len().div_ceil(4) * 4, 0);
        attrs.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]); // MESSAGE-INTEGRITY
        attrs.extend_from_slice(&[0xaa; 20]);
        let mut msg = Vec::new();
        msg.extend_from_slice(&kind.to_be_bytes());
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE);
        msg.extend_from_slice(&[7; 12]); // transaction id
        msg.extend_from_slice(&attrs);
        msg
    }

    #[test]
    fn username_of_a_binding_request_gives_the_local_ufrag() {
        let msg = binding_request(b"AbCd:xyz1", BINDING_REQUEST);
        assert_eq!(msg.len(), 20 + 8 + 16 + 24);
        assert_eq!(binding_request_ufrag(&msg), Some("AbCd"));
    }

    #[test]
    fn anything_else_has_no_ufrag() {
        assert_eq!(
            binding_request_ufrag(&binding_request(b"AbCd:xyz1", 0x0101)),
            None,
            "a response"
        );
        assert_eq!(
            binding_request_ufrag(&binding_request(b":xyz1", BINDING_REQUEST)),
            None,
            "empty ufrag"
        );
        let mut dtls = binding_request(b"AbCd:xyz1", BINDING_REQUEST);
        dtls[0] = 22;
        assert_eq!(binding_request_ufrag(&dtls), None, "a DTLS record");
        let msg = binding_request(b"AbCd:xyz1", BINDING_REQUEST);
        assert_eq!(binding_request_ufrag(&msg[..30]), None, "truncated");
        let mut lying = msg.clone();
        lying[30] = 0xff; // USERNAME claims more bytes than there are
        assert_eq!(binding_request_ufrag(&lying), None);
        assert_eq!(binding_request_ufrag(&[]), None);
    }
}
