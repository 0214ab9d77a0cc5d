//! Trains the article's model (ELU, he_normal, Adam, batch 250) with early stopping into a run
//! directory, and prints the test metrics.
//!
//!     cargo run --release --example train_article -- [EPOCHS] [RUN_DIR]

use std::sync::atomic::AtomicBool;

use elu_lab::rundir::RunDir;
use elu_lab::train::callbacks::ProgressBar;
use elu_lab::train::{EarlyStoppingConfig, RunConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let epochs = args.next().map_or(Ok(3), |e| e.parse())?;
    let out = args.next().unwrap_or_else(|| "runs/example-article".into());

    let mut config = RunConfig::article();
    config.epochs = epochs;
    config.callbacks.early_stopping = Some(EarlyStoppingConfig::new(3));

    let (dir, _) = RunDir::create_replacing(&out, &config)?;
    let mut callbacks = dir.callbacks(&config, false);
    callbacks.push(ProgressBar::new(2));
    let result = dir.train_with(&config, callbacks, &AtomicBool::new(false))?;
    println!("Test loss: {:.4} / Test accuracy: {:.4}", result.test_loss, result.test_accuracy);
    println!("run directory: {}", dir.path().display());
    Ok(())
}
