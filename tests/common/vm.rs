//! Drives the QEMU bench (`tests/vm/run.sh`) from a Rust test: boots a guest with the
//! `periscope` binary and a guest script from `tests/vm/cases/`, streams the guest console
//! into the test log, waits for marker lines, and returns the guest script's exit status.
//! Adding a VM test is a guest script plus a few lines calling [`Vm::boot`].
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest a guest may take to boot and print a marker (TCG on 2 shared cores, cold cache
/// included: the first run downloads and unpacks the kernel).
pub const BOOT_BOUND: Duration = Duration::from_secs(240);

/// A port forward: host 127.0.0.1:`host` → guest:`guest`.
#[derive(Debug, Clone, Copy)]
pub enum Forward {
    /// TCP.
    Tcp(u16, u16),
    /// UDP.
    Udp(u16, u16),
}

/// One guest at a time: QEMU's TCG takes a whole core, and this machine has two.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A booted guest.
pub struct Vm {
    _turn: MutexGuard<'static, ()>,
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every console line so far.
    pub log: Vec<String>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Vm {
    /// Boots a guest that runs `tests/vm/cases/<case>` with `args`, with the periscope
    /// binary at /usr/bin/periscope and the forwards and environment given.
    pub fn boot(case: &str, args: &[&str], forwards: &[Forward], env: &[(&str, &str)]) -> Vm {
        Vm::boot_with_files(case, args, forwards, env, &[])
    }

    /// [`Vm::boot`], also copying each host path of `files` (a file or a directory) to its
    /// guest path (run.sh's `--file SRC:DEST`).
    pub fn boot_with_files(
        case: &str,
        args: &[&str],
        forwards: &[Forward],
        env: &[(&str, &str)],
        files: &[(&std::path::Path, &str)],
    ) -> Vm {
        // A test that failed while holding the lock poisons it; the next guest may still run.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let root = repo();
        let mut cmd = Command::new("bash");
        cmd.arg(root.join("tests/vm/run.sh"));
        cmd.arg("--timeout").arg("600");
        cmd.arg("--file").arg(format!(
            "{}:/usr/bin/periscope",
            env!("CARGO_BIN_EXE_periscope")
        ));
        cmd.arg("--file")
            .arg(format!("{}:/cases", root.join("tests/vm/cases").display()));
        for (src, dest) in files {
            cmd.arg("--file").arg(format!("{}:{dest}", src.display()));
        }
        for f in forwards {
            match f {
                Forward::Tcp(h, g) => cmd.arg("--port").arg(format!("tcp:{h}:{g}")),
                Forward::Udp(h, g) => cmd.arg("--port").arg(format!("udp:{h}:{g}")),
            };
        }
        for (k, v) in env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.arg("--").arg(format!("/cases/{case}")).args(args);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null());
        // Its own process group, so dropping the Vm stops QEMU too.
        cmd.process_group(0);
        let mut child = cmd.spawn().expect("start tests/vm/run.sh");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("vm| {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Vm {
            _turn: turn,
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a console line containing `marker`; returns it. Panics (with the console
    /// so far) after `bound` or if the guest ends first.
    pub fn wait_for(&mut self, marker: &str, bound: Duration) -> String {
        let end = Instant::now() + bound;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(marker) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no {marker:?} from the guest within {bound:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok().and_then(|s| s.code());
                    panic!("the guest ended (status {status:?}) before printing {marker:?}");
                }
            }
        }
    }

    /// Waits for the guest script to end; returns its exit status.
    pub fn wait_exit(mut self, bound: Duration) -> i32 {
        let end = Instant::now() + bound;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.log.push(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Drain what the reader thread still holds.
                std::thread::sleep(Duration::from_millis(100));
                while let Ok(line) = self.lines.try_recv() {
                    self.log.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < end,
                "the guest did not finish within {bound:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM to the runner's group: its trap stops QEMU.
            let _ = Command::new("kill")
                .arg("--")
                .arg(format!("-{}", self.child.id()))
                .status();
            let _ = self.child.wait();
        }
    }
}
