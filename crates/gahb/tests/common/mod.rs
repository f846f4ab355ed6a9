//! Helpers shared by the tests that run the `gahb` binary (`cli_inputs.rs`, `commands.rs`).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The binary with `args` in `dir` (also its `GAHB_ROOT`), without backtraces, not yet run.
pub fn command(args: &[&str], dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gahb"));
    c.args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env("GAHB_ROOT", dir);
    c
}

/// Runs the binary with `args` in `dir`.
pub fn gahb(args: &[&str], dir: &Path) -> Output {
    command(args, dir).output().expect("the gahb binary runs")
}

/// A run's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error line of a failed run: exit code 1 (not a signal), exactly one `error:` line, no panic.
pub fn error_line(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit code 1: {err}");
    assert!(
        !err.contains("panicked"),
        "panic instead of an error: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    lines[0].to_string()
}
