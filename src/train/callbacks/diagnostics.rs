//! The ELU paper's measures after every epoch: per activation layer the mean and standard
//! deviation of its outputs and its fraction of dead units, and each layer's gradient norm.

use std::path::PathBuf;

use super::progress::say;
use super::{Callback, Control, EpochEnd, TrainBegin};
use crate::data::Dataset;
use crate::error::Result;
use crate::report::atomic_write;
use crate::train::diagnostics::{activation_stats, gradient_norms};

/// Images the activation statistics look at after each epoch: the first of the validation part
/// (of the training part without validation data).
pub const SAMPLES: usize = 2000;

/// Writes `diagnostics.csv` (columns `epoch,layer,metric,value`; metrics `mean_activation`,
/// `std_activation`, `dead_fraction`, `grad_norm`) after every epoch, and with `verbose` prints
/// a one-line summary. A resumed run keeps the rows of the epochs before the interruption.
pub struct Diagnostics {
    path: PathBuf,
    verbose: bool,
    sample: Option<Dataset>,
    rows: String,
}

impl Diagnostics {
    pub fn new(path: impl Into<PathBuf>, verbose: bool) -> Self {
        Diagnostics { path: path.into(), verbose, sample: None, rows: String::new() }
    }
}

impl Callback for Diagnostics {
    fn on_train_begin(&mut self, begin: &TrainBegin) -> Result<()> {
        let data = begin.val.unwrap_or(begin.train);
        self.sample = Some(data.take(SAMPLES.min(data.len())));
        // Rows of the epochs before a resume (a missing file has none).
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let earlier = |line: &&str| {
            line.split(',').next().and_then(|e| e.parse::<usize>().ok()).is_some_and(|e| e < begin.start_epoch)
        };
        self.rows = text.lines().skip(1).filter(earlier).map(|l| format!("{l}\n")).collect();
        Ok(())
    }

    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        let Some(sample) = &self.sample else { return Ok(Control::Continue) };
        let epoch = end.epoch;
        let stats = activation_stats(end.model, end.params, sample, SAMPLES);
        let norms = gradient_norms(end.model, end.gradients);
        let mut line = String::from("  diagnostics:");
        for s in &stats {
            for (metric, v) in
                [("mean_activation", s.mean), ("std_activation", s.std), ("dead_fraction", s.dead_fraction)]
            {
                self.rows.push_str(&format!("{epoch},{},{metric},{v}\n", s.layer));
            }
            line.push_str(&format!(
                " {} mean {:+.3} sd {:.3} dead {:.1}% |",
                s.layer,
                s.mean,
                s.std,
                100.0 * s.dead_fraction
            ));
        }
        line.push_str(" gradient norms");
        for (layer, norm) in &norms {
            self.rows.push_str(&format!("{epoch},{layer},grad_norm,{norm}\n"));
            line.push_str(&format!(" {layer} {norm:.2e}"));
        }
        if self.verbose {
            say(format_args!("{line}"));
        }
        atomic_write(&self.path, format!("epoch,layer,metric,value\n{}", self.rows).as_bytes())?;
        Ok(Control::Continue)
    }
}
