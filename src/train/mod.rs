//! Training: the fit loop with Keras's semantics, its metrics, and the run's history.

pub mod checkpoint;
pub mod diagnostics;
pub mod fit;
pub mod history;

pub use checkpoint::{BestEpoch, Checkpoint};
pub use fit::{evaluate, FitConfig, Observer, Trainer};
pub use history::{EpochMetrics, History};
