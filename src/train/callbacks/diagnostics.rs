//! The ELU paper's measures before training and after every epoch, on a fixed sample of
//! training images: per activation layer the median unit mean, the mean and standard deviation
//! of its outputs, its dead and saturated fractions; per layer with parameters the gradient norm
//! (averaged over the epoch's batches) and the weight norm.

use std::path::PathBuf;

use super::progress::say;
use super::{Callback, Control, EpochEnd, TrainBegin};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::Sequential;
use crate::report::{atomic_write, plot_diagnostics};
use crate::train::diagnostics::{
    activation_stats, add_gradient_norms, layers_with_parameters, rows, sample_indices, DiagnosticsRow, ALL_LAYERS,
    CSV_COLUMNS,
};

/// Writes `diagnostics.csv` (columns [`CSV_COLUMNS`], one row per layer and epoch, epoch 0
/// before training) before training and after every epoch, with `verbose` a one-line summary
/// each time, and `diagnostics.png` (median unit mean and dead fraction per activation layer,
/// gradient norms on a log scale) when training ends. The sample is `sample` training images drawn by `seed` (all of them, with a warning,
/// when the training set is smaller). A resumed run keeps the rows of the epochs before the
/// interruption.
pub struct Diagnostics {
    csv: PathBuf,
    png: PathBuf,
    verbose: bool,
    sample_size: usize,
    seed: u64,
    /// The sampled training images (set when training begins).
    sample: Option<Dataset>,
    rows: Vec<DiagnosticsRow>,
    /// The layers with parameters, and for each the sum of this epoch's gradient norms; the
    /// batch count.
    grad_layers: Vec<String>,
    grad_sums: Vec<f64>,
    batches: usize,
}

impl Diagnostics {
    /// Diagnostics written to `csv` and `png`, measured on `sample_size` training images drawn
    /// by `seed`.
    pub fn new(csv: impl Into<PathBuf>, png: impl Into<PathBuf>, verbose: bool, sample_size: usize, seed: u64) -> Self {
        Diagnostics {
            csv: csv.into(),
            png: png.into(),
            verbose,
            sample_size,
            seed,
            sample: None,
            rows: Vec::new(),
            grad_layers: Vec::new(),
            grad_sums: Vec::new(),
            batches: 0,
        }
    }

    /// The rows measured so far (every epoch's, in order).
    pub fn rows(&self) -> &[DiagnosticsRow] {
        &self.rows
    }

    /// Measures the weights `params` after `epoch` epochs, adds the rows, writes the files.
    fn measure(
        &mut self,
        epoch: usize,
        model: &Sequential,
        params: &[f32],
        grads: Option<&[(String, f64)]>,
    ) -> Result<()> {
        let Some(data) = &self.sample else { return Ok(()) };
        let all: Vec<usize> = (0..data.len()).collect();
        let stats = activation_stats(model, params, data, &all);
        let new = rows(epoch, model, &stats, grads, params);
        if self.verbose {
            let mut line = format!("  diagnostics after epoch {epoch}:");
            for r in new.iter().filter(|r| r.units > 0) {
                line.push_str(&format!(
                    " {} median {:+.3} dead {:.1}% |",
                    r.layer,
                    r.median_unit_mean,
                    100.0 * r.dead_fraction
                ));
            }
            if let Some(grads) = grads {
                line.push_str(" gradient norms");
                for (layer, norm) in grads {
                    line.push_str(&format!(" {layer} {norm:.2e}"));
                }
            }
            say(format_args!("{line}"));
        }
        self.rows.retain(|r| r.epoch < epoch);
        self.rows.extend(new);
        let mut text = format!("{CSV_COLUMNS}\n");
        for r in &self.rows {
            text.push_str(&r.to_csv());
            text.push('\n');
        }
        atomic_write(&self.csv, text.as_bytes())
    }
}

impl Callback for Diagnostics {
    fn on_train_begin(&mut self, begin: &TrainBegin) -> Result<()> {
        let n = begin.train.len();
        if self.sample_size > n {
            eprintln!(
                "warning: the diagnostics sample of {} images is larger than the training set; using all {n} training images",
                self.sample_size
            );
        }
        let sample = sample_indices(n, self.sample_size, self.seed);
        self.sample = Some(begin.train.select(&sample));
        // Rows of the epochs before a resume (a missing file has none).
        let text = std::fs::read_to_string(&self.csv).unwrap_or_default();
        self.rows = DiagnosticsRow::parse_csv(&text).into_iter().filter(|r| r.epoch <= begin.start_epoch).collect();
        if begin.start_epoch == 0 || !self.rows.iter().any(|r| r.epoch == begin.start_epoch) {
            self.measure(begin.start_epoch, begin.model, begin.params, None)?;
        }
        Ok(())
    }

    fn on_epoch_begin(&mut self, _epoch: usize, _batches: usize) {
        self.grad_sums.iter_mut().for_each(|s| *s = 0.0);
        self.batches = 0;
    }

    fn on_gradients(&mut self, model: &Sequential, gradients: &[f32]) {
        if self.batches == 0 {
            self.grad_layers = layers_with_parameters(model);
            self.grad_sums = vec![0.0; self.grad_layers.len()];
        }
        add_gradient_norms(model, gradients, &mut self.grad_sums);
        self.batches += 1;
    }

    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        let batches = self.batches.max(1) as f64;
        let means: Vec<(String, f64)> =
            self.grad_layers.iter().zip(&self.grad_sums).map(|(n, s)| (n.clone(), s / batches)).collect();
        self.measure(end.epoch + 1, end.model, end.params, Some(&means))?;
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _params: &mut Vec<f32>) -> Result<()> {
        // Drawn once, at the end: redrawing it every epoch would cost more than the measures.
        plot_diagnostics(&self.png, &self.rows)
    }
}

/// The figures of the pooled row ([`ALL_LAYERS`]) per epoch, from the rows of a
/// `diagnostics.csv`: (median unit mean, dead fraction), index = epoch.
pub fn pooled_curves(rows: &[DiagnosticsRow]) -> (Vec<f64>, Vec<f64>) {
    let epochs = rows.iter().map(|r| r.epoch + 1).max().unwrap_or(0);
    let (mut median, mut dead) = (vec![f64::NAN; epochs], vec![f64::NAN; epochs]);
    for r in rows.iter().filter(|r| r.layer == ALL_LAYERS) {
        median[r.epoch] = r.median_unit_mean;
        dead[r.epoch] = r.dead_fraction;
    }
    (median, dead)
}
