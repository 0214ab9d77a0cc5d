//! Reading a finished training run's directory: its model file, weights and summary.
//!
//! Inference reads a run directory through [`RunDir`]: [`open_trained`] (the config's model and
//! `weights.safetensors`) and [`read_summary`] (`summary.json`).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::model::{ModelSpec, Sequential};
use crate::rundir::RunDir;

/// The trained model of the run in `dir`: its model file, the model built from it, and its
/// final weights (flat, in the model's layout).
///
/// ```no_run
/// let (spec, model, params) = elu_lab::infer::open_trained("runs/article".as_ref())?;
/// assert_eq!(params.len(), model.param_count());
/// # Ok::<(), elu_lab::Error>(())
/// ```
pub fn open_trained(dir: &Path) -> Result<(ModelSpec, Sequential, Vec<f32>)> {
    let run = RunDir::open(dir)?;
    let (spec, model) = run.model()?;
    let params = run.weights()?;
    Ok((spec, model, params))
}

/// What `summary.json` records that evaluation needs to repeat the run's test numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// The `--data` directory trained on; `None` for the bundled MNIST.
    pub data: Option<PathBuf>,
    /// The engine's batch size in training and testing (the batch size, at most the number of
    /// training samples): evaluation with the same batches gives bitwise the same numbers.
    pub eval_batch: usize,
    pub test_samples: usize,
    pub test_loss: f64,
    pub test_accuracy: f64,
}

/// Reads `summary.json` of the run in `dir`.
pub fn read_summary(dir: &Path) -> Result<RunSummary> {
    let s = RunDir::open(dir)?.summary()?;
    Ok(RunSummary {
        data: s.config.data.dir.clone(),
        eval_batch: s.config.batch_size.min(s.train_samples).max(1),
        test_samples: s.test_samples,
        test_loss: s.test_loss,
        test_accuracy: s.test_accuracy,
    })
}
