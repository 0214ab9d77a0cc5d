//! Callbacks: small parts that watch a training run and act at its events, with Keras's
//! semantics (`EarlyStopping`, `ModelCheckpoint`, `CSVLogger`, `TerminateOnNaN`, ...).
//!
//! The fit loop calls every callback, in list order, at each event:
//! `on_train_begin` → per epoch (`on_epoch_begin` → `on_batch_end` per batch → `on_epoch_end`)
//! → `on_train_end`. Training stops after an epoch when any callback returned
//! [`Control::Stop`] from `on_epoch_end` (all callbacks still see that epoch, as in Keras); an
//! error from any callback ends the run with that error. A callback with state that must
//! survive an interruption (early stopping's best value and weights, the best value of
//! `ModelCheckpoint(save_best_only)`) names it with [`Callback::state_key`]; the run's backup
//! saves it with every checkpoint and gives it back on resume, so a resumed run stops at the
//! same epoch with the same weights as an uninterrupted one.

pub mod best_validation;
pub mod csv_logger;
pub mod diagnostics;
pub mod early_stopping;
pub mod model_checkpoint;
pub mod plots;
pub mod progress;
pub mod terminate_on_nan;
pub mod train_eval;

use std::path::PathBuf;

pub use best_validation::BestValidation;
pub use csv_logger::{CsvLogger, JsonLogger};
pub use diagnostics::Diagnostics;
pub use early_stopping::EarlyStopping;
pub use model_checkpoint::ModelCheckpoint;
pub use plots::Plots;
pub use progress::ProgressBar;
pub use terminate_on_nan::TerminateOnNaN;
pub use train_eval::TrainEval;

use super::history::{EpochMetrics, History};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::Sequential;

/// What the fit loop should do after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop training after this epoch (Keras's `model.stop_training = True`).
    Stop,
}

/// What callbacks see when training begins (or resumes).
pub struct TrainBegin<'a> {
    pub model: &'a Sequential,
    pub train: &'a Dataset,
    pub val: Option<&'a Dataset>,
    /// The weights training starts from (the initial ones, or a resumed run's).
    pub params: &'a [f32],
    /// Epochs already finished (0 for a fresh run, more when resuming).
    pub start_epoch: usize,
    /// The epoch count the run is configured for.
    pub epochs: usize,
    /// Batches per epoch.
    pub batches: usize,
}

/// The running figures of an epoch after one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchLogs {
    /// Mean loss of this batch alone.
    pub loss: f64,
    /// Means over the epoch's batches so far, weighted by batch size (what Keras displays).
    pub running_loss: f64,
    pub running_accuracy: f64,
}

/// What callbacks see at the end of an epoch.
pub struct EpochEnd<'a> {
    /// The epoch, counted from 0 (as Keras passes it).
    pub epoch: usize,
    /// This epoch's metrics (Keras's `logs`).
    pub logs: &'a EpochMetrics,
    /// Every finished epoch, this one included.
    pub history: &'a History,
    pub model: &'a Sequential,
    pub params: &'a [f32],
    /// The batch-mean gradient of the epoch's last step.
    pub gradients: &'a [f32],
}

/// The part of a callback's state that a checkpoint keeps: JSON for the small values, named
/// f32 tensors (in the model's flat parameter layout) for weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallbackState {
    pub json: serde_json::Value,
    pub tensors: Vec<(String, Vec<f32>)>,
}

impl CallbackState {
    /// The state of a callback that keeps small values (`state`, as JSON) and, perhaps, one set of
    /// weights under the tensor name `name`.
    pub fn of<T: serde::Serialize>(state: &T, name: &str, weights: Option<&[f32]>) -> Self {
        CallbackState {
            json: serde_json::to_value(state).unwrap_or_default(),
            tensors: weights.iter().map(|w| (name.to_string(), w.to_vec())).collect(),
        }
    }

    /// The inverse of [`CallbackState::of`]: the small values and the weights (if saved); `what`
    /// names the callback in the error when the values cannot be read.
    pub fn parts<T: serde::de::DeserializeOwned>(&self, what: &str, name: &str) -> Result<(T, Option<Vec<f32>>)> {
        let state = serde_json::from_value(self.json.clone())
            .map_err(|e| crate::error::Error::config(what, format!("cannot be read: {e}")))?;
        Ok((state, self.tensor(name).map(<[f32]>::to_vec)))
    }

    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&[f32]> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_slice())
    }
}

/// A part that watches training. Every method has a default that does nothing. Callbacks are
/// `Send` so that a run can be handed to a thread pool.
pub trait Callback: Send {
    /// The key of this callback's state in a checkpoint; `None` for a stateless callback.
    fn state_key(&self) -> Option<&'static str> {
        None
    }
    /// The state to checkpoint (called after `on_epoch_end`).
    fn save_state(&self) -> CallbackState {
        CallbackState::default()
    }
    /// Restores checkpointed state (called before `on_train_begin` when resuming).
    fn load_state(&mut self, _state: &CallbackState) -> Result<()> {
        Ok(())
    }
    fn on_train_begin(&mut self, _begin: &TrainBegin) -> Result<()> {
        Ok(())
    }
    fn on_epoch_begin(&mut self, _epoch: usize, _batches: usize) {}
    /// After each batch's gradient is computed, before the update: the batch-mean gradient in
    /// the model's flat parameter layout (diagnostics average its norm over the epoch). Its
    /// values are unspecified unless some callback's [`Callback::reads_gradients`] is true.
    fn on_gradients(&mut self, _model: &Sequential, _gradients: &[f32]) {}
    /// Whether [`Callback::on_gradients`] reads the gradient (the default: yes). When no
    /// callback of a run does, the trainer lets the engine update the weights of a plain SGD
    /// step without storing every step's gradient (less memory traffic); the epoch's last
    /// step's gradient ([`EpochEnd::gradients`]) is stored either way.
    fn reads_gradients(&self) -> bool {
        true
    }
    /// After each batch's update (`batch` counted from 0 within `epoch`).
    fn on_batch_end(&mut self, _epoch: usize, _batch: usize, _logs: &BatchLogs) -> Result<()> {
        Ok(())
    }
    fn on_epoch_end(&mut self, _end: &EpochEnd) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch, or after a stop; may replace the final weights (early stopping's
    /// `restore_best_weights`).
    fn on_train_end(&mut self, _params: &mut Vec<f32>) -> Result<()> {
        Ok(())
    }
}

/// The callbacks of a run, in the order they are called, and where the run's state is backed
/// up after every epoch (Keras's `BackupAndRestore`) so that it can be resumed.
#[derive(Default)]
pub struct Callbacks {
    pub list: Vec<Box<dyn Callback>>,
    /// The checkpoint file: written before the first epoch and after every epoch; read back
    /// when it exists at the start of a run, which then continues where it stopped.
    pub backup: Option<PathBuf>,
}

impl Callbacks {
    /// No callbacks and no backup.
    pub fn new() -> Self {
        Callbacks::default()
    }

    /// Appends a callback (called after those already in the list).
    pub fn push(&mut self, callback: impl Callback + 'static) -> &mut Self {
        self.list.push(Box::new(callback));
        self
    }

    /// Backs the run up to `path` (a checkpoint file), resuming from it if it exists.
    pub fn with_backup(mut self, path: impl Into<PathBuf>) -> Self {
        self.backup = Some(path.into());
        self
    }
}
