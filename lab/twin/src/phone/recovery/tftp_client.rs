//! The bootloader's TFTP client: reads one file in octet mode (RFC 1350), asking for the
//! options `blksize 1428`, `tsize 0` and `timeout 1` (RFC 2347, 2348, 2349). It takes an
//! option acknowledgement or, from a server without options, plain DATA with 512-byte
//! blocks. An ERROR packet, a broken exchange or five unanswered retransmissions abort the
//! read (ASSUMED: the T4x recovery client's options are documented nowhere public).

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use crate::phone::net::{Net, NetError};

/// The block size the phone asks for: fits an Ethernet frame with IP and UDP headers.
pub const ASKED_BLKSIZE: u16 = 1428;
/// The retransmission timeout the phone asks the server for, whole seconds (RFC 2349).
pub const ASKED_TIMEOUT_S: u8 = 1;
/// Retransmissions of one packet before the read is given up.
pub const RETRIES: u32 = 5;
/// The block size of RFC 1350 when no option is acknowledged.
pub const DEFAULT_BLKSIZE: usize = 512;
/// The largest file the phone reads: more than any T4x image (7-27 MB), less than its RAM.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

const OP_RRQ: u16 = 1;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
const OP_OACK: u16 = 6;
/// RFC 1350 error codes the client sends.
const ERR_NOT_DEFINED: u16 = 0;
const ERR_DISK_FULL: u16 = 3;
const ERR_ILLEGAL_OPERATION: u16 = 4;
const ERR_UNKNOWN_TID: u16 = 5;
/// RFC 2347: the client refuses the acknowledged options.
const ERR_OPTION_REFUSED: u16 = 8;

/// Why a TFTP read did not deliver the whole file; the recovery aborts with this reason.
#[derive(Debug, Error)]
pub enum TftpError {
    /// The phone could not send (no address, cable pulled, socket refused).
    #[error("TFTP read of {file}: {source}")]
    Net {
        /// The file asked for.
        file: String,
        /// The network failure.
        source: NetError,
    },
    /// The server answered with an ERROR packet.
    #[error(
        "TFTP server refused {file}: error {code} \"{message}\" (check the file is staged in the bench's TFTP folder)"
    )]
    Refused {
        /// The file asked for.
        file: String,
        /// The RFC 1350 error code.
        code: u16,
        /// The server's error text.
        message: String,
    },
    /// Nothing came back for a packet and its retransmissions.
    #[error(
        "no answer from TFTP server {server} for {file} after {tries} transmissions (check the server address given to the phone and that it is running)"
    )]
    Timeout {
        /// The file asked for.
        file: String,
        /// The server's address.
        server: SocketAddr,
        /// Transmissions of the unanswered packet.
        tries: u32,
    },
    /// The server broke the protocol (bad packet, refused option value, wrong block).
    #[error("TFTP exchange for {file} broken: {reason}")]
    Protocol {
        /// The file asked for.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// The file is larger than any firmware the phone can hold.
    #[error("{file} is larger than {limit} bytes: not a recovery file for this phone")]
    TooLarge {
        /// The file asked for.
        file: String,
        /// The limit.
        limit: u64,
    },
    /// The file's length differs from the size the server announced (`tsize`).
    #[error("{file}: the server announced {announced} bytes but sent {received}")]
    SizeMismatch {
        /// The file asked for.
        file: String,
        /// The acknowledged `tsize`.
        announced: u64,
        /// Bytes received.
        received: u64,
    },
}

/// A TFTP packet as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A read request: file, mode and options in order.
    Rrq {
        /// The file name.
        file: String,
        /// The transfer mode.
        mode: String,
        /// `(name, value)` pairs.
        options: Vec<(String, String)>,
    },
    /// A block of the file.
    Data {
        /// The block number (from 1, wrapping).
        block: u16,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// An acknowledgement.
    Ack {
        /// The block acknowledged (0 acknowledges an OACK).
        block: u16,
    },
    /// An error; the transfer is over.
    Error {
        /// The RFC 1350 code.
        code: u16,
        /// The text.
        message: String,
    },
    /// An option acknowledgement (RFC 2347).
    Oack {
        /// `(name, value)` pairs the server accepted.
        options: Vec<(String, String)>,
    },
}

