//! gpio-watch: reports the transitions of a 0/1 sysfs value file, for the GPIO tests on the
//! QEMU bench (gpio-sim's `sim_gpioN/value`, see tests/vm/cases/gpiosim-lib.sh, or a
//! `/sys/class/gpio/gpioN/value`). A test tool, built only with the `vm-bench` feature.
//!
//!   gpio-watch PATH [--transitions N] [--timeout S]
//!
//! Reads PATH (pread at offset 0, which makes sysfs call the attribute's show() again) every
//! ~200 µs plus the read's own cost, and prints one line per change of its value:
//! `t_ms=<CLOCK_MONOTONIC in ms, 3 decimals> value=<0|1>`, flushed at once. Once the first
//! value is read it prints `gpio-watch: PATH: value=V, watching` on stderr (the marker a script
//! waits for before it drives the line). Exits 0 after N transitions (`--transitions`), 1 when
//! the timeout (`--timeout`, seconds, decimals allowed) passes first, 2 on a usage or I/O
//! error or content other than 0/1 (an empty read, a regular file being rewritten, is skipped).
//! Without either option it runs until killed. A transition is timed when the read that saw it
//! returned: with the sleep, at most ~1 ms late on an idle machine (more in a TCG guest with a
//! busy vCPU). /proc/uptime counts CLOCK_BOOTTIME, which equals CLOCK_MONOTONIC in a VM that
//! never suspends, so guest shell timings can be compared to the stamps.
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: gpio-watch PATH [--transitions N] [--timeout SECONDS]";
const POLL: Duration = Duration::from_micros(200);

struct Args {
    path: String,
    transitions: Option<u64>,
    timeout: Option<Duration>,
}

fn main() {
    let code = match parse_args(std::env::args().skip(1)).and_then(|a| watch(&a)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gpio-watch: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut path, mut transitions, mut timeout) = (None, None, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--transitions" => {
                let v = it
                    .next()
                    .ok_or(format!("--transitions needs a value\n{USAGE}"))?;
                let n = v
                    .parse::<u64>()
                    .map_err(|_| format!("--transitions {v}: not a count\n{USAGE}"))?;
                transitions = Some(n);
            }
            "--timeout" => {
                let v = it
                    .next()
                    .ok_or(format!("--timeout needs a value\n{USAGE}"))?;
                let s = v
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or(format!("--timeout {v}: not a number of seconds\n{USAGE}"))?;
                timeout = Some(s);
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ if a.starts_with('-') => return Err(format!("unknown option {a}\n{USAGE}")),
            _ if path.is_none() => path = Some(a),
            _ => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    Ok(Args {
        path: path.ok_or(USAGE)?,
        transitions,
        timeout,
    })
}

/// Polls until N transitions (Ok(0)) or the timeout (Ok(1)); Err on I/O errors.
fn watch(args: &Args) -> Result<i32, String> {
    let path = &args.path;
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut buf = [0u8; 32];
    // None: the file is empty, as a regular file is for a moment while `echo 1 > FILE`
    // rewrites it (never a sysfs attribute): the sample is skipped.
    let mut read = || -> Result<Option<u8>, String> {
        let n = file
            .read_at(&mut buf, 0)
            .map_err(|e| format!("{path}: read: {e}"))?;
        match buf[..n].trim_ascii() {
            b"" => Ok(None),
            b"0" => Ok(Some(0)),
            b"1" => Ok(Some(1)),
            other => Err(format!(
                "{path}: expected 0 or 1, read {:?}",
                String::from_utf8_lossy(other)
            )),
        }
    };
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let mut last = None;
    let mut out = std::io::stdout().lock();
    let mut seen = 0u64;
    loop {
        if args.transitions.is_some_and(|n| seen >= n) {
            return Ok(0);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            eprintln!("gpio-watch: {path}: timeout after {seen} transition(s)");
            return Ok(1);
        }
        let Some(value) = read()? else {
            std::thread::sleep(POLL);
            continue;
        };
        if last.is_none() {
            eprintln!("gpio-watch: {path}: value={value}, watching");
        } else if last != Some(value) {
            let t_ms = monotonic_ms()?;
            writeln!(out, "t_ms={t_ms:.3} value={value}")
                .and_then(|()| out.flush())
                .map_err(|e| format!("stdout: {e}"))?;
            seen += 1;
        }
        last = Some(value);
        std::thread::sleep(POLL);
    }
}

/// CLOCK_MONOTONIC in milliseconds (std's Instant reads the same clock but hides its value).
fn monotonic_ms() -> Result<f64, String> {
    use std::ffi::{c_int, c_long};
    // struct timespec on Linux: time_t is a C long (glibc and musl, 32- and 64-bit ABIs).
    #[repr(C)]
    struct Timespec {
        tv_sec: c_long,
        tv_nsec: c_long,
    }
    extern "C" {
        fn clock_gettime(clock: c_int, tp: *mut Timespec) -> c_int;
    }
    const CLOCK_MONOTONIC: c_int = 1;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable struct timespec for the duration of the call.
    if unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) } != 0 {
        return Err(format!(
            "clock_gettime: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6)
}
