//! Reading a finished training run's directory: its model file, weights and summary.
//!
//! Everything inference reads from a run directory goes through this file: [`open_trained`]
//! (`model.toml`, `weights.safetensors`) and [`read_summary`] (`summary.json`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::{ModelSpec, Sequential};
use crate::train::checkpoint::load_weights;

/// The model file a run directory holds (the model actually trained).
pub const MODEL_TOML: &str = "model.toml";
/// The final weights a run directory holds.
pub const WEIGHTS: &str = "weights.safetensors";
/// The run's configuration and test results.
pub const SUMMARY_JSON: &str = "summary.json";

/// The trained model of the run in `dir`: its model file, the model built from it, and its
/// final weights (flat, in the model's layout).
///
/// ```no_run
/// let (spec, model, params) = elu_lab::infer::open_trained("runs/article".as_ref())?;
/// assert_eq!(params.len(), model.param_count());
/// # Ok::<(), elu_lab::Error>(())
/// ```
pub fn open_trained(dir: &Path) -> Result<(ModelSpec, Sequential, Vec<f32>)> {
    if !dir.is_dir() {
        return Err(Error::read(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "not a run directory")));
    }
    let spec = ModelSpec::load(&dir.join(MODEL_TOML))?;
    let model = Sequential::from_spec(&spec)?;
    let params = load_weights(&dir.join(WEIGHTS), &model)?;
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

#[derive(Deserialize)]
struct SummaryFile {
    config: SummaryConfig,
    train_samples: usize,
    test_samples: usize,
    test_loss: Option<f64>,
    test_accuracy: Option<f64>,
}

#[derive(Deserialize)]
struct SummaryConfig {
    data: Option<PathBuf>,
    batch_size: usize,
}

/// Reads `summary.json` of the run in `dir`.
pub fn read_summary(dir: &Path) -> Result<RunSummary> {
    let path = dir.join(SUMMARY_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
    let s: SummaryFile =
        serde_json::from_str(&text).map_err(|e| Error::corrupt(&path, format!("not a run summary: {e}")))?;
    Ok(RunSummary {
        data: s.config.data,
        eval_batch: s.config.batch_size.min(s.train_samples).max(1),
        test_samples: s.test_samples,
        // serde_json writes a NaN as null.
        test_loss: s.test_loss.unwrap_or(f64::NAN),
        test_accuracy: s.test_accuracy.unwrap_or(f64::NAN),
    })
}
