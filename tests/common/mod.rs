//! Helpers shared by the integration tests: run the real binary, check clean errors, read run
//! directories, interrupt runs with real signals.
#![allow(dead_code)] // each test file uses its own subset

use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `elu-lab` binary, run from the repository root.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_elu-lab"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs the binary with `args` and waits for it.
pub fn elu_lab(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// (stdout, stderr) as text.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A clean failure: non-zero exit, an `error:` line mentioning every needle, and no panic.
pub fn assert_clean_error(o: &Output, needles: &[&str]) -> String {
    let (out, err) = text(o);
    assert!(!o.status.success(), "expected failure, got success\nstdout: {out}\nstderr: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "panic instead of an error:\n{err}");
    assert!(err.starts_with("error: "), "stderr should start with an error line:\n{err}");
    for needle in needles {
        assert!(err.contains(needle), "stderr should mention {needle:?}:\n{err}");
    }
    err
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Runs `args` (`&str`s or `String`s) and asserts success.
pub fn run_ok<A: AsRef<OsStr> + Debug>(args: &[A]) -> Output {
    let o = bin().args(args).output().expect("the binary runs");
    assert!(o.status.success(), "{args:?} failed: {:?}", text(&o));
    o
}

/// Rows of history.csv (without the header); 0 if it does not exist yet.
pub fn csv_rows(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("history.csv")).map_or(0, |t| t.lines().count().saturating_sub(1))
}

/// Polls until `ready()` holds (or fails if the child exits first or 5 minutes pass).
pub fn wait_until(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before {what}");
        assert!(start.elapsed() < Duration::from_secs(300), "no {what} after 5 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the binary with `args` (`&str`s or `String`s), output captured.
pub fn spawn<A: AsRef<OsStr>>(args: &[A]) -> Child {
    bin().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary starts")
}

/// Sends `sig` (e.g. "-INT") to the child.
pub fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill runs");
    assert!(st.success(), "kill {sig} failed");
}

/// Every regular file of `dir` with its bytes, sorted by name.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}
