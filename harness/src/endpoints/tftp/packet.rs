//! TFTP on the wire (RFC 1350, options per RFC 2347/2348/2349/7440): reading what a client
//! sends, writing what the server answers. Parsing only borrows the datagram; every string
//! it keeps is bounded by the datagram's length.

use super::super::events::TftpRequest;

const OP_RRQ: u16 = 1;
const OP_WRQ: u16 = 2;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
const OP_OACK: u16 = 6;

/// The largest datagram the server reads as a request or a reply. A request with every
/// option the server knows fits in a few hundred bytes; anything longer is truncated and
/// then refused as malformed.
pub const MAX_DATAGRAM_BYTES: usize = 1024;

/// The TFTP error codes the server sends (RFC 1350, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    /// 0: see the message (the server is busy or out of resources).
    NotDefined = 0,
    /// 1.
    FileNotFound = 1,
    /// 2: outside the jail, or a write.
    AccessViolation = 2,
    /// 4: not a request the server understands.
    IllegalOperation = 4,
    /// 8: an option value the server will not accept.
    OptionRefused = 8,
}

/// One request read off the server's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Read or write.
    pub kind: TftpRequest,
    /// The file name as sent (UTF-8, no NUL).
    pub file: String,
    /// The options the server knows, as the client sent them (RFC 2347).
    pub options: RequestOptions,
}

/// Options of a request, each as the client asked; `None` when absent or not a number.
/// An option the server does not know is left out, as RFC 2347 asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// `blksize` (RFC 2348).
    pub block_size: Option<u64>,
    /// `tsize` (RFC 2349): 0 in a read request, asking for the file size.
    pub transfer_size: Option<u64>,
    /// `timeout` in seconds (RFC 2349).
    pub timeout_s: Option<u64>,
    /// `windowsize` (RFC 7440).
    pub window_size: Option<u64>,
}

/// Why a datagram on the server's port is no request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Shorter than an opcode.
    #[error("{0} bytes, shorter than a TFTP opcode")]
    TooShort(usize),
    /// An opcode of a transfer (DATA, ACK, OACK) or none at all.
    #[error("opcode {0} is no read or write request")]
    NotARequest(u16),
    /// A field without its terminating NUL, or not UTF-8.
    #[error("the {0} field is not NUL-terminated UTF-8")]
    Field(&'static str),
    /// A transfer mode other than octet or netascii.
    #[error("transfer mode {0:?} is not served (octet only)")]
    Mode(String),
}

/// Whether `datagram` is a TFTP ERROR packet: a client's error on the server's port gets no
/// answer (answering an error with an error could ping-pong forever).
pub fn is_error(datagram: &[u8]) -> bool {
    opcode(datagram) == Some(OP_ERROR)
}

fn opcode(datagram: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*datagram.first()?, *datagram.get(1)?]))
}

/// Splits off one NUL-terminated UTF-8 field.
fn field<'a>(rest: &mut &'a [u8], what: &'static str) -> Result<&'a str, Malformed> {
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or(Malformed::Field(what))?;
    let text = std::str::from_utf8(&rest[..end]).map_err(|_| Malformed::Field(what))?;
    *rest = &rest[end + 1..];
    Ok(text)
}

/// Reads a read or write request.
pub fn parse_request(datagram: &[u8]) -> Result<Request, Malformed> {
    let kind = match opcode(datagram) {
        None => return Err(Malformed::TooShort(datagram.len())),
        Some(OP_RRQ) => TftpRequest::Read,
        Some(OP_WRQ) => TftpRequest::Write,
        Some(other) => return Err(Malformed::NotARequest(other)),
    };
    let mut rest = &datagram[2..];
    let file = field(&mut rest, "file name")?;
    let mode = field(&mut rest, "mode")?;
    // netascii is served as the bytes staged: recovery images are binary, and the
    // bootloaders ask for octet; a netascii client gets what a plain `cat` would give.
    if !mode.eq_ignore_ascii_case("octet") && !mode.eq_ignore_ascii_case("netascii") {
        return Err(Malformed::Mode(mode.chars().take(32).collect()));
    }
    let mut options = RequestOptions::default();
    while !rest.is_empty() {
        let name = field(&mut rest, "option name")?;
        let value = field(&mut rest, "option value")?;
        let number = value.parse::<u64>().ok();
        // RFC 2347: names are case-insensitive; the first of a repeated option counts.
        let slot = if name.eq_ignore_ascii_case("blksize") {
            &mut options.block_size
        } else if name.eq_ignore_ascii_case("tsize") {
            &mut options.transfer_size
        } else if name.eq_ignore_ascii_case("timeout") {
            &mut options.timeout_s
        } else if name.eq_ignore_ascii_case("windowsize") {
            &mut options.window_size
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = number;
        }
    }
    Ok(Request {
        kind,
        file: file.to_owned(),
        options,
    })
}

