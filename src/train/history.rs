//! Per-epoch metrics of a training run, with Keras's history keys.

use serde::{Deserialize, Serialize};

/// Keras's `History.history`: one value per epoch for each key.
///
/// Training metrics are averaged over the epoch's batches, weighted by batch size, as Keras
/// reports them; validation metrics are computed after the epoch, in inference mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(with = "nan_as_null")]
    pub loss: Vec<f64>,
    #[serde(with = "nan_as_null")]
    pub accuracy: Vec<f64>,
    /// NaN when there is no validation split.
    #[serde(with = "nan_as_null")]
    pub val_loss: Vec<f64>,
    #[serde(with = "nan_as_null")]
    pub val_accuracy: Vec<f64>,
    /// Wall-clock seconds of each epoch (training and validation).
    pub epoch_seconds: Vec<f64>,
    /// Wall-clock seconds of each epoch's training batches alone (no validation, no callbacks
    /// at the epoch's end): what a framework's own loop over the batches takes. Empty in the
    /// histories of earlier versions.
    #[serde(default)]
    pub train_seconds: Vec<f64>,
}

/// JSON has no NaN: write it as null and read null back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(xs.iter().map(|x| if x.is_nan() { None } else { Some(*x) }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

/// The metrics of one finished epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochMetrics {
    pub loss: f64,
    pub accuracy: f64,
    /// `None` when there is no validation split.
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
}

impl EpochMetrics {
    /// The value Keras's logs hold under `monitor`'s key (`None` without validation data).
    pub fn get(&self, monitor: super::config::Monitor) -> Option<f64> {
        use super::config::Monitor;
        match monitor {
            Monitor::Loss => Some(self.loss),
            Monitor::Accuracy => Some(self.accuracy),
            Monitor::ValLoss => self.val_loss,
            Monitor::ValAccuracy => self.val_accuracy,
        }
    }
}

impl History {
    /// Number of finished epochs.
    pub fn epochs(&self) -> usize {
        self.loss.len()
    }

    /// Appends one epoch (validation metrics as NaN when there is no validation split).
    pub fn push(&mut self, m: EpochMetrics) {
        self.loss.push(m.loss);
        self.accuracy.push(m.accuracy);
        self.val_loss.push(m.val_loss.unwrap_or(f64::NAN));
        self.val_accuracy.push(m.val_accuracy.unwrap_or(f64::NAN));
        self.epoch_seconds.push(m.seconds);
    }

    /// Keeps the first `n` epochs (used when resuming from a checkpoint).
    pub fn truncate(&mut self, n: usize) {
        self.loss.truncate(n);
        self.accuracy.truncate(n);
        self.val_loss.truncate(n);
        self.val_accuracy.truncate(n);
        self.epoch_seconds.truncate(n);
        self.train_seconds.truncate(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_missing_validation_as_nan() {
        let mut h = History::default();
        h.push(EpochMetrics { loss: 0.5, accuracy: 0.8, val_loss: None, val_accuracy: None, seconds: 2.0 });
        let text = serde_json::to_string(&h).unwrap();
        assert!(text.contains("\"val_loss\":[null]"), "{text}");
        let back: History = serde_json::from_str(&text).unwrap();
        assert_eq!(back.loss, h.loss);
        assert!(back.val_loss[0].is_nan());
    }
}
