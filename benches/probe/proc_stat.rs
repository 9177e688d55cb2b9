//! A process's or a thread's CPU time from procfs, for the bench programs (`benches/fanout.rs`
//! and the loop experiments through `benches/probe/common.rs`).

/// /proc/PID/stat times are in USER_HZ, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

/// utime + stime of `/proc/{path}/stat`, in seconds: `path` is a PID, `self`, or a thread as
/// `self/task/TID`. 0 when the file cannot be read.
pub fn cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{path}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14, stime 15: indices 11 and 12 after ')'.
    (tick(11) + tick(12)) / USER_HZ
}
