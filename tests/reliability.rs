//! Reliability: interrupted and resumed runs (driven by real signals), numerical faults,
//! determinism of the weights, and bad inputs, all through the real `elu-lab` binary.
//!
//! `docs/RELIABILITY.md` lists the guarantees these tests back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output};

use common::*;
use elu_lab::data::idx;
use elu_lab::model::{ModelSpec, Sequential};
use elu_lab::train::checkpoint::{self, Checkpoint};

/// The small, quick run every test here starts from (1600 training, 400 validation samples).
const QUICK: [&str; 8] = ["train", "--limit", "2000", "--batch-size", "100", "--verbose", "0", "--seed"];

fn quick(seed: &str, epochs: &str, out: &Path, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = QUICK.iter().map(|a| a.to_string()).collect();
    args.extend([seed, "--epochs", epochs, "--out", s(out)].map(String::from));
    args.extend(more.iter().map(|a| a.to_string()));
    args
}

/// The history without the wall-clock times.
fn numbers(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("history.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("epoch_seconds");
    v.as_object_mut().unwrap().remove("train_seconds");
    v
}

/// Test loss, test accuracy and best epoch from summary.json.
fn results(dir: &Path) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    (v["test_loss"].clone(), v["test_accuracy"].clone(), v["best_epoch"].clone())
}

/// Polls until history.csv has at least `rows` epochs (or the child has exited).
fn wait_for_epochs(child: &mut Child, dir: &Path, rows: usize) {
    wait_until(child, &format!("{rows} epochs"), || csv_rows(dir) >= rows);
}

/// The model of a run directory and its checkpoint.
fn checkpoint_of(dir: &Path) -> (Sequential, Checkpoint) {
    let spec = ModelSpec::load(&dir.join("model.toml")).unwrap();
    let model = Sequential::from_spec(&spec).unwrap();
    let ck = checkpoint::load_checkpoint(&dir.join("checkpoint.safetensors"), &model).unwrap();
    (model, ck)
}

/// No temporary files of atomic writes are left behind.
fn assert_no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.') && !name.ends_with(".tmp"), "temporary file left in {}: {name}", dir.display());
    }
}

/// Starts `args`, signals it with `sig` once `after` epochs are in history.csv, and checks
/// the clean interruption: status 130, a message naming --resume, and a valid history and
/// checkpoint of the finished epochs. Returns the checkpoint's epoch.
fn interrupt(args: &[String], dir: &Path, sig: &str, after: usize) -> usize {
    let mut child = spawn(args);
    wait_for_epochs(&mut child, dir, after);
    signal(&child, sig);
    let o = child.wait_with_output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(130), "interrupted run should exit with 130; stderr:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("interrupted") && err.contains(&format!("--resume {}", dir.display())), "{err}");
    let (model, ck) = checkpoint_of(dir);
    assert_eq!(ck.epoch, csv_rows(dir), "checkpoint and history.csv disagree");
    assert!(ck.epoch >= after, "checkpoint at epoch {} < {after}", ck.epoch);
    assert_eq!(ck.history.epochs(), ck.epoch);
    assert_eq!(ck.params.len(), model.param_count());
    assert!(ck.params.iter().all(|p| p.is_finite()));
    assert!(!dir.join("weights.safetensors").exists(), "an interrupted run has no final weights");
    assert_no_temp_files(dir);
    ck.epoch
}

/// The resumed run ends with the same history, test results and weights (bit for bit) as
/// the uninterrupted one.
fn assert_same_run(resumed: &Path, reference: &Path) {
    assert_eq!(numbers(resumed), numbers(reference), "history differs");
    assert_eq!(results(resumed), results(reference), "test results differ");
    let (a, b) = (
        std::fs::read(resumed.join("weights.safetensors")).unwrap(),
        std::fs::read(reference.join("weights.safetensors")).unwrap(),
    );
    assert!(a == b, "weights.safetensors differ");
    assert_no_temp_files(resumed);
}

