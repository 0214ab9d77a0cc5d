//! `RunConfig`: the single description of a training run (model, data, optimiser, schedule,
//! seed, callbacks), serialisable to TOML and validated with errors that name the field.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::optim::OptimizerConfig;

/// Everything that determines a run's numbers. Two runs with equal configs give bitwise equal
/// results, whatever the thread count; output paths, threads and verbosity are not part of it.
///
/// ```
/// use elu_lab::train::RunConfig;
///
/// let mut config = RunConfig::article();
/// config.epochs = 1;
/// config.data.limit = Some(600);
/// config.validate()?;
/// let text = config.to_toml();
/// assert_eq!(RunConfig::from_toml(&text, std::path::Path::new("config.toml"))?, config);
/// # Ok::<(), elu_lab::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seed for initialisation, shuffling and dropout.
    pub seed: u64,
    /// Number of epochs to train (early stopping may end sooner).
    pub epochs: usize,
    /// Samples per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub data: DataConfig,
    #[serde(default)]
    pub callbacks: CallbackConfig,
    /// The model, after any overrides (the model file actually trained).
    pub model: ModelSpec,
}

/// Where the data comes from and how much of it is used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Directory with the four MNIST-layout IDX files; `None` for the bundled MNIST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first `limit` training images (before the validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The last fraction of the training images held out for validation (Keras's
    /// `validation_split`); 0 disables validation.
    pub validation_split: f64,
}

/// The callbacks whose behaviour is part of the run (they change its numbers or its files).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStoppingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_checkpoint: Option<ModelCheckpointConfig>,
    /// Per-epoch activation and gradient statistics (diagnostics.csv).
    #[serde(default)]
    pub diagnostics: bool,
    /// Training images the diagnostics measure, drawn by the run's seed (`None`:
    /// [`DIAGNOSTICS_SAMPLE`]); more than the training set holds means all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics_sample: Option<usize>,
    /// The loss and accuracy of the whole training and validation sets in inference mode,
    /// before training and after every epoch (train_eval.csv).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evaluate_training_set: bool,
}

/// The training images diagnostics measure unless told otherwise (the ELU paper's 1,000).
pub const DIAGNOSTICS_SAMPLE: usize = 1000;

impl CallbackConfig {
    /// The number of training images the diagnostics measure.
    pub fn diagnostics_sample(&self) -> usize {
        self.diagnostics_sample.unwrap_or(DIAGNOSTICS_SAMPLE)
    }
}

/// A quantity of the epoch logs that callbacks can watch (Keras's history keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    Loss,
    Accuracy,
    ValLoss,
    ValAccuracy,
}

impl Monitor {
    /// All monitors, in Keras's history order.
    pub const ALL: [Monitor; 4] = [Monitor::Loss, Monitor::Accuracy, Monitor::ValLoss, Monitor::ValAccuracy];

    /// The Keras history key.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::Loss => "loss",
            Monitor::Accuracy => "accuracy",
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
        }
    }

    /// Parses a Keras history key.
    pub fn parse(name: &str) -> Result<Monitor> {
        Monitor::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let all: Vec<_> = Monitor::ALL.iter().map(|m| m.name()).collect();
            Error::config("monitor", format!("must be one of {}, got {name:?}", all.join(", ")))
        })
    }

    /// Whether the quantity needs validation data.
    pub fn needs_validation(self) -> bool {
        matches!(self, Monitor::ValLoss | Monitor::ValAccuracy)
    }

    /// The direction `Mode::Auto` resolves to: losses fall, accuracies rise.
    pub fn auto_mode(self) -> Mode {
        match self {
            Monitor::Loss | Monitor::ValLoss => Mode::Min,
            Monitor::Accuracy | Monitor::ValAccuracy => Mode::Max,
        }
    }
}

/// Whether a monitored quantity improves by falling (`min`) or rising (`max`); `auto` decides
/// from the name (losses fall, accuracies rise), as Keras does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Auto,
    Min,
    Max,
}

