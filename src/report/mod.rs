//! What a training run leaves behind for people: history files (Keras's CSV layout and JSON)
//! and PNG charts of the learning curves, all written atomically.
//!
//! - [`files`]: [`atomic_write`], [`history_csv`], [`history_json`], [`write_history`], and the
//!   clean-up of temporary files: [`remove_temp_files_in_progress`], [`remove_stale_temp_files`].
//! - [`plot`]: [`plot_curves`], [`plot_comparison`], [`write_plots`].
//! - [`confusion`]: the confusion-matrix picture, [`plot_confusion`].
//! - [`activations`]: the activation functions and their derivatives as figures, and their
//!   values at extreme inputs, [`write_activation_figures`].
//! - [`diagnostics`]: a run's diagnostics per epoch, [`plot_diagnostics`].

pub mod activations;
pub mod confusion;
pub mod diagnostics;
pub mod files;
pub mod plot;

pub use activations::write_activation_figures;
pub use confusion::plot_confusion;
pub use diagnostics::plot_diagnostics;
pub use files::{
    atomic_write, history_csv, history_json, remove_stale_temp_files, remove_temp_files_in_progress, write_history,
};
pub use plot::{plot_comparison, plot_curves, write_plots};
