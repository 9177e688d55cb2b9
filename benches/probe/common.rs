//! What the two loop experiments share (`benches/sansio_loop.rs`, `benches/str0m-probe/`):
//! the command line, N of the tests' WHEP clients handing their offers to the server thread,
//! and that thread's CPU over the window. Their crates also declare `proc_stat` and
//! `whep_client`, which this uses.

use super::proc_stat::cpu_seconds;
use super::whep_client;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A client's SDP offer and where the answer goes.
pub type Offer = (String, oneshot::Sender<String>);

/// Runs `serve` on a thread named "srv", connects `VIEWERS` clients to it (the first bare
/// number on the command line; `cargo bench` adds `--bench`), waits 3 s, then prints the
/// thread's CPU (utime + stime, % of a core) over `SECONDS` (the second number) and the
/// frames each client got per second. Exits the process when done.
pub fn measure(label: &str, serve: impl FnOnce(mpsc::Receiver<Offer>) + Send + 'static) {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1) as usize;
    let secs = args.get(1).copied().unwrap_or(10);
    let (tx, rx) = mpsc::channel::<Offer>(64);
    let tid = Arc::new(AtomicU64::new(0));
    let server_tid = Arc::clone(&tid);
    std::thread::Builder::new()
        .name("srv".into())
        .spawn(move || {
            // SAFETY: gettid has no preconditions and cannot fail.
            server_tid.store(unsafe { libc::gettid() } as u64, Ordering::SeqCst);
            serve(rx)
        })
        .expect("server thread");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let frames = Arc::new(AtomicU64::new(0));
        for _ in 0..n {
            let (mut client, offer) = whep_client::client().await;
            let (answer_tx, answer_rx) = oneshot::channel();
            tx.send((offer, answer_tx)).await.expect("server");
            let answer = answer_rx.await.expect("answer");
            client.accept(&answer).await;
            let f = Arc::clone(&frames);
            tokio::spawn(async move {
                while client.units.recv().await.is_some() {
                    f.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let thread = format!("self/task/{}", tid.load(Ordering::SeqCst));
        let (c0, f0, t0) = (
            cpu_seconds(&thread),
            frames.load(Ordering::Relaxed),
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let dt = t0.elapsed().as_secs_f64();
        let (c1, f1) = (cpu_seconds(&thread), frames.load(Ordering::Relaxed));
        println!(
            "{label} viewers={n} server-thread-cpu%={:.2} frames/s per viewer={:.1}",
            100.0 * (c1 - c0) / dt,
            (f1 - f0) as f64 / dt / n as f64
        );
        std::process::exit(0);
    });
}
