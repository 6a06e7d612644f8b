//! Power through a pdudaemon instance (the PDU broker used by LAVA and labgrid labs): one
//! HTTP GET per request, `<base>/power/control/<on|off|reboot>?hostname=<pdu>&port=<n>`.
//!
//! pdudaemon answers 200 when it accepted (queued) the request and 503 when it did not (an
//! unknown PDU or port). It cannot read a port's state back, so [`PowerSwitch::get`] says
//! `None` rather than guessing. Plain HTTP/1.1 over a `TcpStream` keeps this driver
//! blocking like the others, with no runtime under it.

use std::fmt::Write as _;
use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use crate::drivers::transport::printable;
use crate::drivers::{DeviceRef, DriverError, PowerSwitch};
use crate::lab::relay_entry::OwnKeys;
use crate::lab::{RelayBoard, RelayKind};
use toml::Spanned;

use super::registry::{BoardKey, Reach, RelayBoardKind, settings_mismatch};

/// pdudaemon answers at once (it only queues); past this it is hung or unreachable.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// More than any status line and headers pdudaemon sends; past this it is not pdudaemon.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A request pdudaemon carries out on a PDU port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduCommand {
    /// Power the port.
    On,
    /// Cut the port.
    Off,
    /// Cut the port, wait, power it again (pdudaemon waits 5 s unless told otherwise).
    Reboot,
}

impl PduCommand {
    /// The path segment pdudaemon expects.
    pub fn as_str(self) -> &'static str {
        match self {
            PduCommand::On => "on",
            PduCommand::Off => "off",
            PduCommand::Reboot => "reboot",
        }
    }
}

/// Where pdudaemon listens, from its base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEndpoint {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path before `/power/control`, without a trailing slash (usually empty).
    pub path_prefix: String,
}

impl HttpEndpoint {
    /// The `Host` header value.
    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Parse a base URL such as `http://127.0.0.1:16421` or `http://pdu-broker/lab`.
pub fn parse_base_url(url: &str) -> Result<HttpEndpoint, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not an http:// URL (pdudaemon speaks plain HTTP)"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if path.contains(['?', '#']) {
        return Err(format!(
            "`{url}` has a query or fragment; give only the base URL"
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("`{url}` has an unclosed `[` in its host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || authority.contains('@') {
        return Err(format!("`{url}` has no usable host"));
    }
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| format!("`{url}` has a bad port `{port}`"))?,
        None => 80,
    };
    Ok(HttpEndpoint {
        host: host.to_string(),
        port,
        path_prefix: path.trim_end_matches('/').to_string(),
    })
}

/// Percent-encode a query value: everything but RFC 3986 unreserved characters.
fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The request target of `command` on PDU `pdu_hostname` port `port`, with the reboot
/// delay when one is given.
pub fn request_target(
    path_prefix: &str,
    command: PduCommand,
    pdu_hostname: &str,
    port: u16,
    delay_s: Option<u32>,
) -> String {
    let mut target = format!(
        "{path_prefix}/power/control/{}?hostname={}&port={port}",
        command.as_str(),
        encode_query_value(pdu_hostname)
    );
    if let Some(delay_s) = delay_s {
        let _ = write!(target, "&delay={delay_s}");
    }
    target
}

/// The whole HTTP/1.1 request for `target`; the connection closes after the answer.
pub fn encode_request(endpoint: &HttpEndpoint, target: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: yealink-lab-harness\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        endpoint.host_header()
    )
}

/// The status code and reason phrase of an HTTP response.
pub fn parse_status_line(response: &[u8]) -> Result<(u16, String), String> {
    let end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(response.len());
    let line = std::str::from_utf8(&response[..end])
        .map_err(|_| "expected an HTTP status line, got binary data".to_string())?;
    let mut parts = line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("expected `HTTP/1.x <code> <reason>`, got `{line}`"));
    };
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(format!("expected `HTTP/1.x <code> <reason>`, got `{line}`"));
    }
    let code = code
        .parse()
        .map_err(|_| format!("expected a numeric status code, got `{line}`"))?;
    Ok((code, parts.next().unwrap_or("").to_string()))
}

/// PDU ports behind one pdudaemon PDU entry.
pub struct PdudaemonSwitch {
    endpoint: HttpEndpoint,
    pdu_hostname: String,
    device: DeviceRef,
    timeout: Duration,
}