fn interrupted_and_resumed_matches_uninterrupted(sig: &str) {
    let d = tempfile::tempdir().unwrap();
    let (reference, run) = (d.path().join("reference"), d.path().join("run"));
    run_ok(&quick("11", "6", &reference, &["--threads", "1", "--diagnostics"]));
    let epoch = interrupt(&quick("11", "6", &run, &["--threads", "2", "--diagnostics"]), &run, sig, 1);
    assert!(epoch < 6);
    // Resume with yet another thread count: only --threads and --verbose come from this command line.
    let o = run_ok(&["train", "--resume", s(&run), "--threads", "3", "--verbose", "2"].map(String::from));
    let (out, _) = text(&o);
    assert!(out.contains(&format!("Resuming {} after epoch {epoch}", run.display())), "{out}");
    assert!(out.contains(&format!("Epoch {}/6", epoch + 1)) && !out.contains(&format!("Epoch {epoch}/6")), "{out}");
    assert_same_run(&run, &reference);
    // The diagnostics too: every epoch's rows once, the same numbers (they do not depend on
    // the thread count either).
    let diagnostics = |dir: &Path| std::fs::read_to_string(dir.join("diagnostics.csv")).unwrap();
    assert_eq!(diagnostics(&run), diagnostics(&reference));
    assert_eq!(diagnostics(&run).lines().filter(|l| l.contains(",all,")).count(), 7, "epochs 0..=6");
    let (_, ck) = checkpoint_of(&run);
    assert_eq!(ck.epoch, 6);
}

#[test]
fn sigint_finishes_the_batch_saves_state_and_resume_matches_an_uninterrupted_run() {
    interrupted_and_resumed_matches_uninterrupted("-INT");
}

#[test]
fn sigterm_finishes_the_batch_saves_state_and_resume_matches_an_uninterrupted_run() {
    interrupted_and_resumed_matches_uninterrupted("-TERM");
}

/// Early stopping's state (best epoch, its val_loss and weights) survives an interruption
/// between the best epoch and the stop.
#[test]
fn early_stopping_state_survives_interrupt_and_resume() {
    let d = tempfile::tempdir().unwrap();
    let (reference, run) = (d.path().join("reference"), d.path().join("run"));
    let flags = ["--patience", "2", "--lr", "0.003"];
    run_ok(&quick("1", "15", &reference, &flags));
    let (_, _, best) = results(&reference);
    let best = best.as_u64().expect("a best epoch") as usize;
    let ran = csv_rows(&reference);
    assert!(ran < 15 && ran == best + 2, "the reference run should stop early: best epoch {best}, {ran} epochs");
    // Interrupt after the best epoch and before the stop: the checkpoint must carry the best.
    let epoch = interrupt(&quick("1", "15", &run, &flags), &run, "-INT", best + 1);
    assert_eq!(epoch, best + 1, "the interruption came too late to test anything");
    let (_, ck) = checkpoint_of(&run);
    let saved = &ck.callbacks["early_stopping"];
    assert_eq!(saved.json["best_epoch"].as_u64(), Some(best as u64 - 1), "epochs from 0 in the state");
    assert!(saved.tensor("best_weights").is_some(), "the checkpoint has the best weights");
    run_ok(&["train", "--resume", s(&run)].map(String::from));
    assert_same_run(&run, &reference);
    // Resuming a run that has stopped early trains no further.
    run_ok(&["train", "--resume", s(&run)].map(String::from));
    assert_same_run(&run, &reference);
}

