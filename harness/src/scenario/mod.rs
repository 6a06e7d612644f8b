//! Recovery scenarios: the model, the loader, the step vocabulary (`steps`), and the engine
//! that runs one on a bench.
pub mod applicability;
pub mod engine;
pub mod liveness;
pub mod load;
pub mod model;
pub mod package;
pub mod raw;
pub mod steps;
pub mod transcript;
pub use model::*;
