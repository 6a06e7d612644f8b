//! `harness lab status`: one line per bench saying who may use it now. Read from the lock
//! folder alone (leases, waiters, service marks), so it never opens a device and answers at
//! once while benches are busy; the dashboard's Benches page shows the same rows.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::lab::Lab;
use crate::report::utc_stamp;
use crate::safety::lock::{Lease, host_name, read_lease};
use crate::safety::service::{OutOfService, ServiceMark, Waiter, read_mark, waiters};

/// What a bench is doing, as `lab status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    /// Nobody holds it and it is in service.
    Free,
    /// A live process holds its lease.
    Leased,
    /// A health check took it out of service.
    Bad,
    /// A person took it out of service.
    Disabled,
    /// Its lease or service record cannot be read.
    Unknown,
}

impl StatusKind {
    fn word(self) -> &'static str {
        match self {
            StatusKind::Free => "free",
            StatusKind::Leased => "leased",
            StatusKind::Bad => "bad",
            StatusKind::Disabled => "disabled",
            StatusKind::Unknown => "unknown",
        }
    }
}

/// One bench's line.
#[derive(Debug, Clone, Serialize)]
pub struct BenchStatus {
    /// The bench.
    pub bench: String,
    /// Its phone's model.
    pub model: String,
    /// Out of service wins over leased: a disabled bench being finished by a run is shown
    /// disabled, with its lease.
    pub state: StatusKind,
    /// The live lease, when a process holds the bench.
    pub lease: Option<Lease>,
    /// The processes waiting for the lease, longest first.
    pub waiting: Vec<Waiter>,
    /// Why it is out of service.
    pub out_of_service: Option<ServiceMark>,
    /// What could not be read, for `unknown`.
    pub error: Option<String>,
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Every bench of `lab`, in lab-file order, as the lock folder `dir` says now.
pub fn statuses(lab: &Lab, dir: &Path) -> Vec<BenchStatus> {
    let (now, host) = (now_unix_s(), host_name());
    lab.benches
        .iter()
        .map(|bench| {
            let mut errors = Vec::new();
            let lease = match read_lease(dir, &bench.name) {
                Ok(lease) => lease.filter(|l| !l.is_stale(now, &host)),
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            };
            let out_of_service = match read_mark(dir, &bench.name) {
                Ok(mark) => mark,
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            };
            let state = match (&out_of_service, &lease) {
                _ if !errors.is_empty() => StatusKind::Unknown,
                (Some(mark), _) if mark.state == OutOfService::Disabled => StatusKind::Disabled,
                (Some(_), _) => StatusKind::Bad,
                (None, Some(_)) => StatusKind::Leased,
                (None, None) => StatusKind::Free,
            };
            BenchStatus {
                bench: bench.name.clone(),
                model: bench.model.to_string(),
                state,
                lease,
                waiting: waiters(dir, &bench.name),
                out_of_service,
                error: (!errors.is_empty()).then(|| errors.join("; ")),
            }
        })
        .collect()
}

/// Who holds a bench, in one phrase: `pid 42 on lab-1 (run x) since …, until …: command`.
pub fn describe_lease(lease: &Lease) -> String {
    format!(
        "pid {} on {} ({}) since {}, lease until {}: {}",
        lease.pid,
        lease.host,
        lease.purpose,
        utc_stamp(lease.acquired_unix_s),
        utc_stamp(lease.expires_unix_s),
        lease.command
    )
}

/// Who waits, in one phrase.
pub fn describe_waiter(waiter: &Waiter) -> String {
    format!(
        "pid {} on {} ({}) since {}",
        waiter.pid,
        waiter.host,
        waiter.purpose,
        utc_stamp(waiter.since_unix_s)
    )
}

/// Why a bench is out of service, in one phrase.
pub fn describe_mark(mark: &ServiceMark) -> String {
    match mark.state {
        OutOfService::Disabled => format!(
            "by {} on {} at {}: {}",
            mark.by,
            mark.host,
            utc_stamp(mark.since_unix_s),
            mark.reason
        ),
        OutOfService::Bad => format!(
            "marked by {} at {}: {}",
            mark.by,
            utc_stamp(mark.since_unix_s),
            mark.reason
        ),
    }
}

/// The detail of one line, after its state word.
pub fn detail(status: &BenchStatus) -> String {
    let mut parts = Vec::new();
    if let Some(mark) = &status.out_of_service {
        parts.push(describe_mark(mark));
        if let Some(last) = mark.forced.last() {
            parts.push(format!("used anyway (--force) {last}"));
        }
    }
    if let Some(lease) = &status.lease {
        let held = describe_lease(lease);
        parts.push(if status.state == StatusKind::Leased {
            held
        } else {
            format!("still leased to {held}")
        });
    }
    if !status.waiting.is_empty() {
        let queue: Vec<String> = status.waiting.iter().map(describe_waiter).collect();
        parts.push(format!("waiting: {}", queue.join("; ")));
    }
    if let Some(error) = &status.error {
        parts.push(error.clone());
    }
    parts.join("; ")
}

/// The human table: `bench  model  state  detail`, one bench a line.
pub fn render(statuses: &[BenchStatus]) -> String {
    let bench_w = statuses
        .iter()
        .map(|s| s.bench.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let model_w = statuses
        .iter()
        .map(|s| s.model.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<bench_w$}  {:<model_w$}  {:<8}  detail",
        "bench", "model", "state"
    );
    for status in statuses {
        let line = format!(
            "{:<bench_w$}  {:<model_w$}  {:<8}  {}",
            status.bench,
            status.model,
            status.state.word(),
            detail(status)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The JSON form: an array of the rows, for scripts and the dashboard.
pub fn render_json(statuses: &[BenchStatus]) -> String {
    serde_json::to_string_pretty(statuses).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
