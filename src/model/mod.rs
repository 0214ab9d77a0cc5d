//! Sequential models: model files and presets, building, parameters, summary, and batch execution.

mod columns;
pub mod exec;
pub mod presets;
pub mod sequential;
pub mod spec;

pub use exec::Engine;
pub use presets::{Preset, PRESETS};
pub use sequential::{Sequential, Trace};
pub use spec::{ActivationArg, LayerSpec, ModelSpec, Overrides};