/// TerminateOnNaN: a diverging run stops with the epoch and batch, keeps the last good checkpoint.
/// (Unit tests in `src/train/fit.rs` cover a fault after good epochs, and one at an epoch's end.)
#[test]
fn non_finite_loss_stops_naming_epoch_and_batch_and_keeps_the_last_good_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    // SGD with a learning rate this high diverges within a few batches.
    let o = bin().args(quick("1", "3", &run, &["--optimizer", "sgd", "--lr", "3"])).output().unwrap();
    let err = assert_clean_error(&o, &["became", "at epoch", ", batch ", "training stopped", "last good checkpoint"]);
    assert_eq!(o.status.code(), Some(1));
    // "... became NaN at epoch E, batch B; ..."
    let after = &err[err.find("at epoch ").unwrap() + 9..];
    let epoch: usize = after[..after.find(',').unwrap()].parse().unwrap();
    let after = &after[after.find("batch ").unwrap() + 6..];
    let batch: usize = after[..after.find(';').unwrap()].parse().unwrap();
    assert!((1..=3).contains(&epoch) && (1..=16).contains(&batch), "epoch {epoch}, batch {batch}");
    // The finished epochs are in the history and the checkpoint, whose weights are finite.
    assert_eq!(csv_rows(&run), epoch - 1);
    let (model, ck) = checkpoint_of(&run);
    assert_eq!(ck.epoch, epoch - 1);
    assert!(ck.params.iter().chain(&ck.optimizer.m).chain(&ck.optimizer.v).all(|p| p.is_finite()));
    assert!(ck.history.loss.iter().chain(&ck.history.val_loss).all(|l| l.is_finite()));
    if epoch == 1 {
        assert_eq!(ck.params, model.init_params(1), "the checkpoint before the first epoch holds the initial weights");
    }
    assert!(!run.join("weights.safetensors").exists());
    assert_no_temp_files(&run);
    // Resuming replays the same numbers, so it fails the same way.
    let again = elu_lab(&["train", "--resume", s(&run)]);
    let err2 = assert_clean_error(&again, &["training stopped"]);
    assert_eq!(err.lines().next(), err2.lines().next());
}

#[test]
fn weights_are_bitwise_identical_across_runs_and_thread_counts() {
    let d = tempfile::tempdir().unwrap();
    let weights = |name: &str, threads: &str| {
        let dir = d.path().join(name);
        run_ok(
            &[
                "train",
                "--limit",
                "1000",
                "--epochs",
                "2",
                "--verbose",
                "0",
                "--seed",
                "7",
                "--threads",
                threads,
                "--out",
                s(&dir),
            ]
            .map(String::from),
        );
        (std::fs::read(dir.join("weights.safetensors")).unwrap(), numbers(&dir), results(&dir))
    };
    let one = weights("t1", "1");
    for (name, threads) in [("t2", "2"), ("t4", "4"), ("t2-again", "2"), ("t1-again", "1")] {
        let other = weights(name, threads);
        assert!(one.0 == other.0, "weights differ between --threads 1 and {name}");
        assert_eq!(one.1, other.1, "history differs between --threads 1 and {name}");
        assert_eq!(one.2, other.2, "test results differ between --threads 1 and {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad inputs.

/// Writes a dataset in MNIST's layout (raw IDX files) into `dir`: `n` training and `n / 5 + 1`
/// test images of `rows` x `cols`, labels `i % 10`.
fn write_dataset(dir: &Path, n: usize, rows: usize, cols: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, count) in [("train", n), ("t10k", n / 5 + 1)] {
        let pixels: Vec<u8> = (0..count * rows * cols).map(|i| (i * 37 % 256) as u8).collect();
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), idx::encode_images(count, rows, cols, &pixels))
            .unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), idx::encode_labels(&labels)).unwrap();
    }
}

fn train_on(data: &Path, out: &Path) -> Output {
    elu_lab(&["train", "--epochs", "1", "--batch-size", "10", "--data", s(data), "--out", s(out)])
}

#[test]
fn a_small_valid_dataset_trains() {
    // The control for the bad-data tests below: the same files, unbroken, train fine.
    let d = tempfile::tempdir().unwrap();
    write_dataset(&d.path().join("data"), 50, 28, 28);
    let o = train_on(&d.path().join("data"), &d.path().join("run"));
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn wrong_magic_idx_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    write_dataset(&data, 50, 28, 28);
    // A label file where the images should be.
    let images = data.join("train-images-idx3-ubyte");
    std::fs::write(&images, idx::encode_labels(&[1; 50])).unwrap();
    assert_clean_error(
        &train_on(&data, &d.path().join("run")),
        &[s(&images), "wrong magic number 2049, expected 2051"],
    );
    // And something that is not IDX at all.
    std::fs::write(&images, b"<html>404 not found</html>").unwrap();
    assert_clean_error(&train_on(&data, &d.path().join("run")), &[s(&images), "wrong magic number"]);
}

