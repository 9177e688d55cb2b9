//! The threads WebRTC sessions run on: a small fixed pool of single-threaded tokio runtimes
//! (`rtp0`, `rtp1`, …). Each session is given one of them for its whole life, and its
//! connection driver (webrtc's event loop, with its sockets and timers), its video task and
//! its keyframe-request task all run there.
//!
//! Why: a viewer costs a few task wake-ups per frame (the bus wakes its video task, the video
//! task wakes its driver, the driver sends). On the multi-threaded runtime each of those can
//! cross threads (a futex wake and a context switch each), so every viewer added its own
//! wake-ups. On one thread the encoder's frame wakes the thread once and every session on it
//! runs in turn (docs/BENCHMARKS.md, fan-out). Sessions are dealt to the threads in turn.
//!
//! The pool is process-wide and built on first use; its threads park when idle and live as
//! long as the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle};

/// Threads in the pool: half the cores (at least one, at most four). A two-core board keeps
/// a core for the encoder; a four-core Pi 4 spreads many viewers over two.
pub fn pool_size(cores: usize) -> usize {
    (cores / 2).clamp(1, 4)
}

struct Pool {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let handles: Vec<Handle> = (0..pool_size(cores)).filter_map(start).collect();
        tracing::info!(target: super::LOG, threads = handles.len(), "WebRTC session threads started");
        Pool {
            handles,
            next: AtomicUsize::new(0),
        }
    })
}

/// Starts thread `rtp{index}` with its runtime; `None` (logged) when the OS refuses.
fn start(index: usize) -> Option<Handle> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(format!("rtp{index}"))
        .spawn(move || match Builder::new_current_thread().enable_all().build() {
            Ok(rt) => {
                let _ = tx.send(Some(rt.handle().clone()));
                rt.block_on(std::future::pending::<()>());
            }
            Err(e) => {
                tracing::error!(target: super::LOG, error = %e, "WebRTC session thread: no runtime");
                let _ = tx.send(None);
            }
        });
    match spawned {
        Ok(_) => rx.recv().ok().flatten(),
        Err(e) => {
            tracing::error!(target: super::LOG, error = %e, "WebRTC session thread not started");
            None
        }
    }
}

/// The runtime for a new session: the pool's threads in turn, or the caller's own runtime
/// if the pool has none (every thread failed to start; logged once above).
pub fn assign() -> Handle {
    let pool = pool();
    if pool.handles.is_empty() {
        return Handle::current();
    }
    let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.handles.len();
    pool.handles[i].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_cores_between_one_and_four() {
        assert_eq!(pool_size(1), 1);
        assert_eq!(pool_size(2), 1);
        assert_eq!(pool_size(4), 2);
        assert_eq!(pool_size(6), 3);
        assert_eq!(pool_size(64), 4);
    }

    #[tokio::test]
    async fn sessions_run_on_the_pool_threads() {
        let n = pool().handles.len();
        assert!(n >= 1);
        let mut names = Vec::new();
        for _ in 0..2 * n {
            let name = assign()
                .spawn(async { std::thread::current().name().map(str::to_string) })
                .await
                .expect("the task runs");
            names.push(name.expect("pool threads are named"));
        }
        let pool_threads: Vec<String> = (0..n).map(|i| format!("rtp{i}")).collect();
        assert!(
            names.iter().all(|name| pool_threads.contains(name)),
            "{names:?}"
        );
    }
}
