//! Reading a run folder back: a `Deserialize` mirror of the results contract
//! (`report::RunReport`, which is written, never read, by a run) and the transcripts its
//! `summary.json` names.
//!
//! Tolerant on purpose: folders come from other lab hosts and older harnesses, so every
//! field a summary may lack has a default, and only what the history cannot do without
//! (the cases, and each case's name and outcome) is required.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::history::HistoryError;
use crate::outcome::Outcome;
use crate::report::run_folder::SUMMARY_JSON;
use crate::report::{HealthState, RunStatus};

/// A run as its folder tells it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedRun {
    /// Empty in the file means "the folder's name" (filled by [`read_folder`]).
    #[serde(default)]
    pub run_id: String,
    #[serde(default = "unknown_host")]
    pub host: String,
    #[serde(default)]
    pub started_at: String,
    /// A summary without a status predates partial folders, when `summary.json` was only
    /// written at the end of a run: it is complete.
    #[serde(default = "complete")]
    pub status: RunStatus,
    #[serde(default)]
    pub lab_name: String,
    pub cases: Vec<RecordedCase>,
    #[serde(default)]
    pub config_error: Option<String>,
    /// Seconds.
    #[serde(default, rename = "duration")]
    pub duration_s: f64,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub approval: Option<String>,
    #[serde(default)]
    pub bench_health: Vec<RecordedHealth>,
    /// Where the folder was read from.
    #[serde(skip)]
    pub run_dir: PathBuf,
}

/// One case as its run folder tells it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedCase {
    pub scenario: String,
    pub model: String,
    #[serde(default)]
    pub bench: String,
    /// An [`Outcome::word`], checked by [`read_folder`].
    pub outcome: String,
    #[serde(default)]
    pub detail: String,
    /// Seconds.
    #[serde(default, rename = "duration")]
    pub duration_s: f64,
    #[serde(default = "one")]
    pub attempts: u32,
    #[serde(default)]
    pub firmware_seen: Vec<String>,
    #[serde(default)]
    pub transcript_file: Option<String>,
    /// The redacted transcript, read from `transcript_file`.
    #[serde(skip)]
    pub transcript: Option<String>,
}

/// One bench's health as its run folder tells it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedHealth {
    pub bench: String,
    #[serde(default)]
    pub model: String,
    pub state: HealthState,
    #[serde(default)]
    pub lab_faults: u32,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub detail: String,
}

fn unknown_host() -> String {
    "unknown-host".into()
}

fn complete() -> RunStatus {
    RunStatus::Complete
}

fn one() -> u32 {
    1
}

/// Every outcome a case may have, as the summary spells it.
const OUTCOMES: [Outcome; 6] = [
    Outcome::Pass,
    Outcome::Fail,
    Outcome::LabFault,
    Outcome::Skipped,
    Outcome::ConfigError,
    Outcome::Interrupted,
];

/// Reads the run folder `dir`: its `summary.json` and the transcripts it names.
pub fn read_folder(dir: &Path) -> Result<RecordedRun, HistoryError> {
    let file = dir.join(SUMMARY_JSON);
    let text = std::fs::read_to_string(&file).map_err(|source| HistoryError::NoSummary {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut run: RecordedRun =
        serde_json::from_str(&text).map_err(|source| HistoryError::MalformedSummary {
            file: file.clone(),
            source,
        })?;
    run.run_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if run.run_id.is_empty() {
        run.run_id = run
            .run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    for case in &mut run.cases {
        if !OUTCOMES.iter().any(|o| o.word() == case.outcome) {
            return Err(HistoryError::UnknownOutcome {
                file,
                case: format!("{}@{}", case.scenario, case.model),
                outcome: case.outcome.clone(),
            });
        }
        if let Some(relative) = &case.transcript_file {
            let path = dir.join(relative);
            // A summary from another host must not make the import read files elsewhere.
            if !Path::new(relative)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                return Err(HistoryError::Transcript {
                    file: path,
                    source: std::io::Error::other("the path leaves the run folder"),
                });
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|source| HistoryError::Transcript { file: path, source })?;
            case.transcript = Some(text);
        }
    }
    Ok(run)
}