impl PdudaemonSwitch {
    /// Drive the PDU that pdudaemon (listening at `base_url`) knows as `pdu_hostname`.
    /// Nothing is sent yet: pdudaemon has no request that only checks a PDU.
    pub fn new(device: DeviceRef, base_url: &str, pdu_hostname: &str) -> Result<Self, DriverError> {
        let endpoint = parse_base_url(base_url).map_err(|reason| DriverError::Unsupported {
            device: Box::new(device.clone()),
            request: format!("reach pdudaemon at `{base_url}`"),
            reason,
        })?;
        if pdu_hostname.is_empty() {
            return Err(DriverError::Unsupported {
                device: Box::new(device),
                request: "drive a PDU without a name".into(),
                reason: "set the PDU's hostname as pdudaemon.conf names it".into(),
            });
        }
        Ok(PdudaemonSwitch {
            endpoint,
            pdu_hostname: pdu_hostname.to_string(),
            device,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Wait at most `timeout` for connecting and for the answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Have pdudaemon power-cycle `channel`, waiting `delay_s` seconds (its default, 5, when
    /// `None`) between off and on. Returns once the request is queued.
    pub fn reboot(&mut self, channel: u16, delay_s: Option<u32>) -> Result<(), DriverError> {
        self.request(PduCommand::Reboot, channel, delay_s)
    }

    /// Send one request and insist on `200`.
    fn request(
        &mut self,
        command: PduCommand,
        channel: u16,
        delay_s: Option<u32>,
    ) -> Result<(), DriverError> {
        let target = request_target(
            &self.endpoint.path_prefix,
            command,
            &self.pdu_hostname,
            channel,
            delay_s,
        );
        let shown = format!("GET {target}");
        let response = self
            .round_trip(&encode_request(&self.endpoint, &target))
            .map_err(|e| DriverError::from_io(&self.device, &shown, self.timeout, e))?;
        let status = parse_status_line(&response);
        tracing::debug!(device = %self.device, request = %shown, status = ?status, "pdudaemon");
        match status {
            Ok((200, _)) => Ok(()),
            Ok((code, reason)) => Err(DriverError::Protocol {
                device: Box::new(self.device.clone()),
                command: shown,
                answer: format!("HTTP {code} {reason}"),
                expected: format!(
                    "expected HTTP 200 (request accepted); pdudaemon refuses a PDU or port its \
                     configuration lacks: is `{}` in pdudaemon.conf and port {channel} on it?",
                    self.pdu_hostname
                ),
            }),
            Err(expected) => Err(DriverError::Protocol {
                device: Box::new(self.device.clone()),
                command: shown,
                answer: printable(&response[..response.len().min(80)]),
                expected,
            }),
        }
    }

    /// Connect, send `request`, and read the response until the server closes.
    fn round_trip(&self, request: &str) -> io::Result<Vec<u8>> {
        let address = (self.endpoint.host.as_str(), self.endpoint.port);
        let mut last_error = None;
        let mut stream = None;
        for addr in address.to_socket_addrs().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot resolve pdudaemon host `{}`: {e}",
                    self.endpoint.host
                ),
            )
        })? {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let mut stream = stream.ok_or_else(|| {
            let e = last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound));
            io::Error::new(
                e.kind(),
                format!(
                    "cannot connect to pdudaemon at {}: {e}; check that it is running with \
                     its HTTP listener on (`\"listener\": \"http\"` in pdudaemon.conf)",
                    self.endpoint.host_header()
                ),
            )
        })?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(&chunk[..n]);
                    if response.len() > MAX_RESPONSE_BYTES {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the answer never ends: is this really pdudaemon?",
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A socket read timeout is `WouldBlock` on Unix: the server went silent.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, e));
                }
                Err(e) => return Err(e),
            }
        }
        if response.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "pdudaemon closed the connection without answering",
            ));
        }
        Ok(response)
    }
}

impl PowerSwitch for PdudaemonSwitch {
    fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError> {
        let command = if on { PduCommand::On } else { PduCommand::Off };
        self.request(command, channel, None)
    }

    fn get(&mut self, _channel: u16) -> Result<Option<bool>, DriverError> {
        // pdudaemon only queues requests; it has no way to read a port back.
        Ok(None)
    }

    fn describe(&self) -> String {
        format!(
            "PDU `{}` through pdudaemon at http://{}{}, {}",
            self.pdu_hostname,
            self.endpoint.host_header(),
            self.endpoint.path_prefix,
            self.device
        )
    }
}

/// Above ten minutes pdudaemon is not answering, not slow.
pub const MAX_TIMEOUT_S: u64 = 600;

/// `kind = "pdudaemon"`: a PDU reached through pdudaemon at `url`, named by `pdu`.
pub struct PdudaemonKind;

/// This kind's settings: which PDU behind which pdudaemon.
#[derive(Debug, Clone, PartialEq)]
pub struct PdudaemonSettings {
    /// pdudaemon's HTTP listener, e.g. `http://localhost:16421`.
    pub url: String,
    /// The PDU's hostname as pdudaemon.conf names it.
    pub pdu: String,
    /// How long to wait for pdudaemon; its driver's default when `None`.
    pub timeout_s: Option<u64>,
}

/// The registry's entry for PDUs behind pdudaemon.
pub static PDUDAEMON: PdudaemonKind = PdudaemonKind;

