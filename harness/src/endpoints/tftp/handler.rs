//! What the server answers one datagram on its port: a transfer of a file inside the
//! folder of the bench the client is, or a TFTP error. Read-only; bounded options; limited
//! transfers at once. Every answer is decided here, without sending, so it can be checked
//! on any bytes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::jail::{self, Refusal};
use super::limits::{Admission, NoSlot, TransferLimits};
use super::options;
use super::packet;
use super::refusal::out_of_files;
use super::transfer::{Report, Transfer};
use crate::endpoints::directory::{BenchDirectory, canonical_client};
use crate::endpoints::events::{EndpointEvent, EventBus, TftpRequest};

/// The server's name in lab-fault events and logs.
pub const SERVER_NAME: &str = "TFTP recovery server";

/// Refusals per client address logged and published per second; a flood beyond it is
/// still answered, but counted instead of logged, so it cannot drown the log or overflow
/// the event bus the running cases read.
const REFUSALS_REPORTED_PER_S: u32 = 20;

/// Lab faults per client address published per second: the first one ends the case of the
/// client's bench, and counts of its own, so a flood of other refusals cannot hide it.
const LAB_FAULTS_REPORTED_PER_S: u32 = 1;

/// Client addresses whose refusal counts are kept at once (a spoofed flood from many
/// addresses resets the counts instead of growing the table).
const REFUSAL_COUNTERS_KEPT: usize = 1024;

/// What the server does with one datagram.
pub enum Answer {
    /// Run this transfer (its file is open, its socket bound, its slot taken).
    Serve(Box<Transfer>),
    /// Send this ERROR packet back from the server's port.
    Refuse(Vec<u8>),
    /// Nothing: a client's ERROR packet, or a request retransmitted while its transfer runs.
    Ignore,
}

/// Serves `<root>/<bench>/<name>` to the phone of `<bench>`, nothing else.
pub struct RecoveryHandler {
    root: PathBuf,
    directory: Arc<BenchDirectory>,
    bus: EventBus,
    admission: Admission,
    reported: RefusalCounter,
    faults_reported: RefusalCounter,
}

impl RecoveryHandler {
    /// A handler for benches' folders under `root`, publishing on `bus`, running at most
    /// what `limits` allow at once.
    pub fn new(
        root: PathBuf,
        directory: Arc<BenchDirectory>,
        bus: EventBus,
        limits: TransferLimits,
    ) -> RecoveryHandler {
        RecoveryHandler {
            root,
            directory,
            bus,
            admission: Admission::new(limits),
            reported: RefusalCounter::new(REFUSALS_REPORTED_PER_S),
            faults_reported: RefusalCounter::new(LAB_FAULTS_REPORTED_PER_S),
        }
    }

    /// Transfers running now (each holds one file and one socket).
    pub fn running(&self) -> usize {
        self.admission.running()
    }

    /// Decides the answer to `datagram` from `peer`. A transfer's socket is bound on
    /// `local_ip`, the address the client reached.
    pub fn answer(&mut self, peer: SocketAddr, local_ip: IpAddr, datagram: &[u8]) -> Answer {
        let client = canonical_client(peer);
        if packet::is_error(datagram) {
            tracing::debug!(%client, "TFTP error packet on the server port: ignored");
            return Answer::Ignore;
        }
        let request = match packet::parse_request(datagram) {
            Ok(request) => request,
            Err(malformed) => {
                if self.reported.allow(client.ip()) {
                    tracing::info!(%client, %malformed, "TFTP datagram refused: no request");
                }
                return Answer::Refuse(Refusal::Malformed(malformed.to_string()).to_packet());
            }
        };
        let kind = request.kind;
        let file = request.file.clone();
        match self.serve(peer, client, local_ip, request) {
            Ok(answer) => answer,
            Err(refusal) => {
                self.refused(client, kind, &file, &refusal);
                Answer::Refuse(refusal.to_packet())
            }
        }
    }