impl Packet {
    /// The packet's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let strings = |out: &mut Vec<u8>, items: &[&str]| {
            for item in items {
                out.extend_from_slice(item.as_bytes());
                out.push(0);
            }
        };
        match self {
            Packet::Rrq {
                file,
                mode,
                options,
            } => {
                out.extend(OP_RRQ.to_be_bytes());
                strings(&mut out, &[file, mode]);
                for (name, value) in options {
                    strings(&mut out, &[name, value]);
                }
            }
            Packet::Data { block, data } => {
                out.extend(OP_DATA.to_be_bytes());
                out.extend(block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => {
                out.extend(OP_ACK.to_be_bytes());
                out.extend(block.to_be_bytes());
            }
            Packet::Error { code, message } => {
                out.extend(OP_ERROR.to_be_bytes());
                out.extend(code.to_be_bytes());
                strings(&mut out, &[message]);
            }
            Packet::Oack { options } => {
                out.extend(OP_OACK.to_be_bytes());
                for (name, value) in options {
                    strings(&mut out, &[name, value]);
                }
            }
        }
        out
    }

    /// Reads a packet; the error says what is malformed.
    pub fn decode(bytes: &[u8]) -> Result<Packet, String> {
        let opcode = bytes
            .get(0..2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or("packet shorter than its opcode")?;
        let body = &bytes[2..];
        let number = || {
            body.get(0..2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| format!("opcode {opcode} without its block number or code"))
        };
        match opcode {
            OP_RRQ => {
                let mut fields = strings(body)?.into_iter();
                let (Some(file), Some(mode)) = (fields.next(), fields.next()) else {
                    return Err("read request without file name and mode".into());
                };
                Ok(Packet::Rrq {
                    file,
                    mode,
                    options: pairs(fields.collect())?,
                })
            }
            OP_DATA => Ok(Packet::Data {
                block: number()?,
                data: body[2..].to_vec(),
            }),
            OP_ACK => Ok(Packet::Ack { block: number()? }),
            OP_ERROR => {
                let code = number()?;
                let text = &body[2..];
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                Ok(Packet::Error {
                    code,
                    message: String::from_utf8_lossy(&text[..end]).into_owned(),
                })
            }
            OP_OACK => Ok(Packet::Oack {
                options: pairs(strings(body)?)?,
            }),
            other => Err(format!("unknown opcode {other}")),
        }
    }
}

/// NUL-terminated strings back to back.
fn strings(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.last() != Some(&0) {
        return Err("a string is not NUL-terminated".into());
    }
    bytes[..bytes.len() - 1]
        .split(|&b| b == 0)
        .map(|s| {
            std::str::from_utf8(s)
                .map(str::to_owned)
                .map_err(|_| "a string is not ASCII".to_owned())
        })
        .collect()
}

fn pairs(items: Vec<String>) -> Result<Vec<(String, String)>, String> {
    if items.len() % 2 != 0 {
        return Err("an option without its value".into());
    }
    Ok(items
        .chunks(2)
        .map(|pair| (pair[0].to_ascii_lowercase(), pair[1].clone()))
        .collect())
}

/// The read request the phone sends for `file`.
pub fn read_request(file: &str) -> Packet {
    Packet::Rrq {
        file: file.to_owned(),
        mode: "octet".to_owned(),
        options: vec![
            ("blksize".into(), ASKED_BLKSIZE.to_string()),
            ("tsize".into(), "0".into()),
            ("timeout".into(), ASKED_TIMEOUT_S.to_string()),
        ],
    }
}

/// What the server's option acknowledgement settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Negotiated {
    blksize: usize,
    tsize: Option<u64>,
}

/// Checks an OACK against what was asked (RFC 2347: the server may only lower `blksize`,
/// must echo `timeout`, and may not add options).
fn negotiate(options: &[(String, String)]) -> Result<Negotiated, String> {
    let mut negotiated = Negotiated {
        blksize: DEFAULT_BLKSIZE,
        tsize: None,
    };
    for (name, value) in options {
        let number = value
            .parse::<u64>()
            .map_err(|_| format!("option {name} has value {value:?}, not a number"))?;
        match name.as_str() {
            "blksize" if (8..=u64::from(ASKED_BLKSIZE)).contains(&number) => {
                negotiated.blksize = number as usize;
            }
            "blksize" => return Err(format!("blksize {number} is not in 8..={ASKED_BLKSIZE}")),
            "tsize" => negotiated.tsize = Some(number),
            "timeout" if number == u64::from(ASKED_TIMEOUT_S) => {}
            "timeout" => {
                return Err(format!(
                    "timeout {number} is not the {ASKED_TIMEOUT_S} asked"
                ));
            }
            other => return Err(format!("option {other} was not asked for")),
        }
    }
    Ok(negotiated)
}

