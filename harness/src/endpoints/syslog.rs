//! The syslog collector the phones log to when provisioned so (`static.syslog.server`).
//! Accepts RFC 3164 (BSD) and RFC 5424 datagrams; anything else is still kept, as a relay
//! must (RFC 3164 4.3.3), since a phone's odd log line is evidence, not noise.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::directory::{BenchDirectory, canonical_client};
use super::events::{EndpointEvent, EventBus};

/// Facility given to a datagram without a valid priority: user-level (RFC 3164 4.3.3).
pub const DEFAULT_FACILITY: u8 = 1;
/// Severity given to a datagram without a valid priority: notice (RFC 3164 4.3.3).
pub const DEFAULT_SEVERITY: u8 = 5;
const MAX_DATAGRAM_BYTES: usize = 65_535;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Which syslog format a datagram was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    /// `<PRI>Mmm dd hh:mm:ss host tag: msg`.
    Rfc3164,
    /// `<PRI>1 timestamp host app procid msgid [sd] msg`.
    Rfc5424,
    /// A valid priority followed by neither header: the rest is kept as the message.
    PriorityOnly,
    /// No valid `<PRI>`: defaults applied, the whole datagram is the message.
    NoPriority,
}

/// One syslog datagram, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogLine {
    /// How the datagram was read.
    pub format: SyslogFormat,
    /// PRI / 8 (0-23), or the default.
    pub facility: u8,
    /// PRI % 8 (0 emergency - 7 debug), or the default.
    pub severity: u8,
    /// The sender's own name for itself, when the header has one.
    pub hostname: Option<String>,
    /// The text without priority, timestamp and host: `tag: text` (RFC 3164 MSG), or
    /// `app: text` for RFC 5424 so both formats read alike in a transcript.
    pub message: String,
}

/// Reads one datagram. Never fails: invalid UTF-8 is replaced, a missing priority defaulted.
pub fn parse_syslog(datagram: &[u8]) -> SyslogLine {
    let text = String::from_utf8_lossy(datagram);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    let Some((pri, rest)) = split_priority(text) else {
        return SyslogLine {
            format: SyslogFormat::NoPriority,
            facility: DEFAULT_FACILITY,
            severity: DEFAULT_SEVERITY,
            hostname: None,
            message: text.to_owned(),
        };
    };
    let (facility, severity) = (pri / 8, pri % 8);
    let line = |format, hostname: Option<&str>, message: String| SyslogLine {
        format,
        facility,
        severity,
        hostname: hostname.map(str::to_owned),
        message,
    };
    if let Some(after_version) = rest.strip_prefix("1 ") {
        if let Some((hostname, message)) = parse_5424_after_version(after_version) {
            return line(SyslogFormat::Rfc5424, hostname, message);
        }
    }
    if let Some(after_timestamp) = strip_3164_timestamp(rest) {
        let (hostname, message) = after_timestamp
            .split_once(' ')
            .unwrap_or((after_timestamp, ""));
        return line(SyslogFormat::Rfc3164, Some(hostname), message.to_owned());
    }
    line(SyslogFormat::PriorityOnly, None, rest.to_owned())
}

/// `<PRI>`: one to three digits, at most 191 (facility 23, severity 7).
fn split_priority(text: &str) -> Option<(u8, &str)> {
    let inner = text.strip_prefix('<')?;
    let (digits, rest) = inner.split_once('>')?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri: u8 = digits.parse().ok().filter(|pri| *pri <= 191)?;
    Some((pri, rest))
}

/// `Mmm dd hh:mm:ss ` (day space-padded), or `None` when the header is not there.
fn strip_3164_timestamp(text: &str) -> Option<&str> {
    let stamp = text.get(..16)?;
    let bytes = stamp.as_bytes();
    let month_ok = stamp.get(..3).is_some_and(|month| MONTHS.contains(&month));
    let day_ok = bytes[3] == b' '
        && (bytes[4] == b' ' || bytes[4].is_ascii_digit())
        && bytes[5].is_ascii_digit();
    let time_ok = bytes[6] == b' '
        && [7, 8, 10, 11, 13, 14]
            .iter()
            .all(|&i| bytes[i].is_ascii_digit())
        && bytes[9] == b':'
        && bytes[12] == b':'
        && bytes[15] == b' ';
    (month_ok && day_ok && time_ok).then(|| &text[16..])
}

