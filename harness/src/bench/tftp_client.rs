//! A TFTP read client (RFC 1350, options per RFC 2347/2348/2349, windows per RFC 7440),
//! blocking on one UDP socket: it measures recovery servers the way a bootloader loads
//! from them, one window acknowledged at a time.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const OP_RRQ: u16 = 1;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
const OP_OACK: u16 = 6;
/// RFC 1350's block size, used unless the server acknowledges `blksize`.
const DEFAULT_BLOCK_SIZE: usize = 512;

/// What to ask the server for. `None` leaves an option out of the request, so a request
/// with every option `None` is plain RFC 1350.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// `blksize` (RFC 2348), 8..=65464.
    pub block_size: Option<u16>,
    /// `windowsize` (RFC 7440), 1..=65535.
    pub window_size: Option<u16>,
    /// Ask for `tsize` (RFC 2349) to learn the file size up front.
    pub transfer_size: bool,
    /// How long to wait for a packet before repeating the last one; also sent as the
    /// `timeout` option when any other option is sent.
    pub timeout_s: u8,
    /// Repeats of one packet before giving up.
    pub retries: u32,
    /// The local address to send from (a bench's phone address), or any.
    pub local_ip: Option<IpAddr>,
}

impl Default for FetchOptions {
    fn default() -> FetchOptions {
        FetchOptions {
            block_size: None,
            window_size: None,
            transfer_size: false,
            timeout_s: 1,
            retries: 5,
            local_ip: None,
        }
    }
}

/// What a finished transfer was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes received.
    pub bytes: u64,
    /// Block size in force (512 when the server ignored the option).
    pub block_size: usize,
    /// Window size in force (1 = lock-step).
    pub window_size: u16,
    /// The size the server announced with `tsize`, if it did.
    pub announced_bytes: Option<u64>,
    /// Whether the server acknowledged options (OACK) or started with data.
    pub options_acknowledged: bool,
    /// Packets repeated after a timeout or a gap (0 on a clean loopback run).
    pub repeats: u32,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The local socket failed.
    #[error("TFTP client socket: {0}; check the --from address belongs to this host")]
    Io(#[from] io::Error),
    /// The server sent an ERROR packet.
    #[error("the TFTP server refused {file:?}: error {code} ({message}); check the file is staged")]
    Refused {
        /// The requested name.
        file: String,
        /// TFTP error code.
        code: u16,
        /// The server's text.
        message: String,
    },
    /// Nothing came back after all repeats.
    #[error(
        "no answer from the TFTP server {server} for {file:?} after {retries} repeats; check \
         that it runs and that UDP is not filtered"
    )]
    Timeout {
        /// The server asked.
        server: SocketAddr,
        /// The requested name.
        file: String,
        /// Repeats made.
        retries: u32,
    },
    /// The server broke the protocol.
    #[error("the TFTP server broke the protocol for {file:?}: {what}")]
    Protocol {
        /// The requested name.
        file: String,
        /// What was wrong.
        what: String,
    },
}

