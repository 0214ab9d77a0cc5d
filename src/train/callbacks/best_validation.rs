//! `BestValidation`: keeps the weights of the epoch with the lowest validation loss, so the run
//! can report its test metrics at that epoch as well as at the last one.

use serde::{Deserialize, Serialize};

use super::{Callback, CallbackState, Control, EpochEnd};
use crate::error::Result;

/// Watches `val_loss` and keeps a copy of the weights of its best (lowest) epoch; it changes
/// nothing in training. Its state is checkpointed, so a resumed run keeps the same best epoch.
#[derive(Debug, Default)]
pub struct BestValidation {
    state: State,
    weights: Option<Vec<f32>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct State {
    best: Option<f64>,
    /// The epoch (from 0) of the lowest validation loss.
    epoch: Option<usize>,
}

const WEIGHTS: &str = "weights";

impl BestValidation {
    /// The epoch (from 0) with the lowest validation loss and its weights, if any epoch had one.
    pub fn best(&self) -> Option<(usize, &[f32])> {
        Some((self.state.epoch?, self.weights.as_deref()?))
    }
}

impl Callback for BestValidation {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn state_key(&self) -> Option<&'static str> {
        Some("best_validation")
    }

    fn save_state(&self) -> CallbackState {
        CallbackState::of(&self.state, WEIGHTS, self.weights.as_deref())
    }

    fn load_state(&mut self, saved: &CallbackState) -> Result<()> {
        (self.state, self.weights) = saved.parts("best validation state", WEIGHTS)?;
        Ok(())
    }

    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        if let Some(v) = end.logs.val_loss {
            if self.state.best.is_none_or(|b| v < b) {
                self.state = State { best: Some(v), epoch: Some(end.epoch) };
                self.weights = Some(end.params.to_vec());
            }
        }
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelSpec, Sequential};
    use crate::train::{EpochMetrics, History};

    #[test]
    fn keeps_the_lowest_validation_loss_and_survives_a_checkpoint() {
        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let mut bv = BestValidation::default();
        let mut history = History::default();
        let mut feed = |bv: &mut BestValidation, epoch: usize, v: Option<f64>| {
            let logs = EpochMetrics { loss: 1.0, accuracy: 0.5, val_loss: v, val_accuracy: v, seconds: 0.0 };
            history.push(logs);
            let params = vec![epoch as f32];
            let end =
                EpochEnd { epoch, logs: &logs, history: &history, model: &model, params: &params, gradients: &[] };
            bv.on_epoch_end(&end).unwrap();
        };
        assert!(bv.best().is_none());
        feed(&mut bv, 0, Some(0.5));
        feed(&mut bv, 1, Some(0.3));
        feed(&mut bv, 2, Some(f64::NAN));
        feed(&mut bv, 3, Some(0.3));
        assert_eq!(bv.best(), Some((1, &[1.0f32][..])), "a NaN or a tie does not replace the best");
        let mut resumed = BestValidation::default();
        resumed.load_state(&bv.save_state()).unwrap();
        assert_eq!(resumed.best(), bv.best());
        feed(&mut resumed, 4, Some(0.1));
        assert_eq!(resumed.best(), Some((4, &[4.0f32][..])));
    }
}