/// What a client sends on a transfer's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// ACK of a block (0 acknowledges the OACK).
    Ack(u16),
    /// The client gives up: the transfer ends at once.
    Error {
        /// The client's error code.
        code: u16,
        /// Its message, lossily decoded.
        message: String,
    },
    /// Anything else: ignored.
    Other,
}

/// Reads a client's packet on a transfer's port.
pub fn parse_reply(datagram: &[u8]) -> Reply {
    match opcode(datagram) {
        Some(OP_ACK) if datagram.len() == 4 => {
            Reply::Ack(u16::from_be_bytes([datagram[2], datagram[3]]))
        }
        Some(OP_ERROR) if datagram.len() >= 4 => {
            let text = &datagram[4..];
            let text = text.split(|&b| b == 0).next().unwrap_or_default();
            Reply::Error {
                code: u16::from_be_bytes([datagram[2], datagram[3]]),
                message: String::from_utf8_lossy(text).chars().take(128).collect(),
            }
        }
        _ => Reply::Other,
    }
}

/// An ERROR packet.
pub fn error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(5 + message.len());
    bytes.extend_from_slice(&OP_ERROR.to_be_bytes());
    bytes.extend_from_slice(&(code as u16).to_be_bytes());
    bytes.extend(message.bytes().filter(|&b| b != 0));
    bytes.push(0);
    bytes
}

/// An OACK with the options the server grants, in the order given.
pub fn oack(options: &[(&str, u64)]) -> Vec<u8> {
    let mut bytes = OP_OACK.to_be_bytes().to_vec();
    for (name, value) in options {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.to_string().as_bytes());
        bytes.push(0);
    }
    bytes
}

/// The header of a DATA packet; the block's bytes follow it.
pub fn data_header(block: u16) -> [u8; 4] {
    let [op_hi, op_lo] = OP_DATA.to_be_bytes();
    let [hi, lo] = block.to_be_bytes();
    [op_hi, op_lo, hi, lo]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_options_is_read_and_unknown_options_are_left_out() {
        let request = parse_request(
            b"\x00\x01T46G.rom\x00OCTET\x00BlkSize\x001428\x00tsize\x000\x00color\x00red\x00\
              timeout\x00255\x00timeout\x001\x00windowsize\x00x\x00",
        )
        .unwrap();
        assert_eq!(request.kind, TftpRequest::Read);
        assert_eq!(request.file, "T46G.rom");
        assert_eq!(
            request.options,
            RequestOptions {
                block_size: Some(1428),
                transfer_size: Some(0),
                timeout_s: Some(255),
                window_size: None,
            }
        );
        assert_eq!(
            parse_request(b"\x00\x02x\x00octet\x00").unwrap().kind,
            TftpRequest::Write
        );
    }

    #[test]
    fn what_is_no_request_is_named() {
        assert_eq!(parse_request(b"\x00"), Err(Malformed::TooShort(1)));
        assert_eq!(
            parse_request(b"\x00\x04\x00\x01"),
            Err(Malformed::NotARequest(4))
        );
        assert_eq!(
            parse_request(b"\x00\x01name"),
            Err(Malformed::Field("file name"))
        );
        assert_eq!(
            parse_request(b"\x00\x01name\x00mail\x00"),
            Err(Malformed::Mode("mail".into()))
        );
        assert_eq!(
            parse_request(b"\x00\x01name\x00octet\x00blksize\x00"),
            Err(Malformed::Field("option value"))
        );
        assert!(is_error(b"\x00\x05\x00\x00\x00"));
    }

    #[test]
    fn replies_and_answers_round_trip() {
        assert_eq!(parse_reply(b"\x00\x04\x01\x02"), Reply::Ack(0x0102));
        assert_eq!(parse_reply(b"\x00\x04\x01"), Reply::Other);
        assert_eq!(
            parse_reply(b"\x00\x05\x00\x03full\x00"),
            Reply::Error {
                code: 3,
                message: "full".into()
            }
        );
        assert_eq!(
            error(ErrorCode::OptionRefused, "no"),
            b"\x00\x05\x00\x08no\x00"
        );
        assert_eq!(oack(&[("tsize", 7)]), b"\x00\x06tsize\x007\x00");
        assert_eq!(data_header(258), [0, 3, 1, 2]);
    }
}
