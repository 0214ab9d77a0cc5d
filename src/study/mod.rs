//! The study: statistics over repeated runs.
//!
//! - [`stats`]: summaries (mean, sd, t and bootstrap intervals) and comparisons (Welch, paired t,
//!   Mann–Whitney U, Hedges' g, P(A>B), Holm) of per-run metrics, each matching SciPy, with a
//!   plain-words verdict per comparison.

pub mod stats;
