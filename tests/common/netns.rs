//! Tests that need a network namespace of their own (`unshare --net`): the test binary
//! re-executes itself inside one, running only the named test with a marker variable set.
//! Used by tests/whip.rs (Janus gathers no loopback candidates) and tests/netem.rs (tc on
//! loopback).
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Whether `cmd args` runs and exits 0.
pub fn command_works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A missing piece: under CI (scripts/test installs everything) the test fails; elsewhere
/// it is skipped with the reason.
pub fn missing(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

/// Runs test `name` of this binary again inside a new network namespace with `marker=1`
/// (and `env`) set, prints its output and asserts that it passed.
pub fn run_inside(name: &str, marker: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(marker, "1")
        .envs(env.iter().copied())
        .output()
        .expect("run the test inside a network namespace");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} inside the namespace failed (output above)"
    );
}

/// Runs `ip`/`tc` style setup commands inside the namespace, each must succeed.
pub fn setup(steps: &[&[&str]]) {
    for step in steps {
        let ok = Command::new(step[0])
            .args(&step[1..])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{}", step.join(" "));
    }
}