impl Mode {
    /// Parses `auto`, `min` or `max`.
    pub fn parse(name: &str) -> Result<Mode> {
        match name {
            "auto" => Ok(Mode::Auto),
            "min" => Ok(Mode::Min),
            "max" => Ok(Mode::Max),
            _ => Err(Error::config("mode", format!("must be auto, min or max, got {name:?}"))),
        }
    }

    /// `Min` or `Max` for `monitor`.
    pub fn resolve(self, monitor: Monitor) -> Mode {
        match self {
            Mode::Auto => monitor.auto_mode(),
            m => m,
        }
    }
}

/// Keras's `EarlyStopping` arguments (verbose aside), with one change: `restore_best_weights`
/// restores the best weights at the end of training whether or not training stopped early.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    pub monitor: Monitor,
    /// An improvement must exceed this (absolute) change.
    #[serde(default)]
    pub min_delta: f64,
    /// Epochs without improvement after which training stops.
    pub patience: usize,
    #[serde(default)]
    pub mode: Mode,
    /// Training stops unless the monitored value improves on this within `patience` epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub restore_best_weights: bool,
    /// Epochs (counted from 0) to wait before watching for improvement.
    #[serde(default)]
    pub start_from_epoch: usize,
}

impl EarlyStoppingConfig {
    /// Keras's defaults (`val_loss`, no delta, `auto` mode, no baseline) with the given patience,
    /// and `restore_best_weights` on.
    pub fn new(patience: usize) -> Self {
        EarlyStoppingConfig {
            monitor: Monitor::ValLoss,
            min_delta: 0.0,
            patience,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: true,
            start_from_epoch: 0,
        }
    }
}

/// Keras's `ModelCheckpoint` (weights only, saved at each epoch's end).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCheckpointConfig {
    /// File name template, relative to the run directory, e.g.
    /// `ckpt-{epoch:02d}-{val_loss:.4f}.safetensors` (epoch counted from 1, as in Keras).
    pub filepath: String,
    #[serde(default)]
    pub save_best_only: bool,
    pub monitor: Monitor,
    #[serde(default)]
    pub mode: Mode,
}

impl RunConfig {
    /// The article's run: its model (ELU α = 1, he_normal), Adam (Keras's defaults), batch 250,
    /// 25 epochs, validation_split 0.2, seed 1, the bundled MNIST.
    pub fn article() -> Self {
        RunConfig {
            seed: 1,
            epochs: 25,
            batch_size: 250,
            optimizer: OptimizerConfig::adam(1e-3),
            data: DataConfig { dir: None, limit: None, validation_split: 0.2 },
            callbacks: CallbackConfig::default(),
            model: ModelSpec::article(),
        }
    }

    /// Rejects values that cannot train, naming the field (`epochs`, `data.validation_split`, ...).
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::config("epochs", "must be at least 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1, got 0"));
        }
        self.optimizer.validate()?;
        let v = self.data.validation_split;
        if !(0.0..1.0).contains(&v) {
            return Err(Error::config(
                "data.validation_split",
                format!("must be in [0, 1) (0 disables validation), got {v}"),
            ));
        }
        if self.data.limit == Some(0) {
            return Err(Error::config("data.limit", "must be at least 1, got 0"));
        }
        let validated = v > 0.0;
        if let Some(es) = &self.callbacks.early_stopping {
            check_monitor("callbacks.early_stopping.monitor", es.monitor, validated)?;
            if !es.min_delta.is_finite() {
                return Err(Error::config(
                    "callbacks.early_stopping.min_delta",
                    format!("must be a finite number, got {}", es.min_delta),
                ));
            }
            if let Some(b) = es.baseline.filter(|b| !b.is_finite()) {
                return Err(Error::config(
                    "callbacks.early_stopping.baseline",
                    format!("must be a finite number, got {b}"),
                ));
            }
        }
        if self.callbacks.diagnostics_sample == Some(0) {
            return Err(Error::config("callbacks.diagnostics_sample", "must be at least 1, got 0"));
        }
        if let Some(mc) = &self.callbacks.model_checkpoint {
            check_monitor("callbacks.model_checkpoint.monitor", mc.monitor, validated)?;
            super::callbacks::model_checkpoint::check_template(&mc.filepath, validated)?;
        }
        Ok(())
    }

    /// The config as TOML (what `config.toml` of a run directory holds).
    pub fn to_toml(&self) -> String {
        // Every field is a TOML-representable value (no NaN: validate() rejects them), so this
        // cannot fail for a config that validates; an empty string would fail to parse back.
        toml::to_string(self).unwrap_or_default()
    }

    /// Parses a config written by [`RunConfig::to_toml`]; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<RunConfig> {
        toml::from_str(text).map_err(|e| Error::corrupt(path, format!("not a valid run config: {}", short(&e))))
    }
}

