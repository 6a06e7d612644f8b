//! One read, from its first DATA (or OACK) to its last ACK, on a socket of its own (the
//! transfer's TID). It ends when the file is acknowledged, when the client sends an ERROR
//! (RFC 1350), or when a window went unacknowledged `MAX_SEND_RETRIES + 1` times; on any
//! end its file, socket and slot are released and one event says how it went.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::jail::Opened;
use super::limits::Slot;
use super::options::Granted;
use super::packet::{self, ErrorCode, Reply};
use crate::endpoints::directory::BenchDirectory;
use crate::endpoints::events::{EndpointEvent, EventBus, TftpRequest};

/// Retransmissions of one window before a transfer is dropped: with the largest timeout
/// granted, an abandoned transfer holds its file and socket at most
/// `(MAX_SEND_RETRIES + 1) * MAX_CLIENT_TIMEOUT_S` = 30 s; with the default 1 s timeout, 6 s.
pub const MAX_SEND_RETRIES: u32 = 5;

/// Read-ahead per transfer: a few windows of the largest block, so a windowed transfer
/// costs one read system call per several blocks.
const READ_AHEAD_BYTES: usize = 128 * 1024;

/// What the event of a transfer says when the transfer ended before the end of the file
/// (the client stopped acknowledging, or the server was stopped).
pub const ABORTED: &str = "transfer aborted";

/// A read request the server accepted: everything it holds until it ends.
pub struct Transfer {
    /// Taken by `run`, which owns it from then on.
    socket: Option<std::net::UdpSocket>,
    peer: SocketAddr,
    source: BufReader<File>,
    /// Where the file really is (inside the bench's folder).
    path: PathBuf,
    granted: Granted,
    oack: Option<Vec<u8>>,
    report: Report,
    /// Freed when the transfer is dropped, whatever ended it.
    _slot: Slot,
}

/// Who to tell when a transfer ends, and what.
pub struct Report {
    /// The client the file went to, as the event names it.
    pub client: SocketAddr,
    /// The file asked for.
    pub file: String,
    /// The bench's folder, which publishes the event under the bench it serves.
    pub directory: Arc<BenchDirectory>,
    /// Where the event goes, so the scenario sees the transfer end.
    pub bus: EventBus,
    read_bytes: u64,
    /// `None` once the file was sent in full; else what the event says.
    error: Option<String>,
}

impl Report {
    /// A report that says `transfer aborted` unless the transfer completes.
    pub fn new(
        client: SocketAddr,
        file: String,
        directory: Arc<BenchDirectory>,
        bus: EventBus,
    ) -> Report {
        Report {
            client,
            file,
            directory,
            bus,
            read_bytes: 0,
            error: Some(ABORTED.to_owned()),
        }
    }
}

/// Why a transfer stopped before its last ACK.
enum Stop {
    /// The client sent an ERROR: it gave up.
    ClientError(u16, String),
    /// A window went unacknowledged through every retransmission.
    Silent,
    /// Reading the file or using the socket failed.
    Io(std::io::Error),
}

impl Transfer {
    /// A transfer of `opened` to `peer` over `socket` (already bound), holding `slot`.
    pub fn new(
        socket: std::net::UdpSocket,
        peer: SocketAddr,
        opened: Opened,
        granted: Granted,
        report: Report,
        slot: Slot,
    ) -> Transfer {
        Transfer {
            socket: Some(socket),
            peer,
            source: BufReader::with_capacity(READ_AHEAD_BYTES, opened.file),
            path: opened.path,
            oack: granted.oack(opened.size_bytes),
            granted,
            report,
            _slot: slot,
        }
    }

    /// The file sent: its canonical path, inside the bench's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends the file; every end publishes the transfer's event (on drop, so a transfer
    /// cut by the server stopping is reported too).
    pub async fn run(mut self) {
        let Some(socket) = self.socket.take() else {
            return;
        };
        let socket = match socket
            .set_nonblocking(true)
            .and_then(|()| UdpSocket::from_std(socket))
        {
            Ok(socket) => socket,
            Err(error) => {
                tracing::warn!(client = %self.peer, %error, "TFTP transfer socket unusable");
                return;
            }
        };
        match self.exchange(&socket).await {
            Ok(()) => self.report.error = None,
            Err(Stop::ClientError(code, message)) => {
                tracing::info!(
                    client = %self.peer,
                    file = self.report.file,
                    code,
                    message,
                    "TFTP transfer ended by the client's error"
                );
                self.report.error = Some(format!("{ABORTED}: client error {code} {message}"));
            }
            Err(Stop::Silent) => {}
            Err(Stop::Io(error)) => {
                tracing::warn!(client = %self.peer, file = self.report.file, %error, "TFTP transfer failed");
                let packet = packet::error(ErrorCode::NotDefined, "Server read error");
                let _ = socket.send_to(&packet, self.peer).await;
            }
        }
    }

