//! Inference with a trained model: opening a run directory, evaluating on a labelled set, and
//! predicting the digits in image files.
//!
//! - [`rundir`]: the run directory, [`open_trained`], [`read_summary`].
//! - [`evaluate()`]: loss, accuracy, per-class metrics and the confusion matrix.
//! - [`image`]: the bounded image decoding and MNIST-style preprocessing.
//! - [`predict`]: image files to probabilities, [`predict_files`], [`Prediction`].

pub mod evaluate;
pub mod image;
pub mod predict;
pub mod rundir;

pub use evaluate::{evaluate, ClassMetrics, Evaluation};
pub use predict::{load_input, predict_files, Prediction, Preprocess};
pub use rundir::{open_trained, read_summary, RunSummary};
