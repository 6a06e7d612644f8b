//! The async-tftp handler: read-only, every read resolved inside the folder of the bench
//! the client is, and one event per transfer when it ends.

use std::fs::File;
use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_tftp::packet;

use super::jail::{self, Refusal};
use crate::endpoints::directory::{BenchDirectory, canonical_client};
use crate::endpoints::events::{EndpointEvent, EventBus};

/// Read-ahead per transfer: a few windows of the largest block, so a windowed transfer
/// costs one read system call per several blocks.
const READ_AHEAD_BYTES: usize = 128 * 1024;

/// What the event of a transfer says when the transfer ended before the end of the file
/// (the client stopped acknowledging, or the server was stopped).
pub const ABORTED: &str = "transfer aborted";

/// What the event of a refused write request says: the TFTP error text, and what was
/// asked, since the transcript otherwise reads every TFTP event as a read.
pub const WRITE_REFUSED: &str = "Permission denied (write request)";

/// Serves `<root>/<bench>/<name>` to the phone of `<bench>`, nothing else.
pub struct RecoveryHandler {
    root: PathBuf,
    directory: Arc<BenchDirectory>,
    bus: EventBus,
}

impl RecoveryHandler {
    /// A handler for benches' folders under `root`, publishing on `bus`.
    pub fn new(root: PathBuf, directory: Arc<BenchDirectory>, bus: EventBus) -> RecoveryHandler {
        RecoveryHandler {
            root,
            directory,
            bus,
        }
    }

    fn refuse(&self, client: SocketAddr, file: &str, refusal: &Refusal, text: &str) {
        self.directory.publish(
            &self.bus,
            EndpointEvent::Tftp {
                client,
                file: file.to_owned(),
                bytes: 0,
                error: Some(text.to_owned()),
            },
        );
        tracing::info!(%client, file, %refusal, "TFTP request refused");
    }

    fn open(&self, client: SocketAddr, file: &str) -> Result<jail::Opened, Refusal> {
        let Some(bench) = self.directory.bench_at(client.ip()) else {
            tracing::warn!(
                %client,
                file,
                "TFTP read from an address that is no bench of the lab: refused (check the \
                 bench's `ip` in the lab file)"
            );
            return Err(Refusal::NotFound(format!(
                "{file:?}: {} is no bench",
                client.ip()
            )));
        };
        jail::open_inside(&self.root.join(bench), file)
    }
}

impl async_tftp::server::Handler for RecoveryHandler {
    type Reader = TransferReader;
    type Writer = futures::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(TransferReader, Option<u64>), packet::Error> {
        let client = canonical_client(*client);
        // async-tftp hands the name over as it was in the request (a UTF-8 string).
        let file = path.to_string_lossy().into_owned();
        match self.open(client, &file) {
            Ok(opened) => {
                tracing::debug!(%client, file, path = %opened.path.display(), "TFTP read");
                let size_bytes = opened.size_bytes;
                let reader = TransferReader {
                    source: BufReader::with_capacity(READ_AHEAD_BYTES, opened.file),
                    read_bytes: 0,
                    at_end: false,
                    report: Report {
                        client,
                        file,
                        directory: self.directory.clone(),
                        bus: self.bus.clone(),
                    },
                };
                Ok((reader, Some(size_bytes)))
            }
            Err(refusal) => {
                self.refuse(client, &file, &refusal, refusal.wire_text());
                Err(refusal.to_packet())
            }
        }
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<futures::io::Sink, packet::Error> {
        let client = canonical_client(*client);
        let file = path.to_string_lossy().into_owned();
        let refusal = Refusal::AccessViolation(format!("{file:?}: write not supported"));
        self.refuse(client, &file, &refusal, WRITE_REFUSED);
        Err(refusal.to_packet())
    }
}

/// Who to tell when a transfer ends.
struct Report {
    client: SocketAddr,
    file: String,
    directory: Arc<BenchDirectory>,
    bus: EventBus,
}

/// The file of one transfer. async-tftp drops it when the transfer is over (last block
/// acknowledged, retries exhausted, or the server stopped), which is when the event is
/// published.
///
/// Reads are plain blocking reads: the staged files are local copies or hard links in the
/// endpoints' own temp folder, so they come from the page cache in microseconds, and a
/// thread-pool hop per block (what `blocking::Unblock` does) would cost more than the read.
pub struct TransferReader {
    source: BufReader<File>,
    read_bytes: u64,
    at_end: bool,
    report: Report,
}

impl futures::io::AsyncRead for TransferReader {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = this.source.read(buf);
        if let Ok(len) = result {
            this.read_bytes += len as u64;
            if len == 0 && !buf.is_empty() {
                this.at_end = true;
            }
        }
        Poll::Ready(result)
    }
}

impl Drop for TransferReader {
    fn drop(&mut self) {
        // The whole file was read: async-tftp reads the last block only after every
        // earlier one was acknowledged, so at most the final window was still in flight.
        let error = (!self.at_end).then(|| ABORTED.to_owned());
        if let Some(error) = &error {
            tracing::warn!(
                client = %self.report.client,
                file = self.report.file,
                bytes = self.read_bytes,
                "TFTP {error}: the client stopped acknowledging (or the server stopped)"
            );
        }
        self.report.directory.publish(
            &self.report.bus,
            EndpointEvent::Tftp {
                client: self.report.client,
                file: std::mem::take(&mut self.report.file),
                bytes: self.read_bytes,
                error,
            },
        );
    }
}
