//! A simulated CH9329 on a pseudo-terminal, written from the documented protocol
//! (shared/design/hardware-notes.md 4.1) and not from `periscope::hid::ch9329::proto`: its own
//! frame cutting and checksum. The code under test opens the pty's slave (`/dev/pts/N`) as if
//! it were the chip's serial port; a thread here reads the master side and answers.
//!
//! It keeps a real chip's state (last keyboard and mouse reports, LED bits, the USB-enumerated
//! flag, the 50-byte config with its baud rate) and records every valid frame. Faults: answer
//! the next request with garbage; stop answering until RESET (as after a target reboot), also
//! ignoring the first few RESETs. Speed: the slave's termios speed (read with TCGETS2) must
//! equal the chip's baud, else bytes are not understood and nothing is answered.
#![allow(dead_code)]

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{self, OptionalActions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The version byte GET_INFO reports.
pub const SIM_VERSION: u8 = 0x30;
/// How long `wait_for` waits before failing the test.
pub const WAIT_BOUND: Duration = Duration::from_secs(15);

/// One valid frame the chip received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Command byte.
    pub cmd: u8,
    /// DATA bytes.
    pub data: Vec<u8>,
    /// When the simulator read it.
    pub at: Instant,
}

/// What a real chip would hold, plus the test's fault switches.
#[derive(Debug, Clone)]
pub struct ChipState {
    /// Every valid frame, in order (also those a hung chip ignored).
    pub received: Vec<Received>,
    /// Last keyboard report (8 bytes).
    pub keyboard: [u8; 8],
    /// Last absolute mouse DATA (7 bytes, from 0x02).
    pub mouse_abs: [u8; 7],
    /// Last relative mouse DATA (5 bytes, from 0x01).
    pub mouse_rel: [u8; 5],
    /// LED bits the "target" set: b0 Num, b1 Caps, b2 Scroll.
    pub leds: u8,
    /// USB enumerated by the "target".
    pub enumerated: bool,
    /// The stored parameter block (baud at bytes 3..7, big endian).
    pub config: [u8; 50],
    /// The speed the chip runs at now (the config's takes effect at RESET).
    pub baud: u32,
    /// Answer the next request with garbage.
    pub garbage_next: bool,
    /// Answer nothing until a RESET gets through.
    pub hung: bool,
    /// While hung, RESETs still to ignore.
    pub ignore_resets: usize,
    /// RESETs carried out.
    pub resets: usize,
    /// Bytes dropped because the port speed did not match.
    pub misunderstood: usize,
}

/// A factory-like parameter block at `baud`.
fn factory_config(baud: u32) -> [u8; 50] {
    let mut c = [0u8; 50];
    // Work mode, serial mode, address; baud; reserved; packet interval; VID 1a86; PID e129.
    c[..15].copy_from_slice(&[
        0x80, 0x80, 0x00, 0, 0, 0, 0, 0x08, 0x00, 0x00, 0x03, 0x86, 0x1A, 0x29, 0xE1,
    ]);
    c[3..7].copy_from_slice(&baud.to_be_bytes());
    c[19] = 0x00;
    c[20] = 0x0D;
    c
}

fn sum(bytes: &[u8]) -> u8 {
    let mut s: u32 = 0;
    for b in bytes {
        s += u32::from(*b);
    }
    (s % 256) as u8
}

fn reply_frame(cmd: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x57, 0xAB, 0x00, cmd, data.len() as u8];
    f.extend_from_slice(data);
    f.push(sum(&f));
    f
}

impl ChipState {
    fn new(baud: u32) -> ChipState {
        ChipState {
            received: Vec::new(),
            keyboard: [0; 8],
            mouse_abs: [0; 7],
            mouse_rel: [0; 5],
            leds: 0,
            enumerated: true,
            config: factory_config(baud),
            baud,
            garbage_next: false,
            hung: false,
            ignore_resets: 0,
            resets: 0,
            misunderstood: 0,
        }
    }

    /// The command bytes received, in order.
    pub fn commands(&self) -> Vec<u8> {
        self.received.iter().map(|r| r.cmd).collect()
    }

