//! The article's two figures (accuracy and loss per epoch, training and validation), redrawn
//! after every epoch.

use std::path::PathBuf;

use super::{Callback, Control, EpochEnd};
use crate::error::Result;
use crate::report::write_plots;

/// Writes `accuracy.png` and `loss.png` into a directory after every epoch.
#[derive(Debug)]
pub struct Plots {
    dir: PathBuf,
}

impl Plots {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Plots { dir: dir.into() }
    }
}

impl Callback for Plots {
    fn reads_gradients(&self) -> bool {
        false
    }
    fn on_epoch_end(&mut self, end: &EpochEnd) -> Result<Control> {
        write_plots(&self.dir, end.history)?;
        Ok(Control::Continue)
    }
}