/// One read in progress: the socket, the server's transfer id once known, the last packet
/// sent (for retransmission).
struct Transfer<'a> {
    net: &'a Net,
    socket: tokio::net::UdpSocket,
    file: &'a str,
    server: SocketAddr,
    peer: Option<SocketAddr>,
    last: Vec<u8>,
}

impl Transfer<'_> {
    async fn send(&mut self, packet: Packet) -> Result<(), TftpError> {
        self.last = packet.encode();
        let to = self.peer.unwrap_or(self.server);
        self.net
            .send_to(&self.socket, &self.last, to)
            .await
            .map_err(|source| self.net_error(source))
    }

    async fn resend(&self) -> Result<(), TftpError> {
        let to = self.peer.unwrap_or(self.server);
        self.net
            .send_to(&self.socket, &self.last, to)
            .await
            .map_err(|source| self.net_error(source))
    }

    /// Tells the server why the client gives up, then returns that reason. Best effort: the
    /// read is over either way.
    async fn abort(&self, code: u16, reason: String) -> TftpError {
        let packet = Packet::Error {
            code,
            message: reason.clone(),
        };
        if let Some(peer) = self.peer {
            let _ = self.net.send_to(&self.socket, &packet.encode(), peer).await;
        }
        TftpError::Protocol {
            file: self.file.to_owned(),
            reason,
        }
    }

    fn net_error(&self, source: NetError) -> TftpError {
        TftpError::Net {
            file: self.file.to_owned(),
            source,
        }
    }
}

