//! `EarlyStopping`: stop when a monitored quantity stops improving, keep the best weights.

use serde::{Deserialize, Serialize};

use super::{Callback, CallbackState, Control, EpochEnd};
use crate::error::Result;
use crate::train::config::{EarlyStoppingConfig, Mode};

/// Keras's `EarlyStopping`, step for step (keras/src/callbacks/early_stopping.py), with two
/// differences: `restore_best_weights` restores the best weights at the end of training whether
/// or not training stopped early (tf.keras 2 restored only on an early stop), and the state
/// (wait count, best value and epoch, best weights) is checkpointed, so a resumed run stops at
/// the same epoch with the same weights as an uninterrupted one.
///
/// Each epoch from `start_from_epoch` on: the wait count grows by one; a value better than the
/// best by more than `min_delta` becomes the best (and its weights the best weights), and resets
/// the wait count if it also beats `baseline`; otherwise training stops once the wait count has
/// reached `patience` (never after the first epoch).
#[derive(Debug)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    state: State,
    best_weights: Option<Vec<f32>>,
}

/// The checkpointed part of the state (the weights go in a tensor of their own).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct State {
    wait: usize,
    /// The best value so far; `None` before the first watched epoch.
    best: Option<f64>,
    /// The epoch (from 0) of the best value.
    best_epoch: Option<usize>,
    /// The epoch (from 0) at which training stopped; `None` while it goes on.
    stopped_epoch: Option<usize>,
}

const WEIGHTS: &str = "best_weights";

impl EarlyStopping {
    pub fn new(config: EarlyStoppingConfig) -> Self {
        EarlyStopping { config, state: State::default(), best_weights: None }
    }

    /// The epoch (from 0) whose value was the best, if any epoch was watched.
    pub fn best_epoch(&self) -> Option<usize> {
        self.state.best_epoch
    }

    /// The epoch (from 0) after which training stopped early, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.state.stopped_epoch
    }

    /// Whether `value` improves on `reference` by more than `min_delta`.
    fn improves(&self, value: f64, reference: f64) -> bool {
        let delta = self.config.min_delta.abs();
        match self.config.mode.resolve(self.config.monitor) {
            Mode::Max => value - delta > reference,
            _ => value + delta < reference,
        }
    }
}