#[test]
fn truncated_raw_idx_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    write_dataset(&data, 50, 28, 28);
    let labels = data.join("t10k-labels-idx1-ubyte");
    let bytes = std::fs::read(&labels).unwrap();
    std::fs::write(&labels, &bytes[..bytes.len() - 3]).unwrap();
    assert_clean_error(
        &train_on(&data, &d.path().join("run")),
        &[s(&labels), "payload is 8 bytes, header promises 11"],
    );
    std::fs::write(&labels, &bytes[..5]).unwrap();
    assert_clean_error(&train_on(&data, &d.path().join("run")), &[s(&labels), "truncated header"]);
}

#[test]
fn mismatched_image_and_label_counts_are_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    write_dataset(&data, 50, 28, 28);
    let labels = data.join("train-labels-idx1-ubyte");
    std::fs::write(&labels, idx::encode_labels(&[3; 40])).unwrap();
    assert_clean_error(&train_on(&data, &d.path().join("run")), &[s(&labels), "has 40 labels", "has 50 images"]);
}

#[test]
fn labels_that_are_not_digits_are_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    write_dataset(&data, 50, 28, 28);
    let mut labels = vec![1u8; 50];
    labels[17] = 10;
    std::fs::write(data.join("train-labels-idx1-ubyte"), idx::encode_labels(&labels)).unwrap();
    assert_clean_error(&train_on(&data, &d.path().join("run")), &["train-labels-idx1-ubyte", "label 10 at index 17"]);
}

#[test]
fn images_of_the_wrong_size_for_the_model_are_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    write_dataset(&data, 50, 8, 8);
    assert_clean_error(
        &train_on(&data, &d.path().join("run")),
        &[s(&data), "are 8x8x1", "the model's input_shape is 28x28x1"],
    );
    // Test images of another size than the training images.
    write_dataset(&d.path().join("other"), 50, 28, 28);
    std::fs::copy(d.path().join("other/t10k-images-idx3-ubyte"), data.join("t10k-images-idx3-ubyte")).unwrap();
    assert_clean_error(&train_on(&data, &d.path().join("run")), &["t10k-images-idx3-ubyte", "28x28", "8x8"]);
}

#[test]
fn resume_without_a_usable_checkpoint_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_clean_error(
        &elu_lab(&["train", "--resume", s(&empty)]),
        &[s(&empty), "not a run directory", "no config.toml"],
    );
    assert_clean_error(
        &elu_lab(&["train", "--resume", s(&d.path().join("missing"))]),
        &["missing", "no such directory"],
    );
    // Garbage, a truncated checkpoint, and a weights file in its place.
    let run = d.path().join("run");
    run_ok(&quick("1", "1", &run, &[]));
    let ck = run.join("checkpoint.safetensors");
    let good = std::fs::read(&ck).unwrap();
    std::fs::write(&ck, b"not a checkpoint").unwrap();
    assert_clean_error(&elu_lab(&["train", "--resume", s(&run)]), &[s(&ck), "not a valid safetensors file"]);
    std::fs::write(&ck, &good[..good.len() / 2]).unwrap();
    assert_clean_error(&elu_lab(&["train", "--resume", s(&run)]), &[s(&ck)]);
    std::fs::copy(run.join("weights.safetensors"), &ck).unwrap();
    assert_clean_error(&elu_lab(&["train", "--resume", s(&run)]), &[s(&ck), "not an elu-lab checkpoint"]);
    // Settings other than --threads and --verbose come from the checkpoint: others are refused.
    std::fs::write(&ck, &good).unwrap();
    assert_clean_error(
        &elu_lab(&["train", "--resume", s(&run), "--epochs", "30", "--lr", "0.1"]),
        &["--resume", "only --threads and --verbose", "--epochs, --lr"],
    );
    // A good checkpoint still resumes (and, being finished, only evaluates).
    std::fs::write(&ck, &good).unwrap();
    run_ok(&["train", "--resume", s(&run)].map(String::from));
}

