//! `TerminateOnNaN`: stop at the first batch whose loss is NaN or infinite.

use super::{BatchLogs, Callback};
use crate::error::{Error, Result};

/// Keras's `TerminateOnNaN`, as an error: the run ends with [`Error::NonFinite`] naming the
/// epoch and batch (both from 1), before that epoch's end, so the last checkpoint stays the
/// last good epoch's. (Independently of this callback, the fit loop never lets an update that
/// makes a weight non-finite reach the end of an epoch.)
#[derive(Debug, Default)]
pub struct TerminateOnNaN;

impl Callback for TerminateOnNaN {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn on_batch_end(&mut self, epoch: usize, batch: usize, logs: &BatchLogs) -> Result<()> {
        if logs.loss.is_finite() {
            return Ok(());
        }
        Err(Error::NonFinite { what: "loss", epoch: epoch + 1, batch: batch + 1, value: logs.loss as f32 })
    }
}