    fn serve(
        &mut self,
        peer: SocketAddr,
        client: SocketAddr,
        local_ip: IpAddr,
        request: packet::Request,
    ) -> Result<Answer, Refusal> {
        if request.kind == TftpRequest::Write {
            return Err(Refusal::AccessViolation(format!(
                "{:?}: the server is read-only",
                request.file
            )));
        }
        let Some(bench) = self.directory.bench_at(client.ip()) else {
            return Err(Refusal::NotFound(format!(
                "{:?}: {} is no bench of the lab (check the bench's `ip` in the lab file)",
                request.file,
                client.ip()
            )));
        };
        let granted = options::negotiate(&request.options)?;
        // The slot is taken before any descriptor is opened: over the limits, a request
        // costs nothing but its answer.
        let slot = match self.admission.admit(peer) {
            Ok(slot) => slot,
            Err(NoSlot::Duplicate) => return Ok(Answer::Ignore),
            Err(NoSlot::Busy(refusal)) => return Err(refusal),
        };
        let opened = jail::open_inside(&self.root.join(bench), &request.file)?;
        let socket = std::net::UdpSocket::bind((local_ip, 0)).map_err(|error| {
            if out_of_files(&error) {
                Refusal::OutOfFiles(format!("transfer socket: {error}"))
            } else {
                Refusal::Busy(format!("no transfer socket: {error}"))
            }
        })?;
        tracing::debug!(%client, file = request.file, path = %opened.path.display(), ?granted, "TFTP read starts");
        let report = Report::new(
            client,
            request.file,
            self.directory.clone(),
            self.bus.clone(),
        );
        Ok(Answer::Serve(Box::new(Transfer::new(
            socket, peer, opened, granted, report, slot,
        ))))
    }

    /// Logs and publishes a refusal (within the per-client budget); a refusal that is the
    /// lab's failure is also published as a lab fault of the client's bench.
    fn refused(&mut self, client: SocketAddr, kind: TftpRequest, file: &str, refusal: &Refusal) {
        let request = kind.word();
        if refusal.is_lab_fault() && self.faults_reported.allow(client.ip()) {
            tracing::warn!(%client, file, %refusal, "TFTP {request} request refused: the lab's fault");
            self.directory.publish(
                &self.bus,
                EndpointEvent::LabFault {
                    client,
                    server: SERVER_NAME,
                    why: format!("{request} of {file:?} refused: {refusal}"),
                },
            );
        }
        if !self.reported.allow(client.ip()) {
            return;
        }
        tracing::info!(%client, file, %refusal, "TFTP {request} request refused");
        self.directory.publish(
            &self.bus,
            EndpointEvent::Tftp {
                client,
                request: kind,
                file: file.to_owned(),
                bytes: 0,
                error: Some(refusal.wire_text()),
            },
        );
    }
}

/// Refusals reported per client address in the current second.
#[derive(Debug)]
struct RefusalCounter {
    budget: u32,
    second: Option<Instant>,
    counts: HashMap<IpAddr, u32>,
    suppressed: u64,
}

impl RefusalCounter {
    fn new(budget: u32) -> RefusalCounter {
        RefusalCounter {
            budget,
            second: None,
            counts: HashMap::new(),
            suppressed: 0,
        }
    }

    /// Whether a refusal of `ip` is still within its budget for this second.
    fn allow(&mut self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let new_second = self
            .second
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1));
        if new_second || self.counts.len() >= REFUSAL_COUNTERS_KEPT {
            if self.suppressed > 0 {
                tracing::warn!(
                    refusals = self.suppressed,
                    "TFTP refusals answered but not logged (a flood)"
                );
            }
            self.second = Some(now);
            self.counts.clear();
            self.suppressed = 0;
        }
        let count = self.counts.entry(ip).or_default();
        *count += 1;
        if *count > self.budget {
            self.suppressed += 1;
            false
        } else {
            true
        }
    }
}
