//! The study: statistics over repeated runs and the SVG charts of the HTML report.
//!
//! - [`stats`]: summaries (mean, sd, t and bootstrap intervals) and comparisons (Welch, paired t,
//!   Mann–Whitney U, Hedges' g, P(A>B), Holm) of per-run metrics, each matching SciPy, with a
//!   plain-words verdict per comparison.
//! - [`svg`]: self-contained SVG charts (seed bands per epoch, dot plots) for the HTML report.

pub mod stats;
pub mod svg;
