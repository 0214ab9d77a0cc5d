//! Integration tests: the real `elu-lab` binary on small subsets of the bundled MNIST.

mod common;

use std::path::Path;

use common::*;

#[test]
fn trains_one_epoch_on_a_subset_far_above_chance_and_writes_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o =
        elu_lab(&["train", "--limit", "6000", "--batch-size", "50", "--epochs", "1", "--seed", "3", "--out", s(&out)]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("Test loss: ") && last.contains(" / Test accuracy: "), "last line: {last}");
    let acc: f64 = last.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(acc > 0.8, "test accuracy {acc} should be far above chance (0.1)");
    for f in ["history.csv", "history.json", "summary.json", "accuracy.png", "loss.png", "model.toml"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), "epoch,accuracy,loss,val_accuracy,val_loss");
    assert!(csv.lines().nth(1).unwrap().starts_with("0,"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["params"], 431_242);
    assert_eq!(summary["train_samples"], 4800);
    assert_eq!(summary["validation_samples"], 1200);
    assert!((summary["test_accuracy"].as_f64().unwrap() - acc).abs() < 1e-4);
    let png = std::fs::read(out.join("accuracy.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The epoch's time, and its training batches' alone (no validation): shorter.
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    let (epoch, train) = (history["epoch_seconds"][0].as_f64().unwrap(), history["train_seconds"][0].as_f64().unwrap());
    assert!(0.0 < train && train < epoch, "train_seconds {train} vs epoch_seconds {epoch}");
}

fn history_of(args: &[&str], dir: &Path) -> String {
    let mut all = vec!["train", "--limit", "1000", "--epochs", "2", "--verbose", "0", "--out", s(dir)];
    all.extend_from_slice(args);
    let o = elu_lab(&all);
    assert!(o.status.success(), "{:?}", text(&o));
    std::fs::read_to_string(dir.join("history.json")).unwrap()
}

/// The history without the wall-clock times.
fn numbers(history_json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(history_json).unwrap();
    v.as_object_mut().unwrap().remove("epoch_seconds");
    v.as_object_mut().unwrap().remove("train_seconds");
    v
}

#[test]
fn same_seed_gives_identical_history_across_runs_and_thread_counts() {
    let d = tempfile::tempdir().unwrap();
    let a = numbers(&history_of(&["--seed", "5", "--threads", "1"], &d.path().join("a")));
    let b = numbers(&history_of(&["--seed", "5", "--threads", "2"], &d.path().join("b")));
    let c = numbers(&history_of(&["--seed", "5", "--threads", "3"], &d.path().join("c")));
    let other = numbers(&history_of(&["--seed", "6", "--threads", "2"], &d.path().join("d")));
    assert_eq!(a, b, "1 vs 2 threads");
    assert_eq!(a, c, "1 vs 3 threads");
    assert_ne!(a, other, "another seed gives other numbers");
}

#[test]
fn summary_prints_the_article_model() {
    let o = elu_lab(&["summary"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(out.contains("Total params: 431,242"), "{out}");
    assert!(out.contains("(None, 26, 26, 32)") && out.contains("(None, 1600)"), "{out}");
}

#[test]
fn activation_flags_and_model_presets() {
    let ok = |args: &[&str]| {
        let o = elu_lab(args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}\nstdout: {out}\nstderr: {err}");
        out
    };
    let out = ok(&["summary", "--activation", "leaky_relu", "--negative-slope", "0.1"]);
    assert!(out.contains("leaky_re_lu_2 (LeakyReLU)"), "{out}");
    // PReLU: one slope per channel of each of the three activation layers.
    let out = ok(&["summary", "--activation", "prelu"]);
    assert!(out.contains("p_re_lu (PReLU)") && out.contains("Total params: 431,594"), "{out}");
    let out = ok(&["summary", "--activation", "selu"]);
    assert!(out.contains("activation_2 (Activation)"), "{out}");
    let out = ok(&["summary", "--activation", "elu", "--alpha", "0.5", "--model", "article"]);
    assert!(out.contains("Total params: 431,242"), "{out}");
    let out = ok(&["summary", "--model", "paper_fc"]);
    assert!(out.contains("Total params: 217,354") && out.contains("elu_7 (ELU)"), "{out}");
    let out = ok(&["models"]);
    assert!(out.lines().next().unwrap().starts_with("article ") && out.contains("(default)"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("paper_fc ")), "{out}");

    // --alpha is ELU's and CELU's α only, --negative-slope LeakyReLU's slope only.
    let o = elu_lab(&["summary", "--activation", "leaky_relu", "--alpha", "0.1"]);
    assert_clean_error(&o, &["--alpha"]);
    assert_clean_error(&o, &["no elu or celu layer"]);
    ok(&["summary", "--activation", "celu", "--alpha", "0.5"]);
    for bad in ["0", "-1", "inf", "NaN"] {
        let o = elu_lab(&["summary", "--activation", "celu", "--alpha", bad]);
        assert_clean_error(&o, &["--alpha", "must be a finite number > 0"]);
    }
    assert_clean_error(&elu_lab(&["summary", "--negative-slope", "0.1"]), &["no leaky_relu layer"]);
    assert_clean_error(&elu_lab(&["train", "--activation", "leaky_relu", "--negative-slope=-1"]), &["negative_slope"]);
    // Unknown names list the known ones.
    let o = elu_lab(&["summary", "--activation", "tanhh"]);
    for name in elu_lab::activations::Activation::names() {
        assert_clean_error(&o, &[name]);
    }
    let o = elu_lab(&["summary", "--model", "no-such-model"]);
    assert_clean_error(&o, &["no-such-model"]);
    assert_clean_error(&o, &["article, paper_fc"]);
}

#[test]
fn nonsense_flags_are_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--batch-size", "0"], "--batch-size"),
        (&["--epochs", "0"], "--epochs"),
        (&["--validation-split", "1.5"], "--validation-split"),
        (&["--validation-split=-0.1"], "--validation-split"),
        (&["--lr=-1e-3"], "--lr"),
        (&["--lr", "0"], "--lr"),
        (&["--lr", "NaN"], "--lr"),
        (&["--alpha", "0"], "alpha"),
        (&["--alpha", "-1"], "alpha"),
        (&["--dropout", "1.0"], "dropout"),
        (&["--limit", "0"], "--limit"),
        (&["--verbose", "3"], "verbose"),
        (&["--activation", "tanhh"], "tanhh"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["train", "--epochs", "1", "--limit", "100"];
        all.extend_from_slice(args);
        assert_clean_error(&elu_lab(&all), &[*needle]);
    }
}

#[test]
fn missing_and_corrupt_data_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    assert_clean_error(&elu_lab(&["train", "--data", s(d.path())]), &["train-images"]);
    // A truncated image file next to good label files.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    for f in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(src.join(f), d.path().join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(d.path().join("train-images-idx3-ubyte.gz"), &bytes[..bytes.len() / 3]).unwrap();
    assert_clean_error(&elu_lab(&["train", "--data", s(d.path())]), &["train-images-idx3-ubyte.gz"]);
}

#[test]
fn bad_model_files_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown.toml", "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"lstm\"\n", "lstm"),
        ("shape.toml", "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"conv2d\"\nfilters = 4\nkernel_size = [30, 30]\n", "larger than its 28x28 input"),
        ("units.toml", "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 0\n", "units"),
        ("alpha.toml", "input_shape = [28, 28, 1]\n[[layers]]\ntype = \"elu\"\nalpha = -1.0\n", "alpha"),
        ("input.toml", "input_shape = [32, 32, 3]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n", "input_shape"),
    ];
    for (name, body, needle) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        assert_clean_error(&elu_lab(&["train", "--epochs", "1", "--limit", "100", "--model", s(&p)]), &[needle]);
    }
    assert_clean_error(&elu_lab(&["summary", "--model", "does/not/exist.toml"]), &["does/not/exist.toml"]);
}

