//! Training: a run as one library call ([`run()`]), the fit loop with Keras's semantics, its
//! callbacks, metrics, checkpoints and history.

pub mod callbacks;
pub mod checkpoint;
pub mod config;
pub mod diagnostics;
pub mod fit;
pub mod history;
pub mod run;

pub use callbacks::{Callback, Callbacks, Control};
pub use checkpoint::Checkpoint;
pub use config::{CallbackConfig, DataConfig, EarlyStoppingConfig, Mode, ModelCheckpointConfig, Monitor, RunConfig};
pub use fit::{evaluate, Batch, FitConfig, Trainer};
pub use history::{EpochMetrics, History};
pub use run::{check, load_data, run, run_on, RunResult};
