//! Button actuators: boards that press a phone's keys. One file per family.

pub mod relay;
pub mod serial;