#[test]
fn bad_model_file_values_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let head = "input_shape = [28, 28, 1]\n";
    let tail = "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let conv = |extra: &str| format!("[[layers]]\ntype = \"conv2d\"\nfilters = 4\nkernel_size = [3, 3]\n{extra}");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("dropout-high.toml", "[[layers]]\ntype = \"dropout\"\nrate = 1.5\n".into(), vec!["dropout", "1.5"]),
        ("dropout-one.toml", "[[layers]]\ntype = \"dropout\"\nrate = 1.0\n".into(), vec!["dropout", "got 1"]),
        ("dropout-nan.toml", "[[layers]]\ntype = \"dropout\"\nrate = nan\n".into(), vec!["dropout", "NaN"]),
        ("dropout-neg.toml", "[[layers]]\ntype = \"dropout\"\nrate = -0.1\n".into(), vec!["dropout", "-0.1"]),
        ("alpha-zero.toml", "[[layers]]\ntype = \"elu\"\nalpha = 0.0\n".into(), vec!["alpha", "got 0"]),
        ("alpha-inf.toml", "[[layers]]\ntype = \"elu\"\nalpha = inf\n".into(), vec!["alpha", "inf"]),
        (
            "filters.toml",
            "[[layers]]\ntype = \"conv2d\"\nfilters = 0\nkernel_size = [3, 3]\n".into(),
            vec!["filters", "0"],
        ),
        ("strides.toml", conv("strides = [0, 1]\n"), vec!["strides", "[0, 1]"]),
        ("pool.toml", "[[layers]]\ntype = \"max_pooling2d\"\npool_size = [29, 2]\n".into(), vec!["pool", "29x2"]),
        ("negative.toml", "[[layers]]\ntype = \"conv2d\"\nfilters = -4\nkernel_size = [3, 3]\n".into(), vec!["`-4`"]),
        (
            "huge-filters.toml",
            "[[layers]]\ntype = \"conv2d\"\nfilters = 9223372036854775807\nkernel_size = [3, 3]\n".into(),
            vec!["layer 0 (conv2d)", "parameters"],
        ),
        (
            "huge-units.toml",
            "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 100000000000\n".into(),
            vec!["layer 1 (dense)", "parameters"],
        ),
        ("string.toml", "[[layers]]\ntype = \"elu\"\nalpha = \"big\"\n".into(), vec!["\"big\""]),
        ("field.toml", "[[layers]]\ntype = \"relu\"\nalpha = 1.0\n".into(), vec!["unknown field `alpha`"]),
        ("syntax.toml", "[[layers]\ntype = \"relu\"\n".into(), vec!["TOML"]),
    ];
    for (name, body, needles) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, format!("{head}{body}{tail}")).unwrap();
        let mut all = needles.clone();
        all.push(s(&p));
        let out = d.path().join("run");
        assert_clean_error(
            &elu_lab(&["train", "--epochs", "1", "--limit", "100", "--model", s(&p), "--out", s(&out)]),
            &all,
        );
    }
    // Sizes whose products overflow.
    let p = d.path().join("huge-input.toml");
    std::fs::write(&p, format!("input_shape = [9223372036854775807, 9223372036854775807, 2]\n{tail}")).unwrap();
    let out = d.path().join("run");
    assert_clean_error(
        &elu_lab(&["train", "--epochs", "1", "--model", s(&p), "--out", s(&out)]),
        &["input_shape", s(&p)],
    );
    assert_clean_error(&elu_lab(&["summary", "--model", s(&p)]), &["input_shape"]);
}

