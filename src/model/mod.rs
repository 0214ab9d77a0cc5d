//! Sequential models: building from a model file, parameters, summary, and batch execution.

pub mod exec;
pub mod sequential;
pub mod spec;

pub use exec::Engine;
pub use sequential::{Sequential, Trace};
pub use spec::{ActivationChoice, LayerSpec, ModelSpec, Overrides};
