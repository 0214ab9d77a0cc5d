//! The activation zoo end to end: every function trains the article's model, `--activation
//! selu` brings its initialiser, and `plot-activations` draws the functions and tabulates them
//! at extreme inputs.

mod common;

use std::sync::atomic::AtomicBool;

use common::*;
use elu_lab::activations::Activation;
use elu_lab::data::Mnist;
use elu_lab::model::Overrides;
use elu_lab::train::{self, Callbacks, RunConfig};

#[test]
fn every_activation_trains_the_articles_model_and_learns() {
    // Two epochs on 2,400 images (48 steps of 50 each), validated on 600, tested on 2,000:
    // finite losses that fall, and a test loss below chance's (ln 10) for every function.
    // (The sigmoid learns slowest by far: its test accuracy is about 0.15 here, the others'
    // 0.75 to 0.9.)
    let mnist = elu_lab::data::bundled::load().unwrap();
    for act in Activation::ALL {
        let mut config = RunConfig::article();
        config.epochs = 2;
        config.batch_size = 50;
        config.model.apply(&Overrides { activation: Some(act), ..Default::default() }).unwrap();
        let data = Mnist {
            train: mnist.train.take(3000),
            test: mnist.test.take(2000),
            label_files: mnist.label_files.clone(),
        };
        let result = train::run_on(&config, data, &mut Callbacks::new(), &AtomicBool::new(false)).unwrap();
        let h = &result.history;
        eprintln!(
            "{:<10} loss {:.4} -> {:.4}, val_loss {:.4} -> {:.4}, test loss {:.4}, test accuracy {:.4}",
            act.name(),
            h.loss[0],
            h.loss[1],
            h.val_loss[0],
            h.val_loss[1],
            result.test_loss,
            result.test_accuracy
        );
        assert!(h.loss.iter().chain(&h.val_loss).all(|l| l.is_finite()), "{act:?}: {h:?}");
        assert!(h.loss[1] < h.loss[0] && h.val_loss[1] < h.val_loss[0], "{act:?}: {h:?}");
        let (loss, acc) = (result.test_loss, result.test_accuracy);
        assert!(loss < 10f64.ln() && acc > 0.12, "{act:?}: test loss {loss}, accuracy {acc}");
    }
}

#[test]
fn selu_without_init_trains_with_lecun_normal() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, init) in [(&[][..], "lecun_normal"), (&["--init", "he_uniform"][..], "he_uniform")] {
        let out = dir.path().join(init);
        let args =
            ["train", "--activation", "selu", "--limit", "500", "--epochs", "1", "--verbose", "0", "--out", s(&out)];
        run_ok(&[&args[..], extra].concat());
        let model = std::fs::read_to_string(out.join("model.toml")).unwrap();
        assert_eq!(model.matches(&format!("kernel_initializer = \"{init}\"")).count(), 4, "{model}");
    }
}

#[test]
fn plot_activations_draws_each_function_and_tabulates_the_extremes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("figures");
    let o = run_ok(&["plot-activations", "--out", s(&out)]);
    let (stdout, _) = text(&o);
    let mut expected: Vec<String> = Activation::names().map(|n| format!("{n}.png")).collect();
    expected.extend(["activations.png", "extremes.md", "extremes.csv"].map(String::from));
    for name in &expected {
        assert!(out.join(name).is_file(), "missing {name}");
        assert!(stdout.contains(name.as_str()), "{stdout}");
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), expected.len());
    for name in Activation::names() {
        let png = image::open(out.join(format!("{name}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (900, 600), "{name}");
    }
    // 15 functions: 4 columns of 420 pixels, 4 rows of 300 under a 50-pixel title.
    let grid = image::open(out.join("activations.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (4 * 420, 4 * 300 + 50));

    let csv = std::fs::read_to_string(out.join("extremes.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("activation,x,value,derivative"));
    assert_eq!(csv.lines().count(), 1 + 15 * 8);
    for row in [
        "elu,-5e6,-1,0",
        "selu,-5e6,-1.7580993,0",
        "softplus,10000,10000,1",
        "sigmoid,10000,1,0",
        "sigmoid,-10000,0,0",
        "tanh,-10000,-1,0",
        "tanh,10000,1,0",
        "gelu,-5e6,0,0",
        "relu,-5e6,0,0",
        "linear,-5e6,-5e6,1",
    ] {
        assert!(csv.lines().any(|l| l == row), "no row {row} in\n{csv}");
    }
    let md = std::fs::read_to_string(out.join("extremes.md")).unwrap();
    assert!(md.contains("−5,000,000") && md.contains("| elu (alpha = 1) | -1 |"), "{md}");
    assert!(md.contains("`torch.nn.GELU(approximate=\"tanh\")`"), "{md}");

    // A chosen few, in the order given.
    let few = dir.path().join("few");
    let o = run_ok(&["plot-activations", "--activations", "relu,elu,gelu", "--out", s(&few)]);
    assert!(text(&o).0.starts_with(&format!("{}", few.join("relu.png").display())));
    let grid = image::open(few.join("activations.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (3 * 420, 300 + 50));
    let names: Vec<String> = std::fs::read_to_string(few.join("extremes.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(names, [["relu"; 8], ["elu"; 8], ["gelu"; 8]].concat());
}

#[test]
fn unknown_activation_names_are_errors_listing_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("figures");
    for args in [
        &["plot-activations", "--activations", "elu,swishh", "--out", s(&out)][..],
        &["bench", "--activations", "swishh", "--steps", "1"][..],
    ] {
        let o = elu_lab(args);
        let err = assert_clean_error(&o, &["--activations", "`swishh`"]);
        for name in Activation::names() {
            assert!(err.contains(name), "{err} lacks {name}");
        }
    }
    assert!(!out.exists(), "nothing is written");
    // --help names every function, in order.
    let list: String = Activation::names().collect::<Vec<_>>().join(",");
    for cmd in ["plot-activations", "bench"] {
        let help = text(&run_ok(&[cmd, "--help"])).0.replace(['\n', ' '], "");
        assert!(help.contains(&list), "{cmd} --help lacks {list}:\n{help}");
    }
    // --activation elu and --alpha are the single-model flags; with --activations they conflict.
    let o = elu_lab(&["bench", "--activations", "relu", "--activation", "elu"]);
    assert!(!o.status.success());
}

#[test]
fn bench_reports_seconds_per_epoch_for_each_activation() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let o =
        run_ok(&["bench", "--activations", "relu,gelu,selu", "--steps", "1", "--batch-size", "16", "--json", s(&json)]);
    let (stdout, _) = text(&o);
    let rows: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with(['r', 'g', 's'])).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(rows[0].trim_start().starts_with("relu") && rows[0].ends_with("1.00x"), "{stdout}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let acts = j["activations"].as_array().unwrap();
    assert_eq!(acts.len(), 3);
    for (a, name) in acts.iter().zip(["relu", "gelu", "selu"]) {
        assert_eq!(a["activation"], name);
        assert!(a["seconds_per_epoch"].as_f64().unwrap() > 0.0, "{a}");
    }
}
