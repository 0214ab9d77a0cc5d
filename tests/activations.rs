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
