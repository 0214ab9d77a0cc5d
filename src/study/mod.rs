//! The study: sweeps over settings × seeds (plan, resumable runner) and their report.

pub mod plan;
pub mod report;
pub mod sweep;

pub use plan::{SweepPlan, Trial};
pub use sweep::{prepare, run_sweep, status, SweepOptions, SweepOutcome, TrialStatus};
