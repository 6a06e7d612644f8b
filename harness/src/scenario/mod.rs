//! Recovery scenarios: the model, the loader, and the engine that runs one on a bench.
pub mod model;
pub use model::*;