    /// The keyboard reports received, in order.
    pub fn keyboard_reports(&self) -> Vec<Vec<u8>> {
        self.frames(0x02)
    }

    /// DATA of every frame with command `cmd`.
    pub fn frames(&self, cmd: u8) -> Vec<Vec<u8>> {
        self.received
            .iter()
            .filter(|r| r.cmd == cmd)
            .map(|r| r.data.clone())
            .collect()
    }

    /// The baud rate in the stored config.
    pub fn config_baud(&self) -> u32 {
        u32::from_be_bytes([
            self.config[3],
            self.config[4],
            self.config[5],
            self.config[6],
        ])
    }

    /// Handles one valid frame; returns the bytes to answer with (empty: silence).
    fn handle(&mut self, cmd: u8, data: &[u8]) -> Vec<u8> {
        self.received.push(Received {
            cmd,
            data: data.to_vec(),
            at: Instant::now(),
        });
        if self.hung {
            if cmd != 0x0F {
                return Vec::new();
            }
            if self.ignore_resets > 0 {
                self.ignore_resets -= 1;
                return Vec::new();
            }
            self.hung = false;
        }
        let reply = self.execute(cmd, data);
        if std::mem::take(&mut self.garbage_next) {
            // Noise, then a frame whose checksum is off by one.
            let mut g = vec![0xDE, 0xAD];
            let mut f = reply_frame(cmd | 0x80, &[0x00]);
            if let Some(last) = f.last_mut() {
                *last = last.wrapping_add(1);
            }
            g.extend(f);
            return g;
        }
        reply
    }

    fn execute(&mut self, cmd: u8, data: &[u8]) -> Vec<u8> {
        let ok = |d: &[u8]| reply_frame(cmd | 0x80, d);
        let refuse = |status: u8| reply_frame(cmd | 0xC0, &[status]);
        match cmd {
            0x01 => ok(&[
                SIM_VERSION,
                u8::from(self.enumerated),
                self.leds,
                0,
                0,
                0,
                0,
                0,
            ]),
            0x02 if data.len() == 8 => {
                self.keyboard.copy_from_slice(data);
                ok(&[0x00])
            }
            0x03 if (2..=4).contains(&data.len()) => ok(&[0x00]),
            0x04 if data.len() == 7 && data[0] == 0x02 => {
                self.mouse_abs.copy_from_slice(data);
                ok(&[0x00])
            }
            0x05 if data.len() == 5 && data[0] == 0x01 => {
                self.mouse_rel.copy_from_slice(data);
                ok(&[0x00])
            }
            0x08 => ok(&self.config.clone()),
            0x09 if data.len() == 50 => {
                self.config.copy_from_slice(data);
                ok(&[0x00])
            }
            0x0F => {
                // Answered at the old speed; the chip restarts with its stored config.
                let r = ok(&[0x00]);
                self.baud = self.config_baud();
                self.keyboard = [0; 8];
                self.resets += 1;
                r
            }
            0x02 | 0x03 | 0x04 | 0x05 | 0x09 => refuse(0xE5),
            _ => refuse(0xE3),
        }
    }
}

