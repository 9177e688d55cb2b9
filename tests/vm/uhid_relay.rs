//! uhid-relay: a USB HID relay board emulated through /dev/uhid, for the QEMU bench
//! (tests/vm/cases/uhid-relay-smoke.sh). The kernel makes a real /dev/hidrawN of it, so a relay
//! driver talks to it exactly as to the board. A test tool, built only with the `vm-bench`
//! feature.
//!
//!   uhid-relay [--vusb] [--serial S] [--channels N] [--log FILE]
//!   uhid-relay --probe-feature /dev/hidrawN HEX...     (HIDIOCSFEATURE with those bytes)
//!   uhid-relay --probe-get /dev/hidrawN [REPORT=1] [LEN=8]   (HIDIOCGFEATURE, prints the bytes)
//!
//! Boards (N channels, 1..=8, default 2):
//! - default: an LCUS-type relay, USB 5131:2007, name "LCUS relay". The host writes 4 raw
//!   bytes to the hidraw node: `A0 CH STATE SUM` (CH 1-based, STATE 1 on / 0 off,
//!   SUM = A0+CH+STATE mod 256). Report descriptor: vendor page, one 4-byte output report,
//!   no report ID. `--serial` sets the HID uniq (the USB serial string), empty by default.
//! - `--vusb`: a V-USB "USBRelay" board (www.dcttech.com firmware), USB 16c0:05df, name
//!   "USBRelayN". The real firmware's descriptor: vendor page, one 8-byte feature report, no
//!   report ID. SET_REPORT data `FF n` = relay n on, `FD n` off, `FE` all on, `FC` all off,
//!   `FA s0..s4` sets the serial; GET_REPORT (any number) answers 8 bytes: the serial (ASCII,
//!   5 bytes, `--serial`, default "PSCP1"), two zero bytes, the ON bitmask (bit 0 = relay 1).
//!   The firmware takes the same commands from output reports (`hid_write` in usbrelay).
//!
//! A leading 0x00 byte of a report the host sends is dropped before the command is read, as
//! usbhid does for a device without report IDs (hidapi's "report number 0" convention).
//!
//! Prints (on stdout and appended to `--log`, one write per line) `ready hidraw=/dev/hidrawN`
//! once the kernel made the node, then for every report the host sends: `out: A0 01 01 A2`
//! (output report, e.g. a write() to the hidraw node), `feature-set: FF 01` (SET_REPORT of a
//! feature report; `output-set:`/`input-set:` for the other types), `get: feature 01 -> BYTES`
//! (GET_REPORT answered; `-> error` when refused), `bad: ...` for a report it ignored, and
//! `state: XX` (the ON bitmask, hex) after each change. Runs until SIGTERM/SIGINT: destroys the
//! device and exits 0. Errors: a message on stderr, exit 2.
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

// linux/uhid.h: event types, report types, sizes (the structs are packed).
const UHID_DESTROY: u32 = 1;
const UHID_START: u32 = 2;
const UHID_OUTPUT: u32 = 6;
const UHID_GET_REPORT: u32 = 9;
const UHID_GET_REPORT_REPLY: u32 = 10;
const UHID_CREATE2: u32 = 11;
const UHID_SET_REPORT: u32 = 13;
const UHID_SET_REPORT_REPLY: u32 = 14;
const UHID_FEATURE_REPORT: u8 = 0;
const UHID_OUTPUT_REPORT: u8 = 1;
const UHID_DATA_MAX: usize = 4096;
/// sizeof(struct uhid_event): the u32 type + the largest member (uhid_create2_req).
const UHID_EVENT_SIZE: usize = 4 + 128 + 64 + 64 + 2 + 2 + 4 * 4 + 4096;
const BUS_USB: u16 = 3;
const EIO: u16 = 5;

/// LCUS relay: Usage Page (Vendor 0xFF00), Usage 1, Collection (Application), Logical 0..255,
/// Report Size 8, Report Count 4, Usage 1, Output (Data,Var,Abs), End Collection.
const LCUS_DESCRIPTOR: &[u8] = &[
    0x06, 0x00, 0xff, 0x09, 0x01, 0xa1, 0x01, 0x15, 0x00, 0x26, 0xff, 0x00, 0x75, 0x08, 0x95, 0x04,
    0x09, 0x01, 0x91, 0x02, 0xc0,
];
/// V-USB USBRelay firmware: Usage Page (Vendor 0xFF00), Usage 1, Collection (Application),
/// Logical 0..255, Report Size 8, Report Count 8, Usage 0, Feature (Data,Var,Abs,Buf),
/// End Collection.
const VUSB_DESCRIPTOR: &[u8] = &[
    0x06, 0x00, 0xff, 0x09, 0x01, 0xa1, 0x01, 0x15, 0x00, 0x26, 0xff, 0x00, 0x75, 0x08, 0x95, 0x08,
    0x09, 0x00, 0xb2, 0x02, 0x01, 0xc0,
];

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--probe-feature") => probe_feature(&args[1..]),
        Some("--probe-get") => probe_get(&args[1..]),
        _ => parse(&args).and_then(run),
    };
    if let Err(e) = result {
        eprintln!("uhid-relay: {e}");
        std::process::exit(2);
    }
}

