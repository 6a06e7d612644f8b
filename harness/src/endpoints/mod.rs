//! (being written)
pub mod events;
