//! Results: what each case ended as, and the reporters that write them out (console,
//! run folder with transcripts and diffs, JUnit, JSON).

pub mod console;
pub mod junit;
pub mod run_folder;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use console::{LiveProgress, Progress};

use crate::lab::{Bench, Model};
use crate::outcome::{Outcome, exit_code};
use crate::scenario::Scenario;

/// One (scenario, bench) case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub scenario: String,
    pub model: String,
    /// Empty when no bench has the model.
    pub bench: String,
    pub outcome: Outcome,
    /// The diff of a failure, or the reason of a lab fault, config error or skip.
    pub detail: String,
    #[serde(serialize_with = "seconds")]
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
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl CaseReport {
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
        }
    }

    /// `<scenario>@<MODEL>`, plus the bench when it is not the only one of its model.
    pub fn case_name(&self) -> String {
        format!("{}@{}", self.scenario, self.model)
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub lab: PathBuf,
    pub lab_name: String,
    pub run_dir: PathBuf,
    pub cases: Vec<CaseReport>,
    /// A lab or scenario file that stopped the run before anything ran.
    pub config_error: Option<String>,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    pub exit_code: i32,
    /// The `--approval` given, when destructive cases ran under it on a bench requiring it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Benches put back in their safe state after a crashed run, in words.
    pub recoveries: Vec<String>,
}

impl RunReport {
    pub fn new(run_dir: PathBuf, lab: PathBuf) -> RunReport {
        RunReport {
            lab,
            lab_name: String::new(),
            run_dir,
            cases: Vec::new(),
            config_error: None,
            duration: Duration::ZERO,
            exit_code: exit_code::PASS,
            approval: None,
            recoveries: Vec::new(),
        }
    }

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
    }
}