/// Reads `file` from `server` into `out`.
pub fn fetch(
    server: SocketAddr,
    file: &str,
    options: &FetchOptions,
    out: &mut impl Write,
) -> Result<Fetched, FetchError> {
    let local_ip = options.local_ip.unwrap_or(match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let socket = UdpSocket::bind((local_ip, 0))?;
    socket.set_read_timeout(Some(Duration::from_secs(u64::from(
        options.timeout_s.max(1),
    ))))?;
    let request = read_request(file, options);
    let protocol = |what: String| FetchError::Protocol {
        file: file.to_owned(),
        what,
    };

    let mut block_size = DEFAULT_BLOCK_SIZE;
    let mut window_size: u16 = 1;
    let mut announced_bytes = None;
    let mut options_acknowledged = false;
    // The server's transfer port (its TID), learnt from its first answer.
    let mut peer: Option<SocketAddr> = None;
    let mut last_sent = request.clone();
    socket.send_to(&request, server)?;

    let mut buffer = vec![0u8; 65_536];
    let mut received: u64 = 0;
    let mut last_block: u16 = 0;
    let mut in_window: u16 = 0;
    let mut repeats: u32 = 0;
    let mut silent_rounds: u32 = 0;
    // After a gap, one ACK asks for the rest; more would make the server resend the window
    // once per stray block.
    let mut gap_acked = false;
    loop {
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                silent_rounds += 1;
                if silent_rounds > options.retries {
                    return Err(FetchError::Timeout {
                        server,
                        file: file.to_owned(),
                        retries: options.retries,
                    });
                }
                repeats += 1;
                socket.send_to(&last_sent, peer.unwrap_or(server))?;
                in_window = 0;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match peer {
            // Another port than the transfer's: a stray, not ours (RFC 1350 TID rule).
            Some(peer) if peer != from => continue,
            Some(_) => {}
            None if from.ip() == server.ip() || server.ip().is_unspecified() => peer = Some(from),
            None => continue,
        }
        silent_rounds = 0;
        let packet = &buffer[..len];
        if len < 4 {
            return Err(protocol(format!("a {len}-byte packet")));
        }
        let opcode = u16::from_be_bytes([packet[0], packet[1]]);
        match opcode {
            OP_ERROR => {
                let message = packet[4..]
                    .split(|&b| b == 0)
                    .next()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .unwrap_or_default();
                return Err(FetchError::Refused {
                    file: file.to_owned(),
                    code: u16::from_be_bytes([packet[2], packet[3]]),
                    message,
                });
            }
            OP_OACK if received == 0 && last_block == 0 => {
                for (name, value) in parse_options(&packet[2..]) {
                    let number = || {
                        value
                            .parse::<u64>()
                            .map_err(|_| protocol(format!("option {name} = {value:?}")))
                    };
                    match name.as_str() {
                        "blksize" => block_size = number()? as usize,
                        "windowsize" => window_size = number()?.clamp(1, 65_535) as u16,
                        "tsize" => announced_bytes = Some(number()?),
                        "timeout" => {}
                        other => return Err(protocol(format!("unrequested option {other}"))),
                    }
                }
                options_acknowledged = true;
                last_sent = ack(0);
                socket.send_to(&last_sent, from)?;
            }
            OP_DATA => {
                let block = u16::from_be_bytes([packet[2], packet[3]]);
                let data = &packet[4..];
                if block != last_block.wrapping_add(1) {
                    // A repeat of an acknowledged block, or a gap: acknowledge what we
                    // hold once, so the server resends from there.
                    if !gap_acked {
                        last_sent = ack(last_block);
                        socket.send_to(&last_sent, from)?;
                        repeats += 1;
                        gap_acked = true;
                        in_window = 0;
                    }
                    continue;
                }
                if data.len() > block_size {
                    return Err(protocol(format!(
                        "block {block} holds {} bytes, more than the {block_size} agreed",
                        data.len()
                    )));
                }
                out.write_all(data)?;
                received += data.len() as u64;
                last_block = block;
                gap_acked = false;
                in_window += 1;
                let last = data.len() < block_size;
                if last || in_window >= window_size {
                    last_sent = ack(block);
                    socket.send_to(&last_sent, from)?;
                    in_window = 0;
                }
                if last {
                    return Ok(Fetched {
                        bytes: received,
                        block_size,
                        window_size,
                        announced_bytes,
                        options_acknowledged,
                        repeats,
                    });
                }
            }
            other => return Err(protocol(format!("unexpected opcode {other}"))),
        }
    }
}

/// The RRQ packet: name, `octet`, then the options asked for.
pub fn read_request(file: &str, options: &FetchOptions) -> Vec<u8> {
    let mut packet = OP_RRQ.to_be_bytes().to_vec();
    let mut field = |text: &str| {
        packet.extend_from_slice(text.as_bytes());
        packet.push(0);
    };
    field(file);
    field("octet");
    let mut asked = Vec::new();
    if let Some(size) = options.block_size {
        asked.push(("blksize", size.to_string()));
    }
    if options.transfer_size {
        asked.push(("tsize", "0".to_owned()));
    }
    if let Some(size) = options.window_size {
        asked.push(("windowsize", size.to_string()));
    }
    if !asked.is_empty() {
        asked.push(("timeout", options.timeout_s.max(1).to_string()));
    }
    for (name, value) in asked {
        field(name);
        field(&value);
    }
    packet
}

fn ack(block: u16) -> Vec<u8> {
    let mut packet = OP_ACK.to_be_bytes().to_vec();
    packet.extend_from_slice(&block.to_be_bytes());
    packet
}

/// Name/value pairs of an OACK body, names lowercased (RFC 2347: case-insensitive).
fn parse_options(body: &[u8]) -> Vec<(String, String)> {
    let fields: Vec<String> = body
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    fields
        .chunks(2)
        .filter(|pair| pair.len() == 2 && !pair[0].is_empty())
        .map(|pair| (pair[0].to_ascii_lowercase(), pair[1].clone()))
        .collect()
}

/// One timed fetch, for the benchmark.
pub fn timed_fetch(
    server: SocketAddr,
    file: &str,
    options: &FetchOptions,
) -> Result<(Fetched, Duration), FetchError> {
    let started = Instant::now();
    let fetched = fetch(server, file, options, &mut io::sink())?;
    Ok((fetched, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_options_is_plain_rfc_1350() {
        let packet = read_request("T46G.rom", &FetchOptions::default());
        assert_eq!(packet, b"\x00\x01T46G.rom\x00octet\x00");
    }

    #[test]
    fn a_windowed_request_carries_every_option() {
        let options = FetchOptions {
            block_size: Some(1428),
            window_size: Some(16),
            transfer_size: true,
            ..FetchOptions::default()
        };
        let packet = read_request("T46G.bin", &options);
        assert_eq!(
            packet,
            b"\x00\x01T46G.bin\x00octet\x00blksize\x001428\x00tsize\x000\x00windowsize\x0016\x00timeout\x001\x00"
        );
        assert_eq!(
            parse_options(b"BLKSIZE\x001428\x00tsize\x00123\x00"),
            [
                ("blksize".into(), "1428".into()),
                ("tsize".into(), "123".into())
            ]
        );
    }
}
