//! The lab orchestrator: drives Yealink desk phones through relay boards and a button
//! actuator, serves the endpoints the phones call, runs recovery scenarios and checks each
//! transcript against its snapshot.

#![warn(missing_docs)]

pub mod bench;
pub mod commands;
pub mod config_error;
pub mod dashboard;
pub mod drivers;
pub mod dyn_eq;
pub mod endpoints;
pub mod expect;
pub mod firmware;
pub mod health;
pub mod history;
pub mod lab;
pub mod lab_check;
pub mod lab_dnsmasq;
pub mod lab_services;
pub mod lab_status;
pub mod outcome;
pub mod pool;
pub mod rack;
pub mod report;
pub mod repro;
pub mod retry;
pub mod run;
pub mod safety;
pub mod scenario;
pub mod virtual_bench;