#[test]
fn unwritable_output_directory_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("run");
    assert_clean_error(&elu_lab(&["train", "--epochs", "1", "--limit", "100", "--out", s(&out)]), &["a-file"]);
}

#[test]
fn diagnostics_write_activation_and_gradient_rows_per_epoch() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let o =
        elu_lab(&["train", "--limit", "1000", "--epochs", "2", "--diagnostics", "--verbose", "2", "--out", s(&out)]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    // Before training and after each epoch.
    assert_eq!(stdout.matches("diagnostics after epoch").count(), 3, "{stdout}");
    // 800 training images: the default sample of 1,000 is clamped, with a warning.
    assert!(
        stderr
            .contains("warning: the diagnostics sample of 1000 images is larger than the training set; using all 800"),
        "{stderr}"
    );
    assert!(out.join("diagnostics.png").is_file());
    let csv = std::fs::read_to_string(out.join("diagnostics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,layer,units,mean,sd,median_unit_mean,dead_fraction,saturated_fraction,grad_norm,weight_norm")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Per epoch 0..=2: 3 activation layers, 4 layers with parameters, and the pooled row.
    assert_eq!(rows.len(), 3 * (3 + 4 + 1));
    let num = |r: &Vec<&str>, i: usize| r[i].parse::<f64>().unwrap();
    for r in &rows {
        if r[1].starts_with("elu") || r[1] == "all" {
            for i in 3..8 {
                assert!(num(r, i).is_finite(), "{r:?}");
            }
            assert!((0.0..=1.0).contains(&num(r, 6)) && (0.0..=1.0).contains(&num(r, 7)), "{r:?}");
            assert!(r[8].is_empty() && r[9].is_empty(), "an activation has no parameters: {r:?}");
        } else {
            assert!(num(r, 9) > 0.0, "{r:?}");
            if r[0] == "0" {
                assert!(r[8].is_empty(), "no gradient before training: {r:?}");
            } else {
                assert!(num(r, 8) > 0.0, "gradients do not vanish: {r:?}");
            }
        }
    }
    assert!(rows.iter().any(|r| r[0] == "2" && r[1] == "elu_2" && r[2] == "256"));
    assert!(rows.iter().any(|r| r[0] == "0" && r[1] == "all" && r[2] == "352"));

    // A sample size of 0 is refused; a smaller sample is used as given.
    let o = elu_lab(&["train", "--limit", "1000", "--epochs", "1", "--diagnostics", "--diagnostics-sample", "0"]);
    assert_clean_error(&o, &["--diagnostics-sample", "0"]);
    let small = d.path().join("small");
    let o = elu_lab(&[
        "train",
        "--limit",
        "1000",
        "--epochs",
        "1",
        "--diagnostics",
        "--diagnostics-sample",
        "100",
        "--verbose",
        "0",
        "--out",
        s(&small),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success() && !stderr.contains("warning"), "{stdout}\n{stderr}");
    let config = std::fs::read_to_string(small.join("config.toml")).unwrap();
    assert!(config.contains("diagnostics_sample = 100"), "{config}");
}