/// Reads `file` from the TFTP server at `server`, waiting `wait` for each answer before a
/// retransmission. Sends from the phone's address; fails at once without a network.
pub async fn read_file(
    net: &Net,
    server: SocketAddr,
    file: &str,
    wait: Duration,
) -> Result<Vec<u8>, TftpError> {
    let socket = net.udp(0).await.map_err(|source| TftpError::Net {
        file: file.to_owned(),
        source,
    })?;
    let mut transfer = Transfer {
        net,
        socket,
        file,
        server,
        peer: None,
        last: Vec::new(),
    };
    transfer.send(read_request(file)).await?;

    let mut blksize = DEFAULT_BLKSIZE;
    let mut tsize = None;
    let mut expected: u16 = 1;
    let mut data: Vec<u8> = Vec::new();
    let mut transmissions = 1;
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match tokio::time::timeout(wait, transfer.socket.recv_from(&mut buf)).await
        {
            Err(_) if transmissions > RETRIES => {
                return Err(TftpError::Timeout {
                    file: file.to_owned(),
                    server,
                    tries: transmissions,
                });
            }
            Err(_) => {
                transmissions += 1;
                transfer.resend().await?;
                continue;
            }
            Ok(Err(source)) => {
                return Err(transfer.net_error(NetError::Socket {
                    addr: server,
                    source,
                }));
            }
            Ok(Ok(received)) => received,
        };
        if from.ip() != server.ip() {
            continue; // not the server: a stray datagram
        }
        if transfer.peer.is_some_and(|peer| peer != from) {
            // RFC 1350: a packet from another transfer id gets an error; ours goes on.
            let packet = Packet::Error {
                code: ERR_UNKNOWN_TID,
                message: "Unknown transfer ID".into(),
            };
            let _ = net.send_to(&transfer.socket, &packet.encode(), from).await;
            continue;
        }
        let packet = match Packet::decode(&buf[..n]) {
            Ok(packet) => packet,
            Err(reason) => {
                transfer.peer.get_or_insert(from);
                return Err(transfer.abort(ERR_ILLEGAL_OPERATION, reason).await);
            }
        };
        match packet {
            Packet::Error { code, message } => {
                return Err(TftpError::Refused {
                    file: file.to_owned(),
                    code,
                    message,
                });
            }
            Packet::Oack { options } if transfer.peer.is_none() => {
                transfer.peer = Some(from);
                let negotiated = match negotiate(&options) {
                    Ok(negotiated) => negotiated,
                    Err(reason) => return Err(transfer.abort(ERR_OPTION_REFUSED, reason).await),
                };
                blksize = negotiated.blksize;
                tsize = negotiated.tsize;
                if tsize.is_some_and(|size| size > MAX_FILE_BYTES) {
                    transfer.abort(ERR_DISK_FULL, "file too large".into()).await;
                    return Err(TftpError::TooLarge {
                        file: file.to_owned(),
                        limit: MAX_FILE_BYTES,
                    });
                }
                transfer.send(Packet::Ack { block: 0 }).await?;
                transmissions = 1;
            }
            Packet::Data { block, data: bytes } => {
                if transfer.peer.is_none() {
                    // A server without options answers the request with block 1 at 512 bytes.
                    if block != 1 {
                        transfer.peer = Some(from);
                        let reason = format!("first DATA is block {block}, not 1");
                        return Err(transfer.abort(ERR_ILLEGAL_OPERATION, reason).await);
                    }
                    transfer.peer = Some(from);
                }
                if block == expected.wrapping_sub(1) {
                    // Our ACK was lost or late: the server sent the block again.
                    transfer.resend().await?;
                    continue;
                }
                if block != expected {
                    let reason = format!("DATA block {block} while expecting {expected}");
                    return Err(transfer.abort(ERR_ILLEGAL_OPERATION, reason).await);
                }
                if bytes.len() > blksize {
                    let reason = format!("block of {} bytes, blksize is {blksize}", bytes.len());
                    return Err(transfer.abort(ERR_ILLEGAL_OPERATION, reason).await);
                }
                if (data.len() + bytes.len()) as u64 > MAX_FILE_BYTES {
                    transfer.abort(ERR_DISK_FULL, "file too large".into()).await;
                    return Err(TftpError::TooLarge {
                        file: file.to_owned(),
                        limit: MAX_FILE_BYTES,
                    });
                }
                data.extend_from_slice(&bytes);
                transfer.send(Packet::Ack { block }).await?;
                transmissions = 1;
                if bytes.len() < blksize {
                    // A short block ends the file (RFC 1350).
                    let received = data.len() as u64;
                    return match tsize {
                        Some(announced) if announced != received => Err(TftpError::SizeMismatch {
                            file: file.to_owned(),
                            announced,
                            received,
                        }),
                        _ => Ok(data),
                    };
                }
                expected = expected.wrapping_add(1);
            }
            // A late OACK duplicate or an ACK from a confused server: not for us.
            Packet::Oack { .. } | Packet::Ack { .. } => {}
            Packet::Rrq { .. } => {
                let reason = "the server sent a read request".to_owned();
                return Err(transfer.abort(ERR_NOT_DEFINED, reason).await);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_request_asks_for_the_three_options_in_octet_mode() {
        let bytes = read_request("T46G.bin").encode();
        assert_eq!(
            bytes,
            b"\x00\x01T46G.bin\x00octet\x00blksize\x001428\x00tsize\x000\x00timeout\x001\x00"
                .to_vec()
        );
        assert_eq!(Packet::decode(&bytes), Ok(read_request("T46G.bin")));
    }

    #[test]
    fn server_packets_decode() {
        assert_eq!(
            Packet::decode(b"\x00\x05\x00\x01File not found\0"),
            Ok(Packet::Error {
                code: 1,
                message: "File not found".into()
            })
        );
        assert_eq!(
            Packet::decode(b"\x00\x06BLKSIZE\x001428\x00tsize\x00700\x00"),
            Ok(Packet::Oack {
                options: vec![
                    ("blksize".into(), "1428".into()),
                    ("tsize".into(), "700".into())
                ]
            })
        );
        assert_eq!(
            Packet::decode(b"\x00\x03\x00\x02abc"),
            Ok(Packet::Data {
                block: 2,
                data: b"abc".to_vec()
            })
        );
        assert!(Packet::decode(b"\x00\x06blksize\0").is_err());
        assert!(Packet::decode(b"\x00\x09").is_err());
        assert!(Packet::decode(b"\x00").is_err());
    }

    #[test]
    fn option_acknowledgements_are_checked_against_the_request() {
        let opts = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            negotiate(&opts(&[
                ("blksize", "1024"),
                ("tsize", "9000"),
                ("timeout", "1")
            ])),
            Ok(Negotiated {
                blksize: 1024,
                tsize: Some(9000)
            })
        );
        assert_eq!(
            negotiate(&opts(&[("tsize", "10")])),
            Ok(Negotiated {
                blksize: DEFAULT_BLKSIZE,
                tsize: Some(10)
            })
        );
        assert!(negotiate(&opts(&[("blksize", "1468")])).is_err());
        assert!(negotiate(&opts(&[("timeout", "5")])).is_err());
        assert!(negotiate(&opts(&[("windowsize", "4")])).is_err());
    }
}
