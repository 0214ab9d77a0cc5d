//! The study: sweeps over settings × seeds and their statistical report.
//!
//! - [`plan`]: the trials of a grid of settings × seeds, each identified by its config.
//! - [`sweep`]: running them, resumably, several at once, each in its own run directory; one
//!   [`Shard`] of them per process when several processes (a Slurm array's tasks) share the work.
//! - [`report`]: gathering the trials' results into tables, statistics and the report files.
//! - [`stats`]: summaries (mean, sd, t and bootstrap intervals) and comparisons (Welch, paired t,
//!   Mann–Whitney U, Hedges' g, P(A>B), Holm) of per-run metrics, each matching SciPy, with a
//!   plain-words verdict per comparison.
//! - [`paper`]: the ELU paper's MNIST experiment: its curves, panels and a verdict per claim.
//! - [`svg`]: self-contained SVG charts (seed bands per epoch, dot plots) for the HTML report.

pub mod document;
pub mod paper;
pub mod plan;
pub mod report;
pub mod stats;
pub mod svg;
pub mod sweep;

pub use plan::{Shard, SweepPlan, Trial};
pub use sweep::{pending_shards, prepare, run_sweep, running, status, SweepOptions, SweepOutcome, TrialStatus};
