//! `elu-lab summary`: the model's layers, output shapes and parameter counts (of a model file,
//! or of a run directory, with the run's results).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use elu_lab::model::{ModelSpec, Sequential};
use elu_lab::rundir::RunDir;

/// Arguments of `elu-lab summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// A run directory: its model, and its results so far.
    #[arg(value_name = "RUN_DIR", conflicts_with_all = ["model", "activation", "alpha", "negative_slope", "init", "dropout"])]
    pub run: Option<PathBuf>,
    /// A preset's name (`elu-lab models` lists them) or a model file (TOML); default: article.
    #[arg(long, value_name = "NAME|FILE")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: super::train::ModelOverrides,
}

pub fn run(args: SummaryArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if let Some(path) = &args.run {
        let dir = RunDir::open(path)?;
        let (_, model) = dir.model()?;
        out.write_all(model.summary().as_bytes())?;
        let epochs = dir.config()?.epochs;
        let done = dir.history().map_or(0, |h| h.epochs());
        if dir.is_finished() {
            let s = dir.summary()?;
            writeln!(out, "Finished after {} of {epochs} epochs", s.epochs_run)?;
            if let Some(best) = s.best_epoch {
                writeln!(out, "Best epoch (early stopping): {best}")?;
            }
            writeln!(out, "Test loss: {:.4} / Test accuracy: {:.4}", s.test_loss, s.test_accuracy)?;
        } else {
            writeln!(
                out,
                "Not finished: {done} of {epochs} epochs done (continue with `elu-lab train --resume {}`)",
                path.display()
            )?;
        }
        return Ok(());
    }
    let mut spec = match &args.model {
        Some(p) => ModelSpec::from_name_or_file(p)?,
        None => ModelSpec::article(),
    };
    args.overrides.apply(&mut spec)?;
    let model = Sequential::from_spec(&spec)?;
    out.write_all(model.summary().as_bytes())?;
    Ok(())
}