#[test]
fn more_nonsense_flags_are_clear_errors() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--threads", "100000"], &["--threads", "100000"]),
        (&["--lr", "inf"], &["--lr", "inf"]),
        (&["--momentum", "1.0", "--optimizer", "sgd"], &["--momentum", "1"]),
        (&["--validation-split", "NaN"], &["--validation-split", "NaN"]),
        (&["--validation-split", "0.999999"], &["--validation-split", "would be empty"]),
        (&["--patience", "1", "--monitor", "val_acc"], &["--monitor", "val_acc", "val_accuracy"]),
        (&["--patience", "1", "--mode", "lowest"], &["--mode", "lowest"]),
        (&["--checkpoint", "ck-{epcoh}.safetensors"], &["--checkpoint", "unknown field {epcoh}"]),
        (&["--save-best-only"], &["--save-best-only", "--checkpoint"]),
        (&["--patience", "2", "--validation-split", "0"], &["--patience", "--validation-split"]),
        (&["--batch-size", "-5"], &["--batch-size"]),
        (&["--seed", "many"], &["--seed", "many"]),
        (&["--seed", "-1"], &["--seed"]),
    ];
    for (args, needles) in cases {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("run");
        let mut all = vec!["train", "--epochs", "1", "--limit", "100", "--out", s(&out)];
        all.extend_from_slice(args);
        let o = elu_lab(&all);
        let (_, err) = text(&o);
        assert!(!o.status.success() && !err.contains("panicked"), "{args:?}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{args:?}: stderr should mention {n:?}:\n{err}");
        }
    }
    // A batch larger than the training set is one batch of everything, not an allocation of
    // the flag's size.
    let d = tempfile::tempdir().unwrap();
    let o = elu_lab(&[
        "train",
        "--epochs",
        "1",
        "--limit",
        "200",
        "--batch-size",
        "1000000000000",
        "--verbose",
        "0",
        "--out",
        s(&d.path().join("r")),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
}

/// A full disk, simulated without privileges: a file-size limit (`ulimit -f`, with SIGXFSZ
/// ignored) makes writing the 5 MB checkpoint fail the way a full disk does.
#[test]
fn a_write_error_in_the_run_directory_is_reported_not_a_panic() {
    if !Path::new("/bin/sh").exists() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let script = format!(
        "trap '' XFSZ; ulimit -f 2048 && exec \"$0\" train --limit 300 --epochs 2 --verbose 0 --out '{}'",
        run.display()
    );
    let o = std::process::Command::new("/bin/sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_elu-lab")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_clean_error(
        &o,
        &["cannot write", s(&run.join("checkpoint.safetensors")), "File too large", "disk is not full"],
    );
    assert_eq!(o.status.code(), Some(1));
    // Nothing half-written is left: no checkpoint, no temporary file.
    assert!(!run.join("checkpoint.safetensors").exists());
    assert_no_temp_files(&run);
}

/// Standard output on a full device: the result line cannot be written, which is an error.
#[test]
fn a_full_standard_output_is_reported_not_a_panic() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
    let d = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["train", "--limit", "300", "--epochs", "1", "--verbose", "2", "--out", s(&d.path().join("r"))])
        .stdout(full)
        .output()
        .unwrap();
    assert_clean_error(&o, &["standard output", "No space left on device"]);
    // The run itself finished: its files are all there.
    assert!(d.path().join("r/summary.json").is_file() && d.path().join("r/weights.safetensors").is_file());
}

#[test]
fn an_output_path_under_a_file_is_a_clear_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out: PathBuf = file.join("run");
    assert_clean_error(
        &elu_lab(&["train", "--epochs", "1", "--limit", "100", "--out", s(&out)]),
        &["cannot write", s(&out)],
    );
    // --out naming an existing file.
    assert_clean_error(
        &elu_lab(&["train", "--epochs", "1", "--limit", "100", "--out", s(&file)]),
        &["cannot write", s(&file)],
    );
}

#[test]
fn bench_rejects_batches_it_cannot_cycle_and_models_of_another_input_size() {
    // The bundled training set has 60,000 images; the benchmark cycles through it in batches.
    for bs in ["60000", "60001", "1000000000000"] {
        let o = elu_lab(&["bench", "--steps", "1", "--gemm-size", "0", "--batch-size", bs]);
        assert_clean_error(&o, &["--batch-size", bs, "60000"]);
    }
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m.toml");
    let text = std::fs::read_to_string("models/article.toml").unwrap().replace("[28, 28, 1]", "[32, 32, 1]");
    assert!(text.contains("[32, 32, 1]"), "the article's model file states its input shape");
    std::fs::write(&model, text).unwrap();
    let o = elu_lab(&["bench", "--steps", "1", "--gemm-size", "0", "--model", s(&model)]);
    assert_clean_error(&o, &["28x28x1", "32x32x1"]);
}

// ---------------------------------------------------------------------------------------------
// Hostile inputs: devices, FIFOs, gzip bombs, huge sparse files, huge models. Each is a clear
// error, quickly and in bounded memory (docs/RELIABILITY.md gives the measured peaks).

/// A FIFO at `path` (without a writer: a reader that opened it would wait for ever), if the
/// system can make one.
fn fifo(path: &Path) -> bool {
    std::process::Command::new("mkfifo").arg(path).status().is_ok_and(|s| s.success())
}