    async fn exchange(&mut self, socket: &UdpSocket) -> Result<(), Stop> {
        if let Some(oack) = self.oack.take() {
            // The OACK is acknowledged by ACK 0.
            self.send_window(socket, &VecDeque::from([oack]), 0).await?;
        }
        let block_size = usize::from(self.granted.block_size);
        let mut window: VecDeque<Vec<u8>> = VecDeque::new();
        let mut window_base: u16 = 1;
        let mut read_all = false;
        loop {
            while !read_all && window.len() < usize::from(self.granted.window_size) {
                let block = window_base.wrapping_add(window.len() as u16);
                let datagram = self.read_block(block, block_size).map_err(Stop::Io)?;
                read_all = datagram.len() - 4 < block_size;
                window.push_back(datagram);
            }
            if window.is_empty() {
                return Ok(());
            }
            let acked = self.send_window(socket, &window, window_base).await?;
            window.drain(..usize::from(acked));
            window_base = window_base.wrapping_add(acked);
        }
    }

    /// The DATA packet of `block`: up to `block_size` bytes of the file.
    fn read_block(&mut self, block: u16, block_size: usize) -> std::io::Result<Vec<u8>> {
        let mut datagram = Vec::with_capacity(4 + block_size);
        datagram.extend_from_slice(&packet::data_header(block));
        // Plain blocking reads: the staged files are local copies or hard links in the
        // endpoints' own temp folder, served from the page cache in microseconds.
        let read = (&mut self.source)
            .take(block_size as u64)
            .read_to_end(&mut datagram)?;
        self.report.read_bytes += read as u64;
        Ok(datagram)
    }

    /// Sends `window` (its first packet is block `base`) until the client acknowledges a
    /// block of it; returns how many blocks are acknowledged.
    async fn send_window(
        &mut self,
        socket: &UdpSocket,
        window: &VecDeque<Vec<u8>>,
        base: u16,
    ) -> Result<u16, Stop> {
        let mut buffer = [0u8; packet::MAX_DATAGRAM_BYTES];
        for _ in 0..=MAX_SEND_RETRIES {
            for datagram in window {
                socket
                    .send_to(datagram, self.peer)
                    .await
                    .map_err(Stop::Io)?;
            }
            let deadline = Instant::now() + self.granted.timeout;
            loop {
                let received =
                    tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await;
                let (len, from) = match received {
                    Err(_) => break,
                    Ok(Err(error)) => return Err(Stop::Io(error)),
                    Ok(Ok(received)) => received,
                };
                // Another port is no part of this transfer (RFC 1350 TIDs): ignored.
                if from != self.peer {
                    continue;
                }
                match packet::parse_reply(&buffer[..len]) {
                    Reply::Ack(block) => {
                        let offset = block.wrapping_sub(base);
                        if usize::from(offset) < window.len() {
                            return Ok(offset + 1);
                        }
                        // An ACK of an earlier window (a duplicate): wait on.
                    }
                    Reply::Error { code, message } => return Err(Stop::ClientError(code, message)),
                    Reply::Other => {}
                }
            }
        }
        Err(Stop::Silent)
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if let Some(error) = &self.error
            && error == ABORTED
        {
            tracing::warn!(
                client = %self.client,
                file = self.file,
                bytes = self.read_bytes,
                "TFTP {error}: the client stopped acknowledging (or the server stopped)"
            );
        }
        self.directory.publish(
            &self.bus,
            EndpointEvent::Tftp {
                client: self.client,
                request: TftpRequest::Read,
                file: std::mem::take(&mut self.file),
                bytes: self.read_bytes,
                error: self.error.take(),
            },
        );
    }
}
