//! The phone's own web UI, as a lab observes it from the network.

pub mod servlet_login;

pub use servlet_login::{ConnectFailure, LoginOutcome, WebError, try_login};
