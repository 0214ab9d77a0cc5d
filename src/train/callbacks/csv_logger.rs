//! `CSVLogger` and its JSON twin: the history so far, rewritten atomically after every epoch.

use std::path::PathBuf;

use super::{Callback, Control, EpochEnd};
use crate::error::Result;
use crate::report::{atomic_write, history_csv, history_json};

/// Keras's `CSVLogger`: columns `epoch,accuracy,loss,val_accuracy,val_loss` (epoch from 0; the
/// `val_*` columns only with validation data). The whole history is rewritten atomically after
/// every epoch, so a resumed run's file holds the epochs before the interruption followed by the
/// new ones (Keras's `append=True`), and a crash never leaves a half-written row.
#[derive(Debug)]
pub struct CsvLogger {
    path: PathBuf,
}

impl CsvLogger {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvLogger { path: path.into() }
    }
}

impl Callback for CsvLogger {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        atomic_write(&self.path, history_csv(end.history).as_bytes())?;
        Ok(Control::Continue)
    }
}

/// The history as JSON with Keras's keys (`loss`, `accuracy`, `val_loss`, `val_accuracy`) plus
/// `epoch_seconds`, rewritten atomically after every epoch.
#[derive(Debug)]
pub struct JsonLogger {
    path: PathBuf,
}

impl JsonLogger {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonLogger { path: path.into() }
    }
}

impl Callback for JsonLogger {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        atomic_write(&self.path, history_json(end.history).as_bytes())?;
        Ok(Control::Continue)
    }
}
