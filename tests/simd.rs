//! Integration tests of the run-time instruction-set choice: every level the processor supports
//! trains to the same numbers (within the tolerance docs/RELIABILITY.md states), each is
//! deterministic across thread counts, and `ELU_LAB_SIMD` is honoured or rejected clearly.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use elu_lab::kernels::simd::Level;

/// Runs the binary with `args` and `ELU_LAB_SIMD` set to `simd` (removed when `None`).
fn elu_lab_simd(args: &[&str], simd: Option<&str>) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    match simd {
        Some(level) => cmd.env("ELU_LAB_SIMD", level),
        None => cmd.env_remove("ELU_LAB_SIMD"),
    };
    cmd.output().expect("the binary runs")
}

/// history.json without the wall-clock times, after a short run at `level` on `threads`.
fn history(level: Level, threads: &str, dir: &Path) -> serde_json::Value {
    let out = dir.join(format!("{}-{threads}", level.name()));
    let args = [
        "train",
        "--limit",
        "1000",
        "--epochs",
        "2",
        "--seed",
        "5",
        "--verbose",
        "0",
        "--threads",
        threads,
        "--out",
        s(&out),
    ];
    let o = elu_lab_simd(&args, Some(level.name()));
    assert!(o.status.success(), "{level}: {:?}", text(&o));
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("epoch_seconds");
    v.as_object_mut().unwrap().remove("train_seconds");
    v
}

#[test]
fn every_supported_level_trains_to_the_same_numbers_and_threads_do_not_change_a_bit() {
    let d = tempfile::tempdir().unwrap();
    let levels = Level::supported();
    let runs: Vec<serde_json::Value> = levels
        .iter()
        .map(|&level| {
            let one = history(level, "1", d.path());
            assert_eq!(one, history(level, "2", d.path()), "{level}: --threads 1 and 2 differ");
            one
        })
        .collect();
    // The stated tolerance across levels: losses within 1e-4 relative, accuracies within 0.005.
    let (base, best) = (&runs[0], runs.last().unwrap());
    let mut largest = 0.0f64;
    for key in ["loss", "val_loss", "accuracy", "val_accuracy"] {
        let (a, b) = (base[key].as_array().unwrap(), best[key].as_array().unwrap());
        assert_eq!(a.len(), 2, "{key}: two epochs");
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            let diff = if key.contains("loss") { (x - y).abs() / x.abs() } else { (x - y).abs() };
            let bound = if key.contains("loss") { 1e-4 } else { 0.005 };
            largest = largest.max(diff);
            assert!(diff <= bound, "{key}: {x} on {} vs {y} on {}", levels[0], levels.last().unwrap());
        }
    }
    eprintln!("levels {levels:?}: largest difference between the lowest and the best {largest:e}");
}

#[test]
fn the_variable_picks_the_level_and_a_bad_value_is_a_clear_error() {
    let o = elu_lab_simd(&["info"], None);
    let (out, _) = text(&o);
    assert!(o.status.success() && out.contains(&format!("simd: {}", Level::detect().name())), "{out}");

    let o = elu_lab_simd(&["info"], Some("baseline"));
    let (out, _) = text(&o);
    assert!(o.status.success() && out.contains("simd: baseline\n"), "{out}");

    let o = elu_lab_simd(&["bench", "--steps", "1", "--gemm-size", "0", "--threads", "1"], Some("baseline"));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.lines().next().unwrap().ends_with("simd: baseline"), "{out}");

    for bad in ["sse9", "avx1024"] {
        let o = elu_lab_simd(&["train", "--epochs", "1", "--limit", "100"], Some(bad));
        let (_, err) = text(&o);
        assert!(!o.status.success() && !err.contains("panicked"), "{err}");
        assert!(err.contains("error: invalid ELU_LAB_SIMD") && err.contains(bad) && err.contains("hint:"), "{err}");
    }
    // A level this processor lacks (none on an AVX-512 machine) is an error, not a crash.
    for level in Level::ALL.into_iter().filter(|l| !l.is_supported()) {
        let o = elu_lab_simd(&["info"], Some(level.name()));
        let (_, err) = text(&o);
        assert!(!o.status.success() && err.contains("cannot run"), "{level}: {err}");
    }
}