/// An error whose whole stderr stays short (no echo of a huge input).
fn assert_short_clean_error(o: &Output, needles: &[&str]) {
    let err = assert_clean_error(o, needles);
    assert!(err.len() < 2000, "stderr is {} bytes:\n{}", err.len(), &err[..2000.min(err.len())]);
}

#[test]
fn hostile_model_files_are_short_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let summary = |p: &Path| elu_lab(&["summary", "--model", s(p)]);
    if Path::new("/dev/zero").exists() {
        assert_short_clean_error(&summary(Path::new("/dev/zero")), &["/dev/zero", "character device", "hint:"]);
        let link = d.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_short_clean_error(&summary(&link), &[s(&link), "not a regular file"]);
    }
    let pipe = d.path().join("pipe.toml");
    if fifo(&pipe) {
        assert_short_clean_error(&summary(&pipe), &[s(&pipe), "a FIFO, not a regular file"]);
    }
    assert_short_clean_error(&summary(d.path()), &["a directory"]);
    // Larger than a model file may be (sparse: nothing is read).
    let big = d.path().join("big.toml");
    std::fs::File::create(&big).unwrap().set_len(3 << 30).unwrap();
    assert_short_clean_error(&summary(&big), &[s(&big), "3221225472 bytes, more than the 16777216 bytes allowed"]);
    // A syntax error on a 10 MB line is quoted as an excerpt.
    let long = d.path().join("long.toml");
    std::fs::write(&long, format!("input_shape = [28, 28, 1] {}\n", "x".repeat(10_000_000))).unwrap();
    assert_short_clean_error(&summary(&long), &[s(&long), "TOML parse error at line 1"]);
    // 16,000 layers: refused at once, not built in quadratic time.
    let deep = d.path().join("deep.toml");
    std::fs::write(&deep, format!("input_shape = [28, 28, 1]\n{}", "[[layers]]\ntype = \"relu\"\n".repeat(16_000)))
        .unwrap();
    assert_short_clean_error(&summary(&deep), &[s(&deep), "16000 layers, more than the 1000 allowed"]);
}

#[test]
fn a_model_too_large_for_memory_is_refused_before_allocating_naming_the_layer() {
    let d = tempfile::tempdir().unwrap();
    let tail = "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    // Within every size limit, but 900 layers of 2^28 values need 58 TiB to train: more than
    // any machine has, so the outcome does not depend on the machine.
    let wide = d.path().join("wide.toml");
    let relus = "[[layers]]\ntype = \"relu\"\n".repeat(900);
    let pool = "[[layers]]\ntype = \"max_pooling2d\"\npool_size = [16384, 16384]\n";
    std::fs::write(&wide, format!("input_shape = [16384, 16384, 1]\n{relus}{pool}{tail}")).unwrap();
    let out = d.path().join("run");
    let o = elu_lab(&["train", "--epochs", "1", "--limit", "100", "--model", s(&wide), "--out", s(&out)]);
    let err =
        assert_clean_error(&o, &["layer ", " (re_lu", "training needs", "of memory up to this layer", "available"]);
    assert!(err.contains("fewer filters or units"), "{err}");
    // Its summary needs no memory, and is printed.
    let o = elu_lab(&["summary", "--model", s(&wide)]);
    assert!(o.status.success(), "{:?}", text(&o));
    // The convolution of the issue (300,000 filters) needs 208 GB for a slice of 64 samples:
    // refused wherever less is available.
    if elu_lab::limits::available_memory() < 200_000_000_000 {
        let conv = d.path().join("conv.toml");
        let layers =
            "[[layers]]\ntype = \"conv2d\"\nfilters = 300000\nkernel_size = [3, 3]\n[[layers]]\ntype = \"elu\"\n";
        let pool = "[[layers]]\ntype = \"max_pooling2d\"\npool_size = [26, 26]\n";
        std::fs::write(&conv, format!("input_shape = [28, 28, 1]\n{layers}{pool}{tail}")).unwrap();
        let o = elu_lab(&["train", "--epochs", "1", "--limit", "100", "--model", s(&conv), "--out", s(&out)]);
        assert_clean_error(&o, &["layer 0 (conv2d): training needs"]);
    }
}

