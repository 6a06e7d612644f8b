//! Just enough SIP (RFC 3261) for a registrar: the request line and headers of one UDP
//! datagram, and the headers a response must copy. Bodies are never interpreted.

use std::fmt::Write as _;

/// Why a datagram is not a SIP request at all. Such a datagram is dropped: nothing in it
/// says where or how an answer would go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipParseError {
    /// SIP messages are UTF-8 text; binary noise on the port (a scanner, a wrong protocol).
    #[error("datagram is not UTF-8 text: not SIP (is something else sending to the SIP port?)")]
    NotUtf8,
    /// Keep-alives (`\r\n\r\n`) and empty datagrams.
    #[error("empty datagram (a keep-alive or an empty packet)")]
    Empty,
    /// The first line is not `METHOD sip:uri SIP/2.0`; a response arriving here also ends up
    /// so (the registrar never sends requests, so no response is expected).
    #[error("first line {0:?} is not a SIP/2.0 request line")]
    NoRequestLine(String),
}

/// One parsed SIP request. Header names are canonical (`Via`, `Call-ID`, ...), compact forms
/// expanded; values are trimmed and unfolded but otherwise as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipRequest {
    /// As sent (`REGISTER`, `OPTIONS`, ...).
    pub method: String,
    /// The request URI, e.g. `sip:127.0.0.1`.
    pub uri: String,
    /// Every header in the order sent, repeated names (several `Via`) kept apart.
    pub headers: Vec<(String, String)>,
    /// Header lines without a `:`; they make the request malformed.
    pub bad_lines: Vec<String>,
    /// Bytes after the blank line.
    pub body_len: usize,
}

/// Expands RFC 3261 compact header forms and normalises the case of the headers the
/// registrar reads, so lookups need not care how the phone spelt them.
fn canonical_name(name: &str) -> String {
    let canonical = match name.to_ascii_lowercase().as_str() {
        "v" | "via" => "Via",
        "f" | "from" => "From",
        "t" | "to" => "To",
        "i" | "call-id" => "Call-ID",
        "cseq" => "CSeq",
        "m" | "contact" => "Contact",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "k" | "supported" => "Supported",
        "expires" => "Expires",
        "user-agent" => "User-Agent",
        "max-forwards" => "Max-Forwards",
        _ => return name.to_owned(),
    };
    canonical.to_owned()
}

/// Parses one datagram as a SIP request. Missing or malformed headers do not fail here: the
/// registrar needs what is there to address its `400 Bad Request` (see `SipRequest::defect`).
pub fn parse_request(datagram: &[u8]) -> Result<SipRequest, SipParseError> {
    let text = std::str::from_utf8(datagram).map_err(|_| SipParseError::NotUtf8)?;
    let text = text.trim_start_matches(['\r', '\n']);
    if text.trim().is_empty() {
        return Err(SipParseError::Empty);
    }
    let (head, body_len) = match text.find("\r\n\r\n") {
        Some(end) => (&text[..end], text.len() - end - 4),
        None => match text.find("\n\n") {
            Some(end) => (&text[..end], text.len() - end - 2),
            None => (text, 0),
        },
    };
    let mut lines = head
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let (method, uri) = parse_request_line(request_line)
        .ok_or_else(|| SipParseError::NoRequestLine(request_line.to_owned()))?;

    // Unfold continuation lines (RFC 3261 7.3.1) before splitting name from value.
    let mut unfolded: Vec<String> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if let Some(previous) = unfolded.last_mut() {
                previous.push(' ');
                previous.push_str(line.trim());
                continue;
            }
        }
        unfolded.push(line.to_owned());
    }
    let mut headers = Vec::new();
    let mut bad_lines = Vec::new();
    for line in unfolded {
        match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                headers.push((canonical_name(name.trim()), value.trim().to_owned()));
            }
            _ => bad_lines.push(line),
        }
    }
    Ok(SipRequest {
        method: method.to_owned(),
        uri: uri.to_owned(),
        headers,
        bad_lines,
        body_len,
    })
}

fn parse_request_line(line: &str) -> Option<(&str, &str)> {
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let uri = parts.next()?;
    let version = parts.next()?;
    let is_token = !method.is_empty() && method.bytes().all(|b| b.is_ascii_alphabetic());
    let has_scheme = uri.contains(':');
    (parts.next().is_none() && is_token && has_scheme && version.eq_ignore_ascii_case("SIP/2.0"))
        .then_some((method, uri))
}

impl SipRequest {
    /// The first value of header `name` (canonical name, e.g. `Call-ID`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in the order sent.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a response can be addressed at all: without a `Via` the phone could not
    /// match an answer to its transaction, so a malformed request without one is dropped.
    pub fn can_be_answered(&self) -> bool {
        self.header("Via").is_some()
    }