/// A running simulated chip.
pub struct Ch9329Sim {
    path: PathBuf,
    state: Arc<Mutex<ChipState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ch9329Sim {
    /// A chip configured for `baud` on a new pty.
    pub fn start(baud: u32) -> Ch9329Sim {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)
            .expect("open a pty master");
        rustix::pty::grantpt(&master).expect("grantpt");
        rustix::pty::unlockpt(&master).expect("unlockpt");
        let name = rustix::pty::ptsname(&master, Vec::new()).expect("ptsname");
        let path = PathBuf::from(name.to_str().expect("pts path is UTF-8"));
        // Held open for the sim's life: the port under test may close and reopen.
        let slave = rustix::fs::open(
            &path,
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the pty slave");
        let mut t = termios::tcgetattr(&slave).expect("tcgetattr");
        t.make_raw();
        termios::tcsetattr(&slave, OptionalActions::Now, &t).expect("raw mode");
        let state = Arc::new(Mutex::new(ChipState::new(baud)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("ch9329-sim".into())
                .spawn(move || serve(master, slave, state, stop))
                .expect("sim thread")
        };
        Ch9329Sim {
            path,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The port to open (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads or changes the chip's state.
    pub fn with<R>(&self, f: impl FnOnce(&mut ChipState) -> R) -> R {
        let mut s = self.state.lock().expect("sim state");
        f(&mut s)
    }

    /// A copy of the chip's state.
    pub fn state(&self) -> ChipState {
        self.with(|s| s.clone())
    }

    /// Forgets the frames received so far.
    pub fn clear_received(&self) {
        self.with(|s| s.received.clear());
    }

    /// The target sets its keyboard LEDs.
    pub fn set_leds(&self, num: bool, caps: bool, scroll: bool) {
        let bits = u8::from(num) | (u8::from(caps) << 1) | (u8::from(scroll) << 2);
        self.with(|s| s.leds = bits);
    }

    /// The target (un)enumerates the chip's USB device.
    pub fn set_enumerated(&self, on: bool) {
        self.with(|s| s.enumerated = on);
    }

    /// The next request gets garbage for an answer.
    pub fn garbage_next(&self) {
        self.with(|s| s.garbage_next = true);
    }

    /// Stops answering until a RESET gets through; the first `ignore_resets` do not.
    pub fn hang(&self, ignore_resets: usize) {
        self.with(|s| {
            s.hung = true;
            s.ignore_resets = ignore_resets;
        });
    }

    /// Waits (bounded by [`WAIT_BOUND`]) until `cond` holds; panics naming `what` if not.
    pub fn wait_for(&self, what: &str, cond: impl Fn(&ChipState) -> bool) -> ChipState {
        let end = Instant::now() + WAIT_BOUND;
        loop {
            let s = self.state();
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "sim: timed out waiting for {what}; received {:02X?}",
                s.commands()
            );
            // Polling shared state; bounded above.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Ch9329Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The sim thread: read the master, cut frames, answer.
fn serve(master: OwnedFd, slave: OwnedFd, state: Arc<Mutex<ChipState>>, stop: Arc<AtomicBool>) {
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    };
    let mut rx: Vec<u8> = Vec::new();
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&tick)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => continue,
        }
        let n = match rustix::io::read(&master, &mut buf) {
            Ok(n) => n,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let speed = termios::tcgetattr(&slave)
            .map(|t| t.output_speed())
            .unwrap_or(0);
        let mut s = state.lock().expect("sim state");
        if speed != s.baud {
            // Wrong speed on the wire: noise to the chip.
            s.misunderstood += n;
            rx.clear();
            continue;
        }
        rx.extend_from_slice(&buf[..n]);
        let out = cut_frames(&mut rx, &mut s);
        drop(s);
        if !out.is_empty() {
            let _ = rustix::io::write(&master, &out);
        }
    }
}

/// Takes every complete frame off the front of `rx`; returns the answers.
fn cut_frames(rx: &mut Vec<u8>, s: &mut ChipState) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        match rx.windows(2).position(|w| w[0] == 0x57 && w[1] == 0xAB) {
            Some(i) => {
                rx.drain(..i);
            }
            None => {
                let keep = usize::from(rx.last() == Some(&0x57));
                let cut = rx.len() - keep;
                rx.drain(..cut);
                return out;
            }
        }
        if rx.len() < 5 {
            return out;
        }
        let len = usize::from(rx[4]);
        if len > 64 {
            rx.drain(..2);
            continue;
        }
        if rx.len() < len + 6 {
            return out;
        }
        let frame: Vec<u8> = rx.drain(..len + 6).collect();
        let (addr, cmd) = (frame[2], frame[3]);
        let data = &frame[5..5 + len];
        if sum(&frame[..5 + len]) != frame[5 + len] {
            out.extend(reply_frame(cmd | 0xC0, &[0xE4]));
            continue;
        }
        if addr != 0x00 && addr != 0xFF {
            continue;
        }
        out.extend(s.handle(cmd, data));
    }
}
