//! Run directories: never overwritten, never shared by two writers, never mixed with other
//! data on resume; all through the real `elu-lab` binary.

mod common;

use common::*;

/// A quick run into `out` (800 training, 200 validation images).
fn quick<'a>(out: &'a str, epochs: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["train", "--limit", "1000", "--batch-size", "100", "--verbose", "0", "--epochs", epochs, "--out", out];
    args.extend_from_slice(more);
    args
}

#[test]
fn an_existing_run_is_never_overwritten_and_overwrite_moves_it_aside() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    run_ok(&quick(s(&run), "1", &["--seed", "7"]));
    let before = common::snapshot(&run);
    let o = elu_lab(&quick(s(&run), "1", &["--seed", "3", "--activation", "relu"]));
    assert_clean_error(&o, &[s(&run), "already holds a run", "--resume", "--overwrite"]);
    assert_eq!(common::snapshot(&run), before, "the refused command changed the old run");
    // --overwrite: the old run is moved aside whole, the new one starts afresh.
    let o = run_ok(&["train", "--limit", "1000", "--epochs", "1", "--seed", "3", "--out", s(&run), "--overwrite"]);
    let (out, _) = text(&o);
    assert!(out.contains("Moved the earlier run"), "{out}");
    let aside: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("run.replaced-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(common::snapshot(&aside[0]), before, "the moved run is intact");
    assert!(std::fs::read_to_string(run.join("config.toml")).unwrap().contains("seed = 3"));
    assert_clean_error(&elu_lab(&["train", "--overwrite", "--epochs", "1"]), &["--overwrite", "needs --out"]);
}

#[test]
fn runs_started_together_get_directories_of_their_own() {
    let d = tempfile::tempdir().unwrap();
    let start = |lr: &str| {
        common::bin()
            .current_dir(d.path())
            .args(["train", "--limit", "1000", "--epochs", "1", "--verbose", "0", "--lr", lr])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| start("0.001"));
        let b = sc.spawn(|| start("0.01"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success(), "{:?} {:?}", text(&a), text(&b));
    let runs: Vec<_> = std::fs::read_dir(d.path().join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert!(r.join("summary.json").is_file(), "{} is incomplete", r.display());
    }
}

#[test]
fn a_second_writer_is_refused_naming_the_first() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let mut child = spawn(&quick(s(&run), "40", &[]));
    wait_until(&mut child, "the run's lock", || run.join(".lock").is_file());
    let pid = child.id().to_string();
    // Another run into the same directory, and a resume of it while it runs.
    assert_clean_error(&elu_lab(&quick(s(&run), "1", &[])), &[s(&run), "already holds a run"]);
    assert_clean_error(&elu_lab(&["train", "--resume", s(&run)]), &[s(&run), "in use by process", &pid]);
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{:?}", text(&o));
    assert!(!run.join(".lock").exists(), "the lock goes when its holder ends");
}

#[test]
fn a_stale_lock_of_a_killed_run_does_not_block_its_resume() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let mut child = spawn(&quick(s(&run), "40", &[]));
    wait_until(&mut child, "one epoch", || csv_rows(&run) >= 1);
    signal(&child, "-KILL");
    child.wait().unwrap();
    assert!(run.join(".lock").is_file(), "SIGKILL leaves the lock behind");
    // The resume finishes the run (shortened: resuming takes its epochs from config.toml).
    let o = elu_lab(&["train", "--resume", s(&run), "--verbose", "0"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(run.join("summary.json").is_file() && !run.join(".lock").exists());
}

/// Copies the bundled MNIST into `dir` (so a test may change it).
fn copy_mnist(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "gz") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn resume_refuses_changed_data_and_finds_relative_data_from_anywhere() {
    let d = tempfile::tempdir().unwrap();
    copy_mnist(&d.path().join("data"));
    let run = d.path().join("run");
    // A relative --data path, given from the temporary directory.
    let args = quick(s(&run), "30", &["--data", "data"]);
    let mut child =
        common::bin().current_dir(d.path()).args(&args).stdout(std::process::Stdio::null()).spawn().unwrap();
    wait_until(&mut child, "one epoch", || csv_rows(&run) >= 1);
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains(&format!("dir = \"{}\"", s(&d.path().join("data").canonicalize().unwrap()))), "{config}");
    // Change a data file: the resume is refused, naming it, and the run is untouched.
    let labels = d.path().join("data/t10k-labels-idx1-ubyte.gz");
    let good = std::fs::read(&labels).unwrap();
    let other = std::fs::read(d.path().join("data/train-labels-idx1-ubyte.gz")).unwrap();
    std::fs::write(&labels, &other).unwrap();
    let before = common::snapshot(&run);
    let o = elu_lab(&["train", "--resume", s(&run)]);
    assert_clean_error(&o, &["data of the run", "changed", "t10k-labels-idx1-ubyte.gz"]);
    assert_eq!(common::snapshot(&run), before);
    // With the data restored, the resume works from another working directory (the repository).
    std::fs::write(&labels, &good).unwrap();
    let o = elu_lab(&["train", "--resume", s(&run), "--verbose", "0"]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn a_second_interrupt_ends_at_once_leaving_no_temporary_files() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let mut child = spawn(&quick(s(&run), "40", &["--diagnostics"]));
    wait_until(&mut child, "one epoch", || csv_rows(&run) >= 1);
    signal(&child, "-INT");
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{:?}", text(&o));
    for e in std::fs::read_dir(&run).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp") && !name.ends_with(".tmp.png"), "temporary file left: {name}");
    }
    // The run resumes from its last checkpoint.
    let o = elu_lab(&["train", "--resume", s(&run), "--verbose", "0"]);
    assert!(o.status.success(), "{:?}", text(&o));
}
