//! The record of one scenario run on one bench: what the harness did, what its endpoints
//! saw from that bench's phone, and the checks it made. Nothing else: no twin state, so one
//! snapshot holds for the virtual bench and for a real rack.

use crate::endpoints::events::{EndpointEvent, HttpServer};

/// Lines of a transcript, unredacted (the run folder keeps this form; snapshots get the
/// redacted one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    lines: Vec<String>,
}

impl Transcript {
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// A header line (`scenario: ...`).
    pub fn header(&mut self, key: &str, value: &str) {
        self.lines.push(format!("{key}: {value}"));
    }

    /// Starts a section (`== given`, `== steps`).
    pub fn section(&mut self, title: &str) {
        self.lines.push(String::new());
        self.lines.push(format!("== {title}"));
    }

    /// Something the harness did or concluded.
    pub fn action(&mut self, text: impl AsRef<str>) {
        self.lines.push(text.as_ref().to_string());
    }

    /// Something an endpoint saw, indented under the action that waited for it.
    pub fn event(&mut self, event: &EndpointEvent) {
        self.lines.push(format!("  {}", describe(event)));
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}

/// One line per event, in words a lab engineer reads without the code at hand.
pub fn describe(event: &EndpointEvent) -> String {
    match event {
        EndpointEvent::Http {
            server,
            method,
            path,
            user_agent,
            status,
            note,
            ..
        } => {
            let server = match server {
                HttpServer::Provisioning => "provisioning",
                HttpServer::Foreign => "foreign provisioning",
            };
            let agent = user_agent
                .as_deref()
                .map(|ua| format!(" [{ua}]"))
                .unwrap_or_default();
            let note = note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!("{server}: {method} {path}{agent} -> {status}{note}")
        }
        EndpointEvent::Register {
            user,
            user_agent,
            status,
            reason,
            ..
        } => {
            let agent = user_agent
                .as_deref()
                .map(|ua| format!(" [{ua}]"))
                .unwrap_or_default();
            format!("registrar: REGISTER {user}{agent} -> {status} {reason}")
        }
        EndpointEvent::Syslog {
            severity, message, ..
        } => format!("syslog: <{severity}> {message}"),
        EndpointEvent::Tftp {
            file, bytes, error, ..
        } => match error {
            None => format!("tftp: read {file} ({bytes} bytes)"),
            Some(error) => format!("tftp: read {file} refused: {error}"),
        },
    }
}