impl RelayBoardKind for PdudaemonKind {
    fn name(&self) -> &'static str {
        "pdudaemon"
    }

    fn reach(&self) -> Reach {
        Reach::Elsewhere("pdudaemon is reached at its `url`")
    }

    fn own_keys(&self) -> &'static [BoardKey] {
        const KEYS: &[BoardKey] = &[
            BoardKey::new("url"),
            BoardKey::new("pdu"),
            BoardKey::new("timeout_s"),
        ];
        KEYS
    }

    fn settings(&self, keys: &mut OwnKeys<'_, '_, '_, '_>) -> Option<RelayKind> {
        let url = keys.required_text(
            "url",
            "a `pdudaemon` board needs `url`: pdudaemon's HTTP listener, such as `http://localhost:16421`",
        );
        let pdu = keys.required_text(
            "pdu",
            "a `pdudaemon` board needs `pdu`: the PDU's hostname as pdudaemon.conf names it",
        );
        let timeout_s = match keys.get::<u64>("timeout_s") {
            Ok(Some(timeout)) if !(1..=MAX_TIMEOUT_S).contains(timeout.get_ref()) => {
                keys.at(
                    &timeout.span(),
                    "timeout_s",
                    format!(
                        "timeout_s must be 1 to {MAX_TIMEOUT_S}, found {}",
                        timeout.get_ref()
                    ),
                );
                None
            }
            Ok(timeout) => Some(timeout.map(Spanned::into_inner)),
            Err(()) => None,
        };
        let settings = PdudaemonSettings {
            url: url?,
            pdu: pdu?,
            timeout_s: timeout_s?,
        };
        Some(RelayKind::new(&PDUDAEMON, settings))
    }

    fn address(&self, kind: &RelayKind) -> Option<String> {
        let PdudaemonSettings { url, pdu, .. } = kind.settings()?;
        Some(format!("{url} pdu {pdu}"))
    }

    fn open(&self, board: &RelayBoard) -> Result<Box<dyn PowerSwitch>, DriverError> {
        let Some(PdudaemonSettings {
            url,
            pdu,
            timeout_s,
        }) = board.kind.settings()
        else {
            return Err(settings_mismatch(self, board));
        };
        let switch = PdudaemonSwitch::new(DeviceRef::relay_board(board), url, pdu)?;
        Ok(Box::new(match timeout_s {
            Some(timeout_s) => switch.with_timeout(Duration::from_secs(*timeout_s)),
            None => switch,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:16421").unwrap(),
            HttpEndpoint {
                host: "127.0.0.1".into(),
                port: 16421,
                path_prefix: String::new()
            }
        );
        assert_eq!(
            parse_base_url("http://broker/lab/").unwrap(),
            HttpEndpoint {
                host: "broker".into(),
                port: 80,
                path_prefix: "/lab".into()
            }
        );
        let v6 = parse_base_url("http://[::1]:8080").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert_eq!(v6.host_header(), "[::1]:8080");
        assert!(parse_base_url("https://broker").is_err());
        assert!(parse_base_url("http://:80").is_err());
        assert!(parse_base_url("http://broker:port").is_err());
        assert!(parse_base_url("http://broker/?x=1").is_err());
    }

    #[test]
    fn builds_request_targets() {
        assert_eq!(
            request_target("", PduCommand::On, "pdu01", 3, None),
            "/power/control/on?hostname=pdu01&port=3"
        );
        assert_eq!(
            request_target("/lab", PduCommand::Reboot, "192.168.10.2", 1, Some(10)),
            "/lab/power/control/reboot?hostname=192.168.10.2&port=1&delay=10"
        );
        assert_eq!(
            request_target("", PduCommand::Off, "rack a&b", 2, None),
            "/power/control/off?hostname=rack%20a%26b&port=2"
        );
    }

    #[test]
    fn encodes_a_closing_get() {
        let endpoint = parse_base_url("http://127.0.0.1:16421").unwrap();
        let request = encode_request(&endpoint, "/power/control/on?hostname=p&port=1");
        assert!(request.starts_with("GET /power/control/on?hostname=p&port=1 HTTP/1.1\r\n"));
        assert!(request.contains("\r\nHost: 127.0.0.1:16421\r\n"));
        assert!(request.contains("\r\nConnection: close\r\n"));
        assert!(request.ends_with("\r\n\r\n"));
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap(),
            (200, "OK".into())
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\n").unwrap(),
            (503, "Service Unavailable".into())
        );
        assert!(parse_status_line(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_status_line(b"HTTP/1.1 2000 OK\r\n").is_err());
    }

    #[test]
    fn cannot_read_state_back() {
        let device = DeviceRef {
            table: "relay_board",
            name: "pdu".into(),
            port: "http://127.0.0.1:16421".into(),
        };
        let mut switch = PdudaemonSwitch::new(device, "http://127.0.0.1:16421", "pdu01").unwrap();
        assert_eq!(switch.get(1).unwrap(), None);
    }

    #[test]
    fn a_bad_base_url_is_a_lab_file_error() {
        let device = DeviceRef {
            table: "relay_board",
            name: "pdu".into(),
            port: "ftp://x".into(),
        };
        let err = PdudaemonSwitch::new(device, "ftp://x", "pdu01")
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
        assert!(!err.is_lab_fault());
    }
}