const USAGE: &str = "usage: uhid-relay [--vusb] [--serial S] [--channels N] [--log FILE]\n       \
                     uhid-relay --probe-feature /dev/hidrawN HEX...\n       \
                     uhid-relay --probe-get /dev/hidrawN [REPORT=1] [LEN=8]";

struct Options {
    vusb: bool,
    serial: Option<String>,
    channels: u8,
    log: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        vusb: false,
        serial: None,
        channels: 2,
        log: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--vusb" => o.vusb = true,
            "--serial" => o.serial = Some(value()?),
            "--channels" => {
                let v = value()?;
                o.channels = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=8).contains(n))
                    .ok_or(format!("--channels {v}: 1 to 8"))?;
            }
            "--log" => o.log = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    if let Some(s) = &o.serial {
        let limit = if o.vusb { 5 } else { 63 };
        if s.is_empty() || s.len() > limit || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "--serial {s:?}: 1 to {limit} printable ASCII characters"
            ));
        }
    }
    Ok(o)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lines: stdout and the --log file, each line in one write.
struct Out {
    log: Option<(PathBuf, File)>,
}

impl Out {
    fn line(&mut self, s: &str) -> Result<(), String> {
        let line = format!("{s}\n");
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("stdout: {e}"))?;
        if let Some((path, f)) = &mut self.log {
            f.write_all(line.as_bytes())
                .and_then(|()| f.flush())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// The emulated board: its kind, serial and relay state.
struct Board {
    vusb: bool,
    channels: u8,
    serial: [u8; 5],
    state: u8,
}

impl Board {
    /// Applies a report the host sent (output or SET_REPORT); false if it was not a command.
    fn command(&mut self, data: &[u8]) -> bool {
        // usbhid sends a report of a device without report IDs without its leading 0 byte.
        let d = match data {
            [0, rest @ ..] => rest,
            _ => data,
        };
        let relay = |n: u8| (1..=self.channels).contains(&n).then(|| 1u8 << (n - 1));
        let all = (((1u16 << self.channels) - 1) & 0xff) as u8;
        if self.vusb {
            match d {
                [0xff, n, ..] => relay(*n).map(|m| self.state |= m).is_some(),
                [0xfd, n, ..] => relay(*n).map(|m| self.state &= !m).is_some(),
                [0xfe, ..] => {
                    self.state = all;
                    true
                }
                [0xfc, ..] => {
                    self.state = 0;
                    true
                }
                [0xfa, s @ ..] if s.len() >= 5 => {
                    self.serial.copy_from_slice(&s[..5]);
                    true
                }
                _ => false,
            }
        } else {
            match d {
                [0xa0, n, st @ (0 | 1), sum, ..]
                    if *sum == 0xa0u8.wrapping_add(*n).wrapping_add(*st) =>
                {
                    relay(*n)
                        .map(|m| {
                            if *st == 1 {
                                self.state |= m
                            } else {
                                self.state &= !m
                            }
                        })
                        .is_some()
                }
                _ => false,
            }
        }
    }

    /// The GET_REPORT answer, or None to refuse it (EIO).
    fn get_report(&self) -> Option<Vec<u8>> {
        if !self.vusb {
            return None;
        }
        let mut r = vec![0u8; 8];
        r[..5].copy_from_slice(&self.serial);
        r[7] = self.state;
        Some(r)
    }
}

fn event(kind: u32) -> Vec<u8> {
    let mut ev = vec![0u8; UHID_EVENT_SIZE];
    ev[..4].copy_from_slice(&kind.to_ne_bytes());
    ev
}

fn put_str(ev: &mut [u8], at: usize, cap: usize, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(cap - 1);
    ev[at..at + n].copy_from_slice(&b[..n]);
}

fn u16_at(ev: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([ev[at], ev[at + 1]])
}

fn u32_at(ev: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([ev[at], ev[at + 1], ev[at + 2], ev[at + 3]])
}

fn send(uhid: &mut File, ev: &[u8], what: &str) -> Result<(), String> {
    match uhid.write(ev) {
        Ok(n) if n == ev.len() => Ok(()),
        Ok(n) => Err(format!("/dev/uhid: short write of {what} ({n} bytes)")),
        Err(e) => Err(format!("/dev/uhid: {what}: {e}")),
    }
}

/// The hidraw node whose HID device has our phys (unique per process).
fn find_hidraw(phys: &str) -> Option<PathBuf> {
    let want = format!("HID_PHYS={phys}");
    for entry in std::fs::read_dir("/sys/class/hidraw").ok()?.flatten() {
        let uevent =
            std::fs::read_to_string(entry.path().join("device/uevent")).unwrap_or_default();
        if uevent.lines().any(|l| l == want) {
            let dev = Path::new("/dev").join(entry.file_name());
            if dev.exists() {
                return Some(dev);
            }
        }
    }
    None
}

fn install_signals() -> Result<(), String> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with a handler that only stores an atomic.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn run(o: Options) -> Result<(), String> {
    install_signals()?;
    let log = match &o.log {
        Some(p) => Some((
            p.clone(),
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let mut out = Out { log };
    let mut serial = [0u8; 5];
    let s = o.serial.clone().unwrap_or_else(|| "PSCP1".into());
    if o.vusb {
        serial[..s.len()].copy_from_slice(s.as_bytes());
    }
    let mut board = Board {
        vusb: o.vusb,
        channels: o.channels,
        serial,
        state: 0,
    };
    let mut uhid = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/uhid")
        .map_err(|e| format!("/dev/uhid: {e} (is the uhid module loaded?)"))?;

    let phys = format!("uhid-relay.{}/input0", std::process::id());
    let (name, uniq, vid, pid, rd) = if o.vusb {
        (
            format!("USBRelay{}", o.channels),
            String::new(),
            0x16c0,
            0x05df,
            VUSB_DESCRIPTOR,
        )
    } else {
        (
            "LCUS relay".to_string(),
            o.serial.clone().unwrap_or_default(),
            0x5131,
            0x2007,
            LCUS_DESCRIPTOR,
        )
    };
    // struct uhid_create2_req after the u32 type: name[128] phys[64] uniq[64] rd_size u16
    // bus u16 vendor u32 product u32 version u32 country u32 rd_data[4096].
    let mut ev = event(UHID_CREATE2);
    put_str(&mut ev, 4, 128, &name);
    put_str(&mut ev, 132, 64, &phys);
    put_str(&mut ev, 196, 64, &uniq);
    ev[260..262].copy_from_slice(&(rd.len() as u16).to_ne_bytes());
    ev[262..264].copy_from_slice(&BUS_USB.to_ne_bytes());
    ev[264..268].copy_from_slice(&(vid as u32).to_ne_bytes());
    ev[268..272].copy_from_slice(&(pid as u32).to_ne_bytes());
    ev[272..276].copy_from_slice(&0x0100u32.to_ne_bytes());
    ev[280..280 + rd.len()].copy_from_slice(rd);
    send(&mut uhid, &ev, "UHID_CREATE2")?;

    let result = serve(&mut uhid, &mut board, &mut out, &phys);
    let destroyed = send(&mut uhid, &event(UHID_DESTROY), "UHID_DESTROY");
    result.and(destroyed)
}

fn serve(uhid: &mut File, board: &mut Board, out: &mut Out, phys: &str) -> Result<(), String> {
    let created = Instant::now();
    let mut ready = false;
    let mut started = false;
    let mut buf = vec![0u8; UHID_EVENT_SIZE];
    while !STOP.load(Ordering::SeqCst) {
        if !ready && started {
            if let Some(dev) = find_hidraw(phys) {
                out.line(&format!("ready hidraw={}", dev.display()))?;
                ready = true;
            }
        }
        if !ready && created.elapsed() > Duration::from_secs(15) {
            return Err(format!("no hidraw node with HID_PHYS={phys} after 15 s"));
        }
        let mut pfd = libc::pollfd {
            fd: uhid.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Short timeouts: the signal flag is checked between polls.
        let timeout = if ready { 200 } else { 20 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll /dev/uhid: {e}"));
        }
        if n == 0 {
            continue;
        }
        let len = match uhid.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read /dev/uhid: {e}")),
        };
        if len < 4 {
            return Err(format!("read /dev/uhid: short event ({len} bytes)"));
        }
        let ev = &buf[..len];
        let u = 4; // the union after the u32 type
        match u32_at(ev, 0) {
            UHID_START => started = true,
            UHID_OUTPUT => {
                // struct uhid_output_req: data[4096] size u16 rtype u8
                let size = (u16_at(ev, u + UHID_DATA_MAX) as usize).min(UHID_DATA_MAX);
                let data = &ev[u..u + size];
                out.line(&format!("out: {}", hex(data)))?;
                apply(board, out, data)?;
            }
            UHID_GET_REPORT => {
                // struct uhid_get_report_req: id u32 rnum u8 rtype u8
                let id = u32_at(ev, u);
                let (rnum, rtype) = (ev[u + 4], ev[u + 5]);
                let mut reply = event(UHID_GET_REPORT_REPLY);
                // struct uhid_get_report_reply_req: id u32 err u16 size u16 data[4096]
                reply[u..u + 4].copy_from_slice(&id.to_ne_bytes());
                let answer = board.get_report();
                let text = match &answer {
                    Some(d) => {
                        reply[u + 6..u + 8].copy_from_slice(&(d.len() as u16).to_ne_bytes());
                        reply[u + 8..u + 8 + d.len()].copy_from_slice(d);
                        hex(d)
                    }
                    None => {
                        reply[u + 4..u + 6].copy_from_slice(&EIO.to_ne_bytes());
                        "error".to_string()
                    }
                };
                send(uhid, &reply, "UHID_GET_REPORT_REPLY")?;
                out.line(&format!("get: {} {rnum:02X} -> {text}", type_name(rtype)))?;
            }
            UHID_SET_REPORT => {
                // struct uhid_set_report_req: id u32 rnum u8 rtype u8 size u16 data[4096]
                let id = u32_at(ev, u);
                let rtype = ev[u + 5];
                let size = (u16_at(ev, u + 6) as usize).min(UHID_DATA_MAX);
                let data = ev[u + 8..u + 8 + size].to_vec();
                let mut reply = event(UHID_SET_REPORT_REPLY);
                // struct uhid_set_report_reply_req: id u32 err u16
                reply[u..u + 4].copy_from_slice(&id.to_ne_bytes());
                send(uhid, &reply, "UHID_SET_REPORT_REPLY")?;
                out.line(&format!("{}-set: {}", type_name(rtype), hex(&data)))?;
                apply(board, out, &data)?;
            }
            _ => {} // STOP, OPEN, CLOSE: nothing to do
        }
    }
    Ok(())
}

fn type_name(rtype: u8) -> &'static str {
    match rtype {
        UHID_FEATURE_REPORT => "feature",
        UHID_OUTPUT_REPORT => "output",
        _ => "input",
    }
}

fn apply(board: &mut Board, out: &mut Out, data: &[u8]) -> Result<(), String> {
    let before = board.state;
    if !board.command(data) {
        return out.line(&format!("bad: {}", hex(data)));
    }
    if board.state != before {
        out.line(&format!("state: {:02X}", board.state))?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------ probes
/// _IOC(_IOC_READ|_IOC_WRITE, 'H', nr, len): HIDIOCSFEATURE (6) / HIDIOCGFEATURE (7).
fn hidioc(nr: u64, len: usize) -> u64 {
    (3 << 30) | ((len as u64) << 16) | (0x48 << 8) | nr
}

fn open_hidraw(dev: &str) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .map_err(|e| format!("{dev}: {e}"))
}

fn parse_byte(s: &str) -> Result<u8, String> {
    u8::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|_| format!("{s}: not a hex byte"))
}

fn probe_feature(args: &[String]) -> Result<(), String> {
    let (dev, bytes) = args.split_first().ok_or(USAGE)?;
    let mut buf = bytes
        .iter()
        .map(|b| parse_byte(b))
        .collect::<Result<Vec<u8>, _>>()?;
    if buf.is_empty() || buf.len() > 4096 {
        return Err(format!("--probe-feature: 1 to 4096 bytes\n{USAGE}"));
    }
    let f = open_hidraw(dev)?;
    // SAFETY: the buffer is valid for the length encoded in the request.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), hidioc(6, buf.len()) as _, buf.as_mut_ptr()) };
    if rc < 0 {
        return Err(format!(
            "HIDIOCSFEATURE on {dev}: {}",
            std::io::Error::last_os_error()
        ));
    }
    println!("feature-sent: {rc} bytes");
    Ok(())
}

fn probe_get(args: &[String]) -> Result<(), String> {
    let dev = args.first().ok_or(USAGE)?;
    let report = args.get(1).map_or(Ok(1), |s| parse_byte(s))?;
    let len: usize = match args.get(2) {
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=4096).contains(n))
            .ok_or(format!("LEN {s}: 1 to 4096"))?,
        None => 8,
    };
    let mut buf = vec![0u8; len];
    buf[0] = report;
    let f = open_hidraw(dev)?;
    // SAFETY: the buffer is valid for the length encoded in the request.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), hidioc(7, len) as _, buf.as_mut_ptr()) };
    if rc < 0 {
        return Err(format!(
            "HIDIOCGFEATURE on {dev}: {}",
            std::io::Error::last_os_error()
        ));
    }
    println!("{}", hex(&buf[..(rc as usize).min(len)]));
    Ok(())
}