/// A TOML error's message, cut to a few lines (it may quote the offending input).
fn short(e: &toml::de::Error) -> String {
    let msg = e.to_string();
    let mut out: String = msg.trim().chars().take(300).collect();
    if out.len() < msg.trim().len() {
        out.push('…');
    }
    out
}

fn check_monitor(field: &str, monitor: Monitor, validated: bool) -> Result<()> {
    if monitor.needs_validation() && !validated {
        return Err(Error::config(
            field,
            format!("{} needs validation data, but data.validation_split is 0", monitor.name()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_config_round_trips_through_toml() {
        let mut c = RunConfig::article();
        c.callbacks.early_stopping = Some(EarlyStoppingConfig { baseline: Some(0.1), ..EarlyStoppingConfig::new(3) });
        c.callbacks.model_checkpoint = Some(ModelCheckpointConfig {
            filepath: "ckpt-{epoch:02d}.safetensors".into(),
            save_best_only: true,
            monitor: Monitor::ValAccuracy,
            mode: Mode::Auto,
        });
        c.data.dir = Some(PathBuf::from("/data/mnist"));
        c.validate().unwrap();
        let text = c.to_toml();
        assert_eq!(RunConfig::from_toml(&text, Path::new("c.toml")).unwrap(), c, "{text}");
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let mut c = RunConfig::article();
        c.data.validation_split = 1.5;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid data.validation_split: must be in [0, 1) (0 disables validation), got 1.5"
        );
        let mut c = RunConfig::article();
        c.epochs = 0;
        assert!(c.validate().unwrap_err().to_string().starts_with("invalid epochs"));
        let mut c = RunConfig::article();
        c.data.validation_split = 0.0;
        c.callbacks.early_stopping = Some(EarlyStoppingConfig::new(2));
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("callbacks.early_stopping.monitor") && err.contains("val_loss"), "{err}");
        c.callbacks.early_stopping =
            Some(EarlyStoppingConfig { monitor: Monitor::Loss, ..EarlyStoppingConfig::new(2) });
        c.validate().unwrap();
        let err = RunConfig::from_toml("seed = 1\nfoo = 2\n", Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.starts_with("c.toml: not a valid run config"), "{err}");
    }

    #[test]
    fn monitors_and_modes_parse_keras_names() {
        for m in Monitor::ALL {
            assert_eq!(Monitor::parse(m.name()).unwrap(), m);
        }
        assert!(Monitor::parse("val_acc").unwrap_err().to_string().contains("val_accuracy"));
        assert_eq!(Mode::Auto.resolve(Monitor::ValLoss), Mode::Min);
        assert_eq!(Mode::Auto.resolve(Monitor::Accuracy), Mode::Max);
        assert_eq!(Mode::Max.resolve(Monitor::Loss), Mode::Max);
        assert!(Mode::parse("biggest").is_err());
    }
}
