//! The `Runtime` each peer connection runs on: tokio for everything, with its tasks (the
//! connection's driver first) on the session's thread from the [`reactor`](super::reactor)
//! pool, and the UDP sockets the driver binds swapped for [`UdpMux`] sockets (shared port)
//! or wrapped to count what goes out (ephemeral ports).
//!
//! Owns no session state; it is the seam between webrtc's driver and our sockets.

use super::mux::UdpMux;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    TokioRuntime, Transmit,
};

/// Wire counters of every WebRTC socket (all sessions).
#[derive(Debug, Default)]
pub struct Counters {
    /// UDP datagrams sent.
    pub packets_sent: AtomicU64,
    /// UDP payload bytes sent.
    pub bytes_sent: AtomicU64,
    /// Datagrams the shared port dropped because a session's queue was full.
    pub dropped_in: AtomicU64,
    /// Datagrams the shared port dropped because no session matched.
    pub unrouted_in: AtomicU64,
}

impl Counters {
    /// Counts `packets` datagrams carrying `bytes` in total.
    pub fn sent(&self, packets: u64, bytes: usize) {
        self.packets_sent.fetch_add(packets, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// One peer connection's runtime.
#[derive(Debug)]
pub struct SessionRuntime {
    inner: TokioRuntime,
    /// The shared port, when `--webrtc-udp-port` is set.
    mux: Option<Arc<UdpMux>>,
    /// This session's tag in the mux.
    tag: u64,
    counters: Arc<Counters>,
    /// The session's thread (its driver's sockets bind there, as the driver binds them).
    thread: tokio::runtime::Handle,
}

impl SessionRuntime {
    /// A runtime for session `tag` whose tasks run on `thread`.
    pub fn new(
        mux: Option<Arc<UdpMux>>,
        tag: u64,
        counters: Arc<Counters>,
        thread: tokio::runtime::Handle,
    ) -> SessionRuntime {
        SessionRuntime {
            inner: TokioRuntime,
            mux,
            tag,
            counters,
            thread,
        }
    }
}

/// A task on a session's thread, as webrtc holds it.
struct Task(tokio::task::JoinHandle<()>);

impl JoinHandle for Task {
    fn detach(&self) {
        // A tokio task runs on when its handle is dropped.
    }

    fn abort(&self) {
        self.0.abort();
    }

    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Runtime for SessionRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        Box::new(Task(self.thread.spawn(future)))
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        if let Some(mux) = &self.mux {
            let ip = socket.local_addr()?.ip();
            if let Some(shared) = mux.socket(self.tag, ip, Arc::clone(&self.counters)) {
                // The driver's own ephemeral socket only named the address; the shared one
                // carries the traffic. Its port is rewritten to the shared one in the answer.
                drop(socket);
                return Ok(shared);
            }
            tracing::warn!(target: "webrtc", %ip, "no shared UDP socket on this address; using an ephemeral port");
        }
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(Arc::new(CountingSocket {
            inner,
            counters: Arc::clone(&self.counters),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "periscope-tokio"
    }
}

/// A tokio UDP socket that counts what it sends.
struct CountingSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    counters: Arc<Counters>,
}

impl fmt::Debug for CountingSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingSocket")
            .field("inner", &self.inner)
            .finish()
    }
}

impl AsyncUdpSocket for CountingSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let sent = self.inner.poll_send(cx, transmit);
        if let Poll::Ready(Ok(n)) = &sent {
            let packets = match transmit.segment_size {
                Some(seg) if seg > 0 => n.div_ceil(seg) as u64,
                _ => 1,
            };
            self.counters.sent(packets, *n);
        }
        sent
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}
