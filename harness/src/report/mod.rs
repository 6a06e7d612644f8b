//! Results: what each case ended as, and the reporters that write them out (console,
//! run folder with transcripts and diffs, JUnit, JSON).

pub mod console;
pub mod html;
pub mod junit;
pub mod listener;
pub mod run_folder;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use console::{LiveProgress, Progress};
pub use listener::CaseListener;

use crate::lab::{Bench, Model};
use crate::outcome::{Outcome, exit_code};
use crate::scenario::Scenario;

/// One (scenario, bench) case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The scenario's name.
    pub scenario: String,
    /// The phone model the case ran on.
    pub model: String,
    /// Empty when no bench has the model.
    pub bench: String,
    /// The verdict.
    pub outcome: Outcome,
    /// The diff of a failure, or the reason of a lab fault, config error or skip.
    pub detail: String,
    #[serde(serialize_with = "seconds")]
    /// Wall time of the case, for the reports and the trend on the dashboard.
    pub duration: Duration,
    /// Redacted, as compared with the snapshot.
    #[serde(skip)]
    pub transcript: String,
    /// Unredacted, for the engineer reading the run folder.
    #[serde(skip)]
    pub raw_transcript: String,
    /// The approval this case ran under, on a bench that requires one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Firmware versions the phone announced during the case, first seen first.
    pub firmware_seen: Vec<String>,
    /// How many times the case ran: more than 1 when a lab fault was retried.
    pub attempts: u32,
    /// The redacted transcript, relative to the run folder, once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript_file: Option<String>,
    /// The diff or reason, relative to the run folder, once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_file: Option<String>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl CaseReport {
    /// A case decided before or without a transcript (a skip, a config error); the run
    /// fills in the rest when the case ran.
    pub fn new(scenario: &Scenario, bench: &Bench, outcome: Outcome, detail: String) -> CaseReport {
        CaseReport {
            scenario: scenario.name.clone(),
            model: bench.model.name().into(),
            bench: bench.name.clone(),
            outcome,
            detail,
            duration: Duration::ZERO,
            transcript: String::new(),
            raw_transcript: String::new(),
            approval: None,
            firmware_seen: Vec::new(),
            attempts: 1,
            transcript_file: None,
            diff_file: None,
        }
    }

    /// A scenario for a model that no bench of the lab has.
    pub fn unbenched(scenario: &Scenario, model: Model) -> CaseReport {
        CaseReport {
            scenario: scenario.name.clone(),
            model: model.name().into(),
            bench: String::new(),
            outcome: Outcome::Skipped,
            detail: format!("no bench with a {model} in this lab"),
            duration: Duration::ZERO,
            transcript: String::new(),
            raw_transcript: String::new(),
            approval: None,
            firmware_seen: Vec::new(),
            attempts: 1,
            transcript_file: None,
            diff_file: None,
        }
    }

    /// `<scenario>@<MODEL>`, plus the bench when it is not the only one of its model.
    pub fn case_name(&self) -> String {
        format!("{}@{}", self.scenario, self.model)
    }
}

/// Whether a run folder is whole. A run writes `partial` first and `complete` last, so a
/// run that died (killed, power cut) leaves a folder that says so, with every case it
/// finished still in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Written first, and left behind when the run dies.
    Partial,
    /// Written last, once every case and report is on disk.
    Complete,
}

/// How a bench came out of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthState {
    /// No lab fault.
    Healthy,
    /// A lab fault, then a passed health check: the bench went on.
    Recovered,
    /// A failed health check (or an unrecoverable fault): its remaining cases were skipped.
    Bad,
}

/// One bench's health over a run, for the summary, the history and the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchHealth {
    /// The bench's name.
    pub bench: String,
    /// The bench's phone model.
    pub model: String,
    /// How it came out.
    pub state: HealthState,
    /// Lab faults met on this bench, retried ones included.
    pub lab_faults: u32,
    /// Case attempts repeated after a lab fault.
    pub retries: u32,
    /// Why the bench is not healthy, in words; empty when healthy.
    pub detail: String,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run folder's name: unique per host, sortable by start time.
    pub run_id: String,
    /// The host the run ran on (lab hosts publish their run folders to one history).
    pub host: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Whether the folder is whole.
    pub status: RunStatus,
    /// The lab file the run used.
    pub lab: PathBuf,
    /// The lab's own name, from the lab file.
    pub lab_name: String,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Every case, in the order they were planned.
    pub cases: Vec<CaseReport>,
    /// A lab or scenario file that stopped the run before anything ran.
    pub config_error: Option<String>,
    #[serde(serialize_with = "seconds")]
    /// Wall time of the whole run.
    pub duration: Duration,
    /// The process exit code the run ends with (see `outcome::exit_code`).
    pub exit_code: i32,
    /// The `--approval` given, when destructive cases ran under it on a bench requiring it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Benches put back in their safe state after a crashed run, in words.
    pub recoveries: Vec<String>,
    /// Every bench that ran, with its health.
    pub bench_health: Vec<BenchHealth>,
}

impl RunReport {
    /// An empty run, stamped now on this host, before anything ran.
    pub fn new(run_dir: PathBuf, lab: PathBuf) -> RunReport {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        RunReport {
            run_id: run_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            host: host_name(),
            started_at: rfc3339(now.as_secs()),
            status: RunStatus::Partial,
            lab,
            lab_name: String::new(),
            run_dir,
            cases: Vec::new(),
            config_error: None,
            duration: Duration::ZERO,
            exit_code: exit_code::PASS,
            approval: None,
            recoveries: Vec::new(),
            bench_health: Vec::new(),
        }
    }

    /// The run stopped by a bad lab or scenario file before anything ran: a config error,
    /// never a fail.
    pub fn config_error(mut self, message: String) -> RunReport {
        self.config_error = Some(message);
        self.exit_code = exit_code::CONFIG_ERROR;
        self
    }

    /// Nothing could run because a shared part of the lab broke (an endpoint, the virtual
    /// bench): every planned case is a lab fault with that reason.
    pub fn lab_fault_everywhere(
        mut self,
        cases: &[(std::sync::Arc<Scenario>, Bench)],
        reason: String,
    ) -> RunReport {
        for (scenario, bench) in cases {
            self.cases.push(CaseReport::new(
                scenario,
                bench,
                Outcome::LabFault,
                reason.clone(),
            ));
        }
        self.exit_code = crate::outcome::exit_code_for(self.cases.iter().map(|c| c.outcome));
        if self.cases.is_empty() {
            self.exit_code = exit_code::LAB_FAULT;
        }
        self
    }

    /// How many cases ended with `outcome`, for the summary line.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.cases.iter().filter(|c| c.outcome == outcome).count()
    }
}

/// A new folder name under `target/harness-runs/`: UTC time, sortable.
pub fn new_run_dir() -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    PathBuf::from("target/harness-runs").join(format!(
        "{}-{:03}",
        utc_stamp(now.as_secs()),
        now.subsec_millis()
    ))
}

/// The host's name, for telling apart runs merged from several lab hosts.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that
    // many bytes and we stop at the first NUL (or the end when it was truncated).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
pub fn rfc3339(secs: u64) -> String {
    let s = utc_stamp(secs);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the epoch (civil-from-days, proleptic Gregorian).
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_are_calendar_correct() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_795_809_845), "20261127T200405Z");
        assert_eq!(rfc3339(1_795_809_845), "2026-11-27T20:04:05Z");
    }
}
