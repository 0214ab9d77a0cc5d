//! Keras-style progress: a live bar (verbose 1 on a terminal) or one line per epoch.

use std::io::IsTerminal;
use std::time::Instant;

use elu_lab::train::EpochMetrics;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Prints training progress the way Keras's `verbose` argument does.
pub struct Progress {
    verbose: u8,
    epochs: usize,
    bar: Option<ProgressBar>,
    batches: usize,
    start: Instant,
}

impl Progress {
    /// `verbose`: 0 silent, 1 progress bar (one line per epoch when stdout is not a terminal),
    /// 2 one line per epoch.
    pub fn new(verbose: u8, epochs: usize) -> Self {
        Progress { verbose, epochs, bar: None, batches: 0, start: Instant::now() }
    }

    /// The `--verbose` level.
    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    fn live(&self) -> bool {
        self.verbose == 1 && std::io::stdout().is_terminal()
    }

    pub fn epoch_begin(&mut self, epoch: usize, batches: usize) {
        self.batches = batches;
        self.start = Instant::now();
        if self.verbose == 0 {
            return;
        }
        super::train::say(format_args!("Epoch {}/{}", epoch + 1, self.epochs));
        if self.live() {
            let style = ProgressStyle::with_template("{pos:>4}/{len} [{bar:30}] - ETA: {eta} - {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout());
            bar.set_style(style);
            self.bar = Some(bar);
        }
    }

    pub fn batch_end(&mut self, batch: usize, loss: f64, accuracy: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64 + 1);
            bar.set_message(format!("accuracy: {accuracy:.4} - loss: {loss:.4}"));
        }
    }

    pub fn epoch_end(&mut self, m: &EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.verbose == 0 {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64();
        let mut line = format!(
            "{}/{} - {:.0}s - {:.0}ms/step - accuracy: {:.4} - loss: {:.4}",
            self.batches,
            self.batches,
            secs,
            1000.0 * secs / self.batches.max(1) as f64,
            m.accuracy,
            m.loss
        );
        if let (Some(va), Some(vl)) = (m.val_accuracy, m.val_loss) {
            line.push_str(&format!(" - val_accuracy: {va:.4} - val_loss: {vl:.4}"));
        }
        super::train::say(format_args!("{line}"));
    }
}
