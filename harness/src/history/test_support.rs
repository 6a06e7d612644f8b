//! Synthetic run folders for the history's tests, written by the run folder's own writer
//! so the tests read back exactly what a run writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::outcome::Outcome;
use crate::report::run_folder::{RunFolder, finish};
use crate::report::{BenchHealth, CaseReport, RunReport, RunStatus};

/// One case: (scenario, bench, outcome); the model is the bench's name in capitals.
pub type Case<'a> = (&'a str, &'a str, Outcome);

/// Writes the folder `root/<host>-<run_id>` of a run started at `started_at`.
pub fn run_folder(
    root: &Path,
    host: &str,
    run_id: &str,
    started_at: &str,
    status: RunStatus,
    cases: &[Case],
    bench_health: Vec<BenchHealth>,
) -> PathBuf {
    let dir = root.join(format!("{host}-{run_id}"));
    let mut report = RunReport::new(dir.clone(), "lab.toml".into());
    report.run_id = run_id.into();
    report.host = host.into();
    report.started_at = started_at.into();
    report.lab_name = "synthetic".into();
    report.bench_health = bench_health;
    report.cases = cases
        .iter()
        .map(|&(scenario, bench, outcome)| CaseReport {
            scenario: scenario.into(),
            model: bench.to_uppercase(),
            bench: bench.into(),
            outcome,
            detail: match outcome {
                Outcome::Pass => String::new(),
                other => format!("{} in {run_id}", other.word()),
            },
            duration: Duration::from_secs(2),
            transcript: match outcome {
                Outcome::Pass | Outcome::Fail => format!("{scenario} in {run_id}\n"),
                _ => String::new(),
            },
            raw_transcript: format!("{scenario} raw\n"),
            approval: None,
            firmware_seen: vec!["28.83.0.50".into()],
            attempts: 1,
            transcript_file: None,
            diff_file: None,
        })
        .collect();
    match status {
        RunStatus::Complete => {
            finish(&mut report).unwrap();
        }
        RunStatus::Partial => {
            RunFolder::create(&report).unwrap();
        }
    }
    dir
}

/// A bench's health record.
pub fn health(bench: &str, state: crate::report::HealthState, lab_faults: u32) -> BenchHealth {
    BenchHealth {
        bench: bench.into(),
        model: bench.to_uppercase(),
        state,
        lab_faults,
        retries: lab_faults,
        detail: if lab_faults > 0 {
            "relay board did not answer".into()
        } else {
            String::new()
        },
    }
}
