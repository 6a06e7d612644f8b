//! The virtual bench: twin Yealink T4x phones, a virtual relay board and a virtual button
//! actuator. It plays a real rack on the wire (serial bytes on pseudo-terminals, HTTP, SIP and
//! syslog on loopback) and shares no code with the harness that drives it.

#![warn(missing_docs)]

pub mod bench;
pub mod lab;
pub mod phone;
pub mod serial;

pub use bench::{BenchOptions, VirtualBench};
pub use lab::TwinLab;
