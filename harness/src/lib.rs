//! The lab orchestrator: drives Yealink desk phones through relay boards and a button
//! actuator, serves the endpoints the phones call, runs recovery scenarios and checks each
//! transcript against its snapshot.

pub mod drivers;
pub mod endpoints;
pub mod firmware;
pub mod lab;
pub mod scenario;
