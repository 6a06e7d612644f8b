//! A bench owned by this process, from lease to release: the one lifecycle that `run`,
//! `repro`, the hand commands, `lab check` and the health check share, so none of them
//! takes a lease, replays a journal or makes a bench safe in its own way.
//!
//! 1. [`claim`] takes the bench's lease (waiting as allowed), keeps it renewed, and opens
//!    its crash journal. Nothing is switched yet, so a claim can be given up as it is
//!    (`lab check`).
//! 2. [`Claim::take_over`] attaches the bench's devices and, when the journal says a
//!    predecessor died or gave up with the bench unsafe, makes it safe first.
//! 3. [`OwnedBench::close`] makes the bench safe (every device tried, whatever the others
//!    did), notes in the journal what could not be done, and gives the lease up.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::lab::Bench;
use crate::outcome::Outcome;
use crate::rack::{BenchRig, Rack, SafeReport};
use crate::safety::journal::{Journal, JournalEntry, JournalError, Leftover};
use crate::safety::lock::{BenchLock, Lease, LockError, LockWait, acquire};
use crate::safety::service::WaitTicket;

/// Why a bench could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another process owns it: its cases are skipped, naming the owner.
    #[error(transparent)]
    Busy(LockError),
    /// The lock folder is unusable.
    #[error(transparent)]
    Lock(LockError),
    /// The crash journal is unusable: nothing may be switched without it.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl ClaimError {
    /// The outcome of the bench's cases: a busy bench is not this run's to use; an
    /// unusable lock folder or journal is the lab's fault.
    pub fn outcome(&self) -> Outcome {
        match self {
            ClaimError::Busy(_) => Outcome::Skipped,
            ClaimError::Lock(_) | ClaimError::Journal(_) => Outcome::LabFault,
        }
    }
}

/// A bench whose lease this process holds, before any of its devices is touched.
pub struct Claim {
    bench: Bench,
    lock: BenchLock,
    journal: Arc<Journal>,
    /// The lease of a dead or hung owner this claim replaced.
    pub reclaimed: Option<Lease>,
}

/// Takes `bench`'s lease for `purpose`, waiting for another owner as `wait` allows
/// (`on_wait` hears who holds it), keeps it renewed, and opens the bench's journal.
pub async fn claim(
    lock_dir: &Path,
    bench: &Bench,
    purpose: &str,
    wait: LockWait,
    mut on_wait: impl FnMut(&Lease),
) -> Result<Claim, ClaimError> {
    // While this process waits, `lab status` lists it among the bench's waiters.
    let mut ticket: Option<WaitTicket> = None;
    let queued = |holder: &Lease| {
        if ticket.is_none() {
            ticket = WaitTicket::take(lock_dir, &bench.name, purpose);
        }
        on_wait(holder);
    };
    let acquired = acquire(lock_dir, &bench.name, purpose, wait, queued).await;
    drop(ticket);
    let (mut lock, reclaimed) = acquired.map_err(|e| match e {
        e @ LockError::Busy { .. } => ClaimError::Busy(e),
        e => ClaimError::Lock(e),
    })?;
    if let Some(dead) = &reclaimed {
        tracing::warn!(bench = %bench.name, "took over the lease of a dead or hung owner: {dead}");
    }
    lock.keep_renewed();
    let journal = Arc::new(Journal::open(lock_dir, &bench.name)?);
    Ok(Claim {
        bench: bench.clone(),
        lock,
        journal,
        reclaimed,
    })
}

impl Claim {
    /// The bench claimed.
    pub fn bench(&self) -> &Bench {
        &self.bench
    }

    /// What the journal says a predecessor left on the bench.
    pub fn leftover(&self) -> Result<Leftover, JournalError> {
        self.journal.leftover()
    }

    /// Gives the lease up without having touched a device.
    pub fn give_up(self) {
        release_lease(self.lock);
    }