#[test]
fn hostile_data_files_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let train = |data: &Path| {
        let out = d.path().join("run");
        elu_lab(&["train", "--data", s(data), "--epochs", "1", "--limit", "40", "--batch-size", "10", "--out", s(&out)])
    };
    // A gzip bomb: 60 labels promised, 256 MiB of zeros behind them.
    write_dataset(&data, 60, 28, 28);
    let labels = data.join("train-labels-idx1-ubyte");
    std::fs::remove_file(&labels).unwrap();
    let bomb = data.join("train-labels-idx1-ubyte.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &idx::encode_labels(&[1; 60])).unwrap();
    for _ in 0..256 {
        std::io::Write::write_all(&mut enc, &[0; 1 << 20]).unwrap();
    }
    std::fs::write(&bomb, enc.finish().unwrap()).unwrap();
    assert_short_clean_error(&train(&data), &[s(&bomb), "has more data than its header promises (60 bytes for 60)"]);
    std::fs::remove_file(&bomb).unwrap();
    // A sparse 4 GiB raw file behind a valid header.
    write_dataset(&data, 60, 28, 28);
    let images = data.join("train-images-idx3-ubyte");
    std::fs::File::options().write(true).open(&images).unwrap().set_len(4 << 30).unwrap();
    assert_short_clean_error(&train(&data), &[s(&images), "has more data than its header promises"]);
    // A FIFO and a symlink to /dev/zero in place of the images.
    std::fs::remove_file(&images).unwrap();
    if fifo(&images) {
        assert_short_clean_error(&train(&data), &[s(&images), "a FIFO, not a regular file"]);
        std::fs::remove_file(&images).unwrap();
    }
    if Path::new("/dev/zero").exists() {
        std::os::unix::fs::symlink("/dev/zero", &images).unwrap();
        assert_short_clean_error(&train(&data), &[s(&images), "a character device"]);
        std::fs::remove_file(&images).unwrap();
    }
    // Labels of 10 or more have their own hint, not the one for truncated files.
    write_dataset(&data, 60, 28, 28);
    let mut bad = vec![1u8; 60];
    bad[5] = 200;
    std::fs::write(&labels, idx::encode_labels(&bad)).unwrap();
    let err = assert_clean_error(
        &train(&data),
        &[s(&labels), "label 200 at index 5 is not a class of the model (0-9)", "hint:"],
    );
    assert!(!err.contains("truncated") && !err.contains("git checkout"), "{err}");
}

#[test]
fn hostile_checkpoints_are_clear_errors_with_a_checkpoint_hint() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    run_ok(&quick("1", "1", &run, &[]));
    let ck = run.join("checkpoint.safetensors");
    let good = std::fs::read(&ck).unwrap();
    let resume = || elu_lab(&["train", "--resume", s(&run)]);
    // Non-finite weights: named as such, not as a loss that became NaN during training.
    let (model, mut state) = checkpoint_of(&run);
    state.params[3] = f32::NAN;
    checkpoint::save_checkpoint(&ck, &model, &state).unwrap();
    let err = assert_clean_error(&resume(), &[s(&ck), "checkpoint holds a non-finite weight in tensor conv2d.kernel"]);
    assert!(!err.contains("became") && !err.contains("at epoch"), "{err}");
    assert!(!err.contains("git checkout data/mnist") && err.contains("hint:"), "{err}");
    // Garbage: the checkpoint hint too, not the IDX one.
    std::fs::write(&ck, b"not a checkpoint").unwrap();
    let err = assert_clean_error(&resume(), &[s(&ck), "not a valid safetensors file"]);
    assert!(!err.contains("git checkout data/mnist"), "{err}");
    // A symlink to /dev/zero and a FIFO: refused unread.
    std::fs::remove_file(&ck).unwrap();
    if Path::new("/dev/zero").exists() {
        std::os::unix::fs::symlink("/dev/zero", &ck).unwrap();
        assert_short_clean_error(&resume(), &[s(&ck), "a character device, not a regular file"]);
        std::fs::remove_file(&ck).unwrap();
    }
    if fifo(&ck) {
        assert_short_clean_error(&resume(), &[s(&ck), "a FIFO, not a regular file"]);
        std::fs::remove_file(&ck).unwrap();
    }
    // Restored, it resumes.
    std::fs::write(&ck, &good).unwrap();
    run_ok(&["train", "--resume", s(&run)].map(String::from));
}
