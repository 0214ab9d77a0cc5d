//! Keras-style progress: a live bar (verbose 1 on a terminal) or one line per epoch.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use indicatif::{ProgressDrawTarget, ProgressStyle};

use super::{BatchLogs, Callback, Control, EpochEnd, TrainBegin};
use crate::error::Result;

/// Prints a line to standard output; an output that cannot be written (closed, or a full
/// disk) does not stop training, whose results go to files.
pub fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Prints training progress the way Keras's `verbose` argument does: 0 silent, 1 a progress bar
/// (one line per epoch when standard output is not a terminal), 2 one line per epoch.
pub struct ProgressBar {
    verbose: u8,
    /// Inside a sweep: the bar is drawn below the sweep's own, labelled, with no epoch lines.
    nested: Option<(indicatif::MultiProgress, String)>,
    epochs: usize,
    bar: Option<indicatif::ProgressBar>,
    batches: usize,
    start: Instant,
}

impl ProgressBar {
    pub fn new(verbose: u8) -> Self {
        ProgressBar { verbose, nested: None, epochs: 0, bar: None, batches: 0, start: Instant::now() }
    }

    /// A bar for one trial of a sweep, drawn in `multi` below the sweep's bar, its lines
    /// starting with `label`; it prints nothing else.
    pub fn nested(multi: indicatif::MultiProgress, label: String) -> Self {
        ProgressBar { nested: Some((multi, label)), ..ProgressBar::new(1) }
    }

    fn live(&self) -> bool {
        self.verbose == 1 && std::io::stdout().is_terminal()
    }
}

impl Callback for ProgressBar {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn on_train_begin(&mut self, begin: &TrainBegin) -> Result<()> {
        self.epochs = begin.epochs;
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, batches: usize) {
        self.batches = batches;
        self.start = Instant::now();
        if let Some((multi, label)) = &self.nested {
            let style = ProgressStyle::with_template("  {prefix} {pos:>4}/{len} [{bar:20}] ETA {eta} - {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = multi.add(indicatif::ProgressBar::new(batches as u64));
            bar.set_style(style);
            bar.set_prefix(format!("{label}, epoch {}/{}", epoch + 1, self.epochs));
            self.bar = Some(bar);
            return;
        }
        if self.verbose == 0 {
            return;
        }
        say(format_args!("Epoch {}/{}", epoch + 1, self.epochs));
        if self.live() {
            let style = ProgressStyle::with_template("{pos:>4}/{len} [{bar:30}] - ETA: {eta} - {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = indicatif::ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout());
            bar.set_style(style);
            self.bar = Some(bar);
        }
    }

    fn on_batch_end(&mut self, _epoch: usize, batch: usize, logs: &BatchLogs) -> Result<()> {
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64 + 1);
            bar.set_message(format!("accuracy: {:.4} - loss: {:.4}", logs.running_accuracy, logs.running_loss));
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.verbose == 0 || self.nested.is_some() {
            return Ok(Control::Continue);
        }
        let m = end.logs;
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
        say(format_args!("{line}"));
        Ok(Control::Continue)
    }
}
