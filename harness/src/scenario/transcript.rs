//! The record of one scenario run on one bench: what the harness did, what its endpoints
//! saw from that bench's phone, and the checks it made. Nothing else: no twin state, so one
//! snapshot holds for the virtual bench and for a real rack.

use crate::endpoints::events::{EndpointEvent, HttpServer};

/// Lines of a transcript, unredacted (the run folder keeps this form; snapshots get the
/// redacted one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    lines: Vec<String>,
    /// Firmware versions the phone announced in its User-Agent, in the order first seen:
    /// the history database keeps them per case, so a run says which build it exercised.
    firmware_seen: Vec<String>,
}

impl Transcript {
    /// An empty transcript, for a case about to start.
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
        let agent = match event {
            EndpointEvent::Http { user_agent, .. } | EndpointEvent::Register { user_agent, .. } => {
                user_agent.as_deref()
            }
            _ => None,
        };
        if let Some(version) = agent.and_then(firmware_of)
            && !self.firmware_seen.iter().any(|v| v == version)
        {
            self.firmware_seen.push(version.to_string());
        }
    }

    /// The firmware versions the phone announced, first seen first.
    pub fn firmware_seen(&self) -> &[String] {
        &self.firmware_seen
    }

    /// The lines so far, for the repro prompt and tests that look at one line.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The whole transcript, one line each, ending in a newline as a snapshot does.
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}

/// The version in a Yealink User-Agent (`Yealink SIP-T46G 28.83.0.120 00:15:65:4a:a9:37`):
/// the first token after the model shaped like a dotted firmware version.
pub fn firmware_of(user_agent: &str) -> Option<&str> {
    let mut tokens = user_agent.split_whitespace();
    tokens.find(|t| t.starts_with("SIP-"))?;
    tokens.find(|t| {
        let parts: Vec<&str> = t.split('.').collect();
        parts.len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
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
            request,
            file,
            bytes,
            error,
            ..
        } => {
            let request = request.word();
            match error {
                None => format!("tftp: {request} {file} ({bytes} bytes)"),
                Some(error) => format!("tftp: {request} {file} refused: {error}"),
            }
        }
        EndpointEvent::ShutOut { server, .. } => {
            let server = match server {
                HttpServer::Provisioning => "provisioning",
                HttpServer::Foreign => "foreign provisioning",
            };
            format!("{server}: connection closed unread (server unreachable for this phone)")
        }
        EndpointEvent::LabFault { .. } => {
            format!("LAB FAULT: {}", event.lab_fault().unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_versions_come_from_user_agents() {
        assert_eq!(
            firmware_of("Yealink SIP-T46G 28.83.0.120 00:15:65:4a:a9:37"),
            Some("28.83.0.120")
        );
        // A REGISTER's User-Agent carries no MAC (twin rule R1).
        assert_eq!(
            firmware_of("Yealink SIP-T46G 28.82.0.20"),
            Some("28.82.0.20")
        );
        assert_eq!(firmware_of("Yealink SIP-T46G"), None);
        assert_eq!(firmware_of("curl/8.0 28.83.0.120"), None);
        assert_eq!(firmware_of("Yealink SIP-T46G 28.83.x.120 mac"), None);
    }

    #[test]
    fn a_shut_out_connection_reads_as_the_server_unreachable() {
        let event = EndpointEvent::ShutOut {
            client: "127.0.0.2:40000".parse().unwrap(),
            server: HttpServer::Provisioning,
        };
        assert_eq!(
            describe(&event),
            "provisioning: connection closed unread (server unreachable for this phone)"
        );
    }

    #[test]
    fn each_version_is_kept_once_in_first_seen_order() {
        let mut t = Transcript::new();
        for ua in [
            "Yealink SIP-T46G 28.81.0.10",
            "Yealink SIP-T46G 28.81.0.10",
            "Yealink SIP-T46G 28.83.0.120",
        ] {
            t.event(&EndpointEvent::Register {
                client: "127.0.0.2:5060".parse().unwrap(),
                user: "1001".into(),
                user_agent: Some(ua.into()),
                status: 200,
                reason: "OK".into(),
                expires: 60,
                call_id: None,
            });
        }
        assert_eq!(t.firmware_seen(), ["28.81.0.10", "28.83.0.120"]);
    }
}