    /// What makes this request malformed (RFC 3261 8.1.1 mandatory headers, CSeq and
    /// Content-Length syntax), or `None` when it is well-formed enough to act on.
    pub fn defect(&self) -> Option<String> {
        if let Some(line) = self.bad_lines.first() {
            return Some(format!("header line without ':': {line:?}"));
        }
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if self.header(name).is_none_or(str::is_empty) {
                return Some(format!("missing {name} header"));
            }
        }
        let cseq = self.header("CSeq").unwrap_or_default();
        match cseq.split_whitespace().collect::<Vec<_>>().as_slice() {
            [number, method] if number.parse::<u32>().is_ok() => {
                if !method.eq_ignore_ascii_case(&self.method) {
                    return Some(format!("CSeq method {method} differs from {}", self.method));
                }
            }
            _ => return Some(format!("malformed CSeq {cseq:?}")),
        }
        if let Some(length) = self.header("Content-Length") {
            match length.parse::<usize>() {
                Ok(declared) if declared > self.body_len => {
                    return Some(format!(
                        "Content-Length {declared} exceeds the {} body bytes received",
                        self.body_len
                    ));
                }
                Ok(_) => {}
                Err(_) => return Some(format!("malformed Content-Length {length:?}")),
            }
        }
        None
    }

    /// The `Expires` header as a number of seconds, when present and numeric.
    pub fn expires_s(&self) -> Option<u32> {
        self.header("Expires")?.parse().ok()
    }
}

/// The user part of the URI in a `From`/`To`/`Contact` value or a bare URI:
/// `"Desk" <sip:0015654aa937@10.0.0.1>;tag=1` gives `0015654aa937`.
pub fn uri_user(value: &str) -> Option<&str> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.split(';').next().unwrap_or_default(),
    };
    let (_scheme, rest) = uri.trim().split_once(':')?;
    let (user_info, _host) = rest.split_once('@')?;
    // `user;param:password` forms: the user is what precedes either.
    let user = user_info.split([';', ':']).next().unwrap_or_default();
    (!user.is_empty()).then_some(user)
}

/// A parameter of a header value, looked for after the URI (`;tag=`, `;expires=`).
pub fn header_param<'a>(value: &'a str, param: &str) -> Option<&'a str> {
    let params = match value.rfind('>') {
        Some(end) => &value[end + 1..],
        None => value.split_once(';').map(|(_, p)| p).unwrap_or_default(),
    };
    params.split(';').find_map(|item| {
        let (name, val) = item.split_once('=').unwrap_or((item, ""));
        name.trim()
            .eq_ignore_ascii_case(param)
            .then_some(val.trim())
    })
}

/// A response to one request: status line, the headers copied from the request, then any
/// extra headers, then an empty body.
#[derive(Debug, Clone)]
pub struct SipResponse {
    /// Status code, e.g. 403.
    pub status: u16,
    /// Reason phrase, e.g. `Forbidden`.
    pub reason: String,
    /// Headers beyond the copied ones (`Contact`, `Expires`, `Allow`, `Warning`).
    pub extra_headers: Vec<(String, String)>,
}

impl SipResponse {
    /// A response with no extra headers yet.
    pub fn new(status: u16, reason: &str) -> SipResponse {
        SipResponse {
            status,
            reason: reason.to_owned(),
            extra_headers: Vec::new(),
        }
    }