impl Callback for EarlyStopping {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn state_key(&self) -> Option<&'static str> {
        Some("early_stopping")
    }

    fn save_state(&self) -> CallbackState {
        CallbackState::of(&self.state, WEIGHTS, self.best_weights.as_deref())
    }

    fn load_state(&mut self, saved: &CallbackState) -> Result<()> {
        (self.state, self.best_weights) = saved.parts("early stopping state", WEIGHTS)?;
        Ok(())
    }

    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        let epoch = end.epoch;
        let Some(current) = end.logs.get(self.config.monitor) else { return Ok(Control::Continue) };
        if epoch < self.config.start_from_epoch {
            return Ok(Control::Continue);
        }
        let restore = self.config.restore_best_weights;
        if restore && self.best_weights.is_none() {
            // The first watched epoch's weights are the best until something beats them.
            self.best_weights = Some(end.params.to_vec());
            self.state.best_epoch = Some(epoch);
        }
        self.state.wait += 1;
        // NaN compares false: it never improves (as in Keras).
        if self.state.best.is_none_or(|best| self.improves(current, best)) {
            self.state.best = Some(current);
            self.state.best_epoch = Some(epoch);
            if restore {
                self.best_weights = Some(end.params.to_vec());
            }
            if self.config.baseline.is_none_or(|b| self.improves(current, b)) {
                self.state.wait = 0;
            }
            return Ok(Control::Continue);
        }
        if self.state.wait >= self.config.patience && epoch > 0 {
            self.state.stopped_epoch = Some(epoch);
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, params: &mut Vec<f32>) -> Result<()> {
        if let Some(best) = self.best_weights.as_ref().filter(|_| self.config.restore_best_weights) {
            params.clone_from(best);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelSpec, Sequential};
    use crate::train::config::Monitor;
    use crate::train::{EpochMetrics, History};

    /// Feeds `val_losses` epoch by epoch (the weights of epoch e are [e]); returns the epochs
    /// run, the restored weights and the callback.
    fn drive(config: EarlyStoppingConfig, values: &[f64]) -> (usize, Vec<f32>, EarlyStopping) {
        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let mut es = EarlyStopping::new(config);
        let mut history = History::default();
        let mut ran = 0;
        let mut params = vec![];
        for (epoch, &v) in values.iter().enumerate() {
            let logs = EpochMetrics {
                loss: v,
                accuracy: 1.0 - v,
                val_loss: Some(v),
                val_accuracy: Some(1.0 - v),
                seconds: 0.0,
            };
            history.push(logs);
            params = vec![epoch as f32];
            ran += 1;
            let end =
                EpochEnd { epoch, logs: &logs, history: &history, model: &model, params: &params, gradients: &[] };
            if es.on_epoch_end(&end).unwrap() == Control::Stop {
                break;
            }
        }
        es.on_train_end(&mut params).unwrap();
        (ran, params, es)
    }

    fn cfg(patience: usize) -> EarlyStoppingConfig {
        EarlyStoppingConfig::new(patience)
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement_and_restores_the_best() {
        let (ran, w, es) = drive(cfg(2), &[0.5, 0.4, 0.45, 0.41, 0.3, 0.2]);
        assert_eq!((ran, w, es.best_epoch(), es.stopped_epoch()), (4, vec![1.0], Some(1), Some(3)));
    }

    #[test]
    fn patience_zero_stops_at_the_first_epoch_without_improvement_but_never_after_the_first() {
        let (ran, w, _) = drive(cfg(0), &[0.5, 0.4, 0.45, 0.3]);
        assert_eq!((ran, w), (3, vec![1.0]));
        // Keras never stops after epoch 0, even with patience 0.
        let (ran, _, _) = drive(cfg(0), &[0.5]);
        assert_eq!(ran, 1);
    }

    #[test]
    fn a_baseline_never_reached_counts_patience_from_the_first_epoch() {
        // Without a baseline the improvements at epochs 0 and 1 reset the wait count: no stop.
        let values = [0.5, 0.4, 0.45, 0.42];
        let (ran, _, _) = drive(cfg(3), &values);
        assert_eq!(ran, 4);
        // With one never reached, they do not: the stop comes 3 epochs after the start.
        let c = EarlyStoppingConfig { baseline: Some(0.1), ..cfg(3) };
        let (ran, w, es) = drive(c.clone(), &values);
        assert_eq!((ran, es.stopped_epoch(), w), (3, Some(2), vec![1.0]));
        // As in Keras, an epoch that improves on the best never stops training itself.
        let (ran, _, es) = drive(c, &[0.5, 0.4, 0.3, 0.2, 0.15, 0.12]);
        assert_eq!((ran, es.stopped_epoch()), (6, None));
    }

    #[test]
    fn restores_the_best_weights_also_when_training_does_not_stop() {
        let (ran, w, es) = drive(cfg(5), &[0.5, 0.3, 0.4, 0.35]);
        assert_eq!((ran, w, es.stopped_epoch()), (4, vec![1.0], None));
        let (_, w, _) = drive(EarlyStoppingConfig { restore_best_weights: false, ..cfg(5) }, &[0.5, 0.3, 0.4, 0.35]);
        assert_eq!(w, vec![3.0], "without restore_best_weights the last weights stay");
    }

    #[test]
    fn changes_within_min_delta_are_ties_not_improvements() {
        let c = EarlyStoppingConfig { min_delta: 0.01, ..cfg(2) };
        // 0.495 and 0.492 improve on 0.5 by less than 0.01: no improvement.
        let (ran, w, _) = drive(c, &[0.5, 0.495, 0.492, 0.1]);
        assert_eq!((ran, w), (3, vec![0.0]));
        // An exact tie without min_delta is no improvement either (strictly less is required).
        let (ran, w, _) = drive(cfg(1), &[0.5, 0.5, 0.4]);
        assert_eq!((ran, w), (2, vec![0.0]));
    }

    #[test]
    fn max_mode_and_start_from_epoch() {
        let c = EarlyStoppingConfig { monitor: Monitor::ValAccuracy, ..cfg(1) };
        // val_accuracy = 1 - v: rises then falls.
        let (ran, w, _) = drive(c, &[0.5, 0.4, 0.45, 0.3]);
        assert_eq!((ran, w), (3, vec![1.0]));
        let c = EarlyStoppingConfig { start_from_epoch: 2, ..cfg(1) };
        // Epochs 0 and 1 are not watched: the best is taken from epoch 2 on.
        let (ran, w, es) = drive(c, &[0.1, 0.2, 0.5, 0.6, 0.7]);
        assert_eq!((ran, w, es.best_epoch()), (4, vec![2.0], Some(2)));
    }

    #[test]
    fn a_resumed_callback_continues_the_patience_window() {
        let values = [0.5, 0.4, 0.45, 0.46, 0.47, 0.2];
        let (ran, w, _) = drive(cfg(3), &values);
        // Interrupt after epoch 2 (in the middle of the patience window), resume from the state.
        let (_, _, first) = drive(cfg(3), &values[..3]);
        let saved = first.save_state();
        let mut resumed = EarlyStopping::new(cfg(3));
        resumed.load_state(&saved).unwrap();
        let model = Sequential::from_spec(&ModelSpec::article()).unwrap();
        let mut history = History::default();
        let (mut ran2, mut params) = (3, vec![]);
        for (epoch, &v) in values.iter().enumerate().skip(3) {
            let logs =
                EpochMetrics { loss: v, accuracy: 0.0, val_loss: Some(v), val_accuracy: Some(0.0), seconds: 0.0 };
            history.push(logs);
            params = vec![epoch as f32];
            ran2 += 1;
            let end =
                EpochEnd { epoch, logs: &logs, history: &history, model: &model, params: &params, gradients: &[] };
            if resumed.on_epoch_end(&end).unwrap() == Control::Stop {
                break;
            }
        }
        resumed.on_train_end(&mut params).unwrap();
        assert_eq!((ran2, params), (ran, w));
    }
}