/// After `1 `: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
fn parse_5424_after_version(text: &str) -> Option<(Option<&str>, String)> {
    let mut rest = text;
    let mut fields = [""; 5];
    for field in &mut fields {
        let (value, tail) = rest.split_once(' ')?;
        if value.is_empty() {
            return None;
        }
        *field = value;
        rest = tail;
    }
    let [_timestamp, hostname, app, _procid, _msgid] = fields;
    let message = skip_structured_data(rest)?;
    let message = message.strip_prefix(' ').unwrap_or(message);
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    let hostname = (hostname != "-").then_some(hostname);
    let message = if app == "-" {
        message.to_owned()
    } else {
        format!("{app}: {message}")
    };
    Some((hostname, message))
}

/// Skips `-` or one or more `[id param="value"...]` elements (values may hold escaped `]`).
fn skip_structured_data(text: &str) -> Option<&str> {
    if let Some(rest) = text.strip_prefix('-') {
        return Some(rest);
    }
    if !text.starts_with('[') {
        return None;
    }
    let bytes = text.as_bytes();
    let (mut index, mut in_quotes, mut depth) = (0, false, 0);
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if in_quotes => index += 1,
            b'"' => in_quotes = !in_quotes,
            b'[' if !in_quotes => depth += 1,
            b']' if !in_quotes => {
                depth -= 1;
                if depth == 0 && bytes.get(index + 1) != Some(&b'[') {
                    return Some(&text[index + 1..]);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// Collects syslog on `socket` until `shutdown` turns true, publishing every datagram.
pub async fn serve(
    socket: UdpSocket,
    directory: Arc<BenchDirectory>,
    bus: EventBus,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buffer) => received,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (len, source) = match received {
            Ok(received) => received,
            Err(error) => {
                tracing::warn!(%error, "syslog receive error");
                continue;
            }
        };
        let client = canonical_client(source);
        let line = parse_syslog(&buffer[..len]);
        if line.format == SyslogFormat::NoPriority {
            tracing::warn!(%client, message = %line.message, "syslog datagram without a valid priority");
        } else {
            tracing::debug!(%client, severity = line.severity, message = %line.message, "syslog");
        }
        directory.publish(
            &bus,
            EndpointEvent::Syslog {
                client,
                facility: line.facility,
                severity: line.severity,
                message: line.message,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc3164() {
        let line = parse_syslog(b"<134>Mar  5 09:01:02 t46g ipvp[123]: Registered\n");
        assert_eq!(line.format, SyslogFormat::Rfc3164);
        assert_eq!((line.facility, line.severity), (16, 6));
        assert_eq!(line.hostname.as_deref(), Some("t46g"));
        assert_eq!(line.message, "ipvp[123]: Registered");
    }

    #[test]
    fn reads_rfc5424_with_structured_data() {
        let line = parse_syslog(
            b"<11>1 2024-01-02T03:04:05Z phone sipd 77 ID1 [x a=\"q\\]\"][y] \xef\xbb\xbfregister failed",
        );
        assert_eq!(line.format, SyslogFormat::Rfc5424);
        assert_eq!((line.facility, line.severity), (1, 3));
        assert_eq!(line.hostname.as_deref(), Some("phone"));
        assert_eq!(line.message, "sipd: register failed");

        let nil = parse_syslog(b"<0>1 - - - - - -");
        assert_eq!(
            (nil.format, nil.facility, nil.severity),
            (SyslogFormat::Rfc5424, 0, 0)
        );
        assert_eq!(nil.message, "");
    }

    #[test]
    fn defaults_without_priority() {
        for junk in [
            &b"hello there"[..],
            b"<192>too big",
            b"<>x",
            b"<1234>x",
            b"\xff\xfe",
            b"<1",
        ] {
            let line = parse_syslog(junk);
            assert_eq!(line.format, SyslogFormat::NoPriority, "{junk:?}");
            assert_eq!(
                (line.facility, line.severity),
                (DEFAULT_FACILITY, DEFAULT_SEVERITY)
            );
        }
        assert_eq!(parse_syslog(b"plain text").message, "plain text");
    }

    #[test]
    fn priority_without_header_keeps_the_rest() {
        let line = parse_syslog(b"<30>dhcp: lease renewed");
        assert_eq!(line.format, SyslogFormat::PriorityOnly);
        assert_eq!((line.facility, line.severity), (3, 6));
        assert_eq!(line.message, "dhcp: lease renewed");
    }
}