    /// Adds a header after the copied ones.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> SipResponse {
        self.extra_headers.push((name.to_owned(), value.into()));
        self
    }

    /// The datagram answering `request`: every `Via` in order, `From`, `To` (with `to_tag`
    /// added when the request's has no tag, as a UAS must), `Call-ID` and `CSeq` copied, so
    /// the phone matches it to its transaction.
    pub fn render(&self, request: &SipRequest, to_tag: &str, server: &str) -> String {
        let mut out = format!("SIP/2.0 {} {}\r\n", self.status, self.reason);
        for via in request.headers_named("Via") {
            let _ = write!(out, "Via: {via}\r\n");
        }
        if let Some(from) = request.header("From") {
            let _ = write!(out, "From: {from}\r\n");
        }
        if let Some(to) = request.header("To") {
            if header_param(to, "tag").is_some() {
                let _ = write!(out, "To: {to}\r\n");
            } else {
                let _ = write!(out, "To: {to};tag={to_tag}\r\n");
            }
        }
        for name in ["Call-ID", "CSeq"] {
            if let Some(value) = request.header(name) {
                let _ = write!(out, "{name}: {value}\r\n");
            }
        }
        for (name, value) in &self.extra_headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let _ = write!(out, "Server: {server}\r\nContent-Length: 0\r\n\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.46:5060;branch=z9hG4bK1\r\n\
        Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK0\r\n\
        From: <sip:0015654aa937@127.0.0.1>;tag=abc\r\n\
        To: \"Desk\" <sip:0015654aa937@127.0.0.1>\r\n\
        Call-ID: 42@127.0.0.46\r\n\
        CSeq: 1 REGISTER\r\n\
        Contact: <sip:0015654aa937@127.0.0.46:5060>\r\n\
        Expires: 600\r\n\
        User-Agent: Yealink SIP-T46G 28.83.0.120\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn parses_request_line_and_headers() {
        let request = parse_request(REGISTER.as_bytes()).unwrap();
        assert_eq!(request.method, "REGISTER");
        assert_eq!(request.uri, "sip:127.0.0.1");
        assert_eq!(request.headers_named("Via").count(), 2);
        assert_eq!(request.header("Call-ID"), Some("42@127.0.0.46"));
        assert_eq!(request.expires_s(), Some(600));
        assert_eq!(request.defect(), None);
        assert_eq!(
            uri_user(request.header("To").unwrap()),
            Some("0015654aa937")
        );
    }

    #[test]
    fn expands_compact_forms_and_unfolds() {
        let text = "OPTIONS sip:x@127.0.0.1 SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK2\n\
                    f: <sip:a@h>;tag=1\nt: sip:b@h\ni: 7\nCSeq: 3\n OPTIONS\nl: 0\n\n";
        let request = parse_request(text.as_bytes()).unwrap();
        assert_eq!(request.header("Via"), Some("SIP/2.0/UDP h;branch=z9hG4bK2"));
        assert_eq!(request.header("CSeq"), Some("3 OPTIONS"));
        assert_eq!(request.header("Call-ID"), Some("7"));
        assert_eq!(request.defect(), None);
    }

    #[test]
    fn finds_defects() {
        let no_call_id = REGISTER.replace("Call-ID: 42@127.0.0.46\r\n", "");
        let request = parse_request(no_call_id.as_bytes()).unwrap();
        assert_eq!(request.defect().as_deref(), Some("missing Call-ID header"));
        assert!(request.can_be_answered());

        let bad_cseq = REGISTER.replace("CSeq: 1 REGISTER", "CSeq: one REGISTER");
        assert!(
            parse_request(bad_cseq.as_bytes())
                .unwrap()
                .defect()
                .unwrap()
                .contains("CSeq")
        );
        let long = REGISTER.replace("Content-Length: 0", "Content-Length: 10");
        assert!(
            parse_request(long.as_bytes())
                .unwrap()
                .defect()
                .unwrap()
                .contains("exceeds")
        );
    }

    #[test]
    fn refuses_non_requests() {
        assert_eq!(
            parse_request(&[0xff, 0xfe, 0x00]),
            Err(SipParseError::NotUtf8)
        );
        assert_eq!(parse_request(b"\r\n\r\n"), Err(SipParseError::Empty));
        assert!(matches!(
            parse_request(b"SIP/2.0 200 OK\r\n\r\n"),
            Err(SipParseError::NoRequestLine(_))
        ));
    }

    #[test]
    fn uri_user_and_params() {
        assert_eq!(uri_user("<sip:alice;x=1:pw@host>;tag=2"), Some("alice"));
        assert_eq!(uri_user("sip:bob@host;tag=2"), Some("bob"));
        assert_eq!(uri_user("<sip:host>"), None);
        assert_eq!(header_param("<sip:a@h;lr>;tag=77", "tag"), Some("77"));
        assert_eq!(header_param("<sip:a@h;tag=1>", "tag"), None);
        assert_eq!(header_param("sip:a@h;expires=30", "expires"), Some("30"));
    }

    #[test]
    fn response_copies_transaction_headers() {
        let request = parse_request(REGISTER.as_bytes()).unwrap();
        let text = SipResponse::new(200, "OK")
            .with("Expires", "600")
            .render(&request, "t1", "srv");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "SIP/2.0 200 OK");
        assert_eq!(lines[1], "Via: SIP/2.0/UDP 127.0.0.46:5060;branch=z9hG4bK1");
        assert_eq!(lines[2], "Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK0");
        assert!(lines.contains(&"To: \"Desk\" <sip:0015654aa937@127.0.0.1>;tag=t1"));
        assert!(lines.contains(&"CSeq: 1 REGISTER"));
        assert!(text.ends_with("Expires: 600\r\nServer: srv\r\nContent-Length: 0\r\n\r\n"));
    }
}
