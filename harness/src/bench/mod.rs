//! Measuring the lab's servers against the standard ones they replace, with clients of
//! their own (not the ones under test).

pub mod tftp_client;