    /// Attaches the bench's devices from `rack`. When a predecessor left the bench unsafe
    /// (it died, or gave up with a device not answering), the bench is made safe first and
    /// [`OwnedBench::takeover`] says what was found and done.
    pub async fn take_over(self, rack: &Rack) -> OwnedBench {
        let rig = rack.rig(&self.bench).with_journal(self.journal.clone());
        let takeover = match self.journal.leftover() {
            Ok(left) if left.is_empty() => Takeover::Clean,
            Ok(left) => {
                let report = rig.make_safe(&left.held).await;
                Takeover::Restored {
                    found: describe_leftover(&self.bench.name, &left),
                    report: Box::new(report),
                }
            }
            Err(e) => Takeover::Restored {
                found: format!("its journal could not be read ({e})"),
                report: Box::new(rig.make_safe(&BTreeMap::new()).await),
            },
        };
        if let Takeover::Restored { found, report } = &takeover {
            if report.is_safe() {
                tracing::warn!(bench = %self.bench.name, "{found}; made safe: {report}");
            } else {
                tracing::error!(bench = %self.bench.name, "{found}; could not be made safe: {report}");
            }
        }
        OwnedBench {
            rig,
            journal: self.journal,
            lock: self.lock,
            takeover,
        }
    }
}

fn describe_leftover(bench: &str, left: &Leftover) -> String {
    let mut what = Vec::new();
    if !left.held.is_empty() {
        let keys: Vec<&str> = left.held.values().map(String::as_str).collect();
        what.push(format!("keys possibly held: {}", keys.join(", ")));
    }
    if left.network_pulled {
        what.push("network cable possibly pulled".into());
    }
    if let Some(on) = left.power {
        what.push(format!(
            "power last switched {}",
            if on { "on" } else { "off" }
        ));
    }
    if let Some(why) = &left.unreadable {
        what.push(format!("journal unreadable: {why}"));
    }
    let who = match &left.left_unsafe {
        Some(reason) => format!("bench {bench} was left unsafe by an earlier owner ({reason})"),
        None => format!("bench {bench} was left by a crashed or killed process"),
    };
    if what.is_empty() {
        who
    } else {
        format!("{who}: {}", what.join("; "))
    }
}

/// What taking a bench over found.
#[derive(Debug, Clone)]
pub enum Takeover {
    /// The journal was empty: the previous owner left the bench safe.
    Clean,
    /// A predecessor left the bench unsafe; it was made safe (or not) as the report says.
    Restored {
        /// What the journal said, in words.
        found: String,
        /// How making it safe went.
        report: Box<SafeReport>,
    },
}

impl Takeover {
    /// A line for the operator and the run summary, when there is anything to say.
    pub fn note(&self) -> Option<String> {
        match self {
            Takeover::Clean => None,
            Takeover::Restored { found, report } if report.is_safe() => {
                Some(format!("{found}; made safe: {report}"))
            }
            Takeover::Restored { found, report } => Some(format!(
                "{found}; could NOT be made safe: {report}; its journal is kept for the next owner"
            )),
        }
    }

    /// True when the bench is not known to be safe after the takeover: nothing else may
    /// run on it.
    pub fn left_unsafe(&self) -> bool {
        matches!(self, Takeover::Restored { report, .. } if !report.is_safe())
    }
}

/// A bench this process owns, with its devices attached.
pub struct OwnedBench {
    rig: BenchRig,
    journal: Arc<Journal>,
    lock: BenchLock,
    /// What taking the bench over found and did.
    pub takeover: Takeover,
}

impl OwnedBench {
    /// The bench's devices, journaled.
    pub fn rig(&self) -> &BenchRig {
        &self.rig
    }

    /// Records `entry` in the bench's journal (a note such as a `--force`, before the
    /// action it covers is sent).
    pub fn record(&self, entry: &JournalEntry) -> Result<(), JournalError> {
        self.journal.append(entry)
    }

    /// Makes the bench safe now, keeping it.
    pub async fn make_safe(&self) -> SafeReport {
        self.rig.make_safe(&BTreeMap::new()).await
    }

    /// Makes the bench safe and gives it up. What could not be made safe stays in the
    /// journal, with a note that this owner left it so, for the next owner to finish.
    pub async fn close(self) -> SafeReport {
        let report = self.make_safe().await;
        if !report.is_safe() {
            self.rig.note_left_unsafe(report.to_string());
        }
        release_lease(self.lock);
        report
    }

    /// Gives the bench up as the operator left it (a hand command's action is meant to
    /// stay: power on by hand is a choice). Only a confirmed action gets here; the journal
    /// is emptied, so nothing is undone later.
    pub fn close_as_left(self) {
        if let Err(e) = self.journal.clear() {
            tracing::error!(bench = %self.rig.bench.name, "{e}");
        }
        release_lease(self.lock);
    }
}

fn release_lease(lock: BenchLock) {
    let bench = lock.bench().to_string();
    match lock.release() {
        Ok(()) => tracing::info!(bench = %bench, "bench released"),
        Err(e) => tracing::warn!(bench = %bench, "could not give the bench up: {e}"),
    }
}
