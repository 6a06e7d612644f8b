//! `harness repro`: a lab phone put into a customer's state, driven by hand step by step,
//! and kept as a scenario (with its snapshot) that runs every night from then on.

pub mod command;
pub mod given;
pub mod prompt;
pub mod save;
pub mod session;
