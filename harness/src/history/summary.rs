//! Reading a run folder back: a `Deserialize` mirror of the results contract
//! (`report::RunReport`, which is written, never read, by a run) and the transcripts its
//! `summary.json` names.
//!
//! Tolerant of what is missing, strict about what is there: folders come from other lab
//! hosts and older harnesses, so a field a summary may lack has a default, and only what
//! the history cannot do without (the start, the cases, each case's name and outcome) is
//! required; but every field present is checked before anything is recorded, since a
//! folder from another host is untrusted input.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::history::HistoryError;
use crate::history::folder::{Folder, Refusal};
use crate::history::validate;
use crate::report::run_folder::SUMMARY_JSON;
use crate::report::{HealthState, RunStatus};

/// A run as its folder tells it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedRun {
    /// Empty in the file means "the folder's name" (filled by [`read_folder`]).
    #[serde(default)]
    pub run_id: String,
    /// The lab host it ran on; `unknown-host` in summaries that predate the field.
    #[serde(default = "unknown_host")]
    pub host: String,
    /// RFC 3339; rewritten as UTC `YYYY-MM-DDTHH:MM:SSZ` by [`read_folder`].
    #[serde(default)]
    pub started_at: String,
    /// A summary without a status predates partial folders, when `summary.json` was only
    /// written at the end of a run: it is complete.
    #[serde(default = "complete")]
    pub status: RunStatus,
    /// The lab's own name, from its lab file.
    #[serde(default)]
    pub lab_name: String,
    /// Every case the folder holds.
    pub cases: Vec<RecordedCase>,
    /// A lab or scenario file that stopped the run before anything ran.
    #[serde(default)]
    pub config_error: Option<String>,
    /// Seconds.
    #[serde(default, rename = "duration")]
    pub duration_s: f64,
    /// The exit code the run ended with.
    #[serde(default)]
    pub exit_code: i32,
    /// The `--approval` destructive cases ran under, if any.
    #[serde(default)]
    pub approval: Option<String>,
    /// How each bench came out; empty in summaries that predate it.
    #[serde(default)]
    pub bench_health: Vec<RecordedHealth>,
    /// Where the folder was read from.
    #[serde(skip)]
    pub run_dir: PathBuf,
}

/// One case as its run folder tells it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedCase {
    /// The scenario's name.
    pub scenario: String,
    /// The phone model.
    pub model: String,
    /// The bench it ran on.
    #[serde(default)]
    pub bench: String,
    /// An [`Outcome::word`](crate::outcome::Outcome::word), checked by [`read_folder`].
    pub outcome: String,
    /// The diff of a failure, or the reason of a lab fault, config error or skip.
    #[serde(default)]
    pub detail: String,
    /// Seconds.
    #[serde(default, rename = "duration")]
    pub duration_s: f64,
    /// How many times it ran: more than one after a lab fault.
    #[serde(default = "one")]
    pub attempts: u32,
    /// The firmware builds the phone reported, in the order seen.
    #[serde(default)]
    pub firmware_seen: Vec<String>,
    /// The transcript's file, relative to the folder, checked before it is read.
    #[serde(default)]
    pub transcript_file: Option<String>,
    /// Not read (the diff is `detail`), but checked like every path a summary names.
    #[serde(default)]
    pub diff_file: Option<String>,
    /// The redacted transcript, read from `transcript_file`.
    #[serde(skip)]
    pub transcript: Option<String>,
}

/// One bench's health as its run folder tells it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedHealth {
    /// The bench's name.
    pub bench: String,
    /// Its phone model.
    #[serde(default)]
    pub model: String,
    /// How it came out.
    pub state: HealthState,
    /// Lab faults met, retried ones included.
    #[serde(default)]
    pub lab_faults: u32,
    /// Case attempts repeated after a lab fault.
    #[serde(default)]
    pub retries: u32,
    /// Why it is not healthy, in words; empty when healthy.
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

/// The cap on `summary.json`. A summary carries every case's diff or reason beside its
/// names and counts: a few kB per case, so 16 MiB holds thousands of cases with long diffs,
/// while parsing stays small next to what a lab host has.
pub const MAX_SUMMARY_BYTES: u64 = 16 << 20;

/// The cap on one transcript. The longest committed snapshot is about 3 kB; 1 MiB is
/// hundreds of times that, and a transcript is stored and shown whole.
pub const MAX_TRANSCRIPT_BYTES: u64 = 1 << 20;

/// The cap on all transcripts of one folder together: they are held in memory until the
/// folder's one transaction commits, so the sum is bounded too, not only each file.
pub const MAX_FOLDER_TRANSCRIPT_BYTES: u64 = 128 << 20;

/// Reads the run folder `dir`: its `summary.json`, checked field by field (see
/// [`validate`](crate::history::validate)), and the transcripts it names. Nothing in the
/// folder is trusted: no link is followed, only regular files are read, each read is
/// capped (see [`folder`](crate::history::folder)).
pub fn read_folder(dir: &Path) -> Result<RecordedRun, HistoryError> {
    let folder = Folder::open(dir).map_err(|source| HistoryError::NotAFolder {
        dir: dir.to_path_buf(),
        source,
    })?;
    let bytes = folder
        .read(SUMMARY_JSON, MAX_SUMMARY_BYTES, "a run summary")
        .map_err(|problem| match problem {
            Refusal::Missing => HistoryError::NoSummary {
                dir: dir.to_path_buf(),
                problem,
            },
            problem => HistoryError::Refused {
                dir: dir.to_path_buf(),
                file: SUMMARY_JSON.into(),
                problem,
            },
        })?;
    let mut run: RecordedRun =
        serde_json::from_slice(&bytes).map_err(|source| HistoryError::MalformedSummary {
            file: dir.join(SUMMARY_JSON),
            source,
        })?;
    drop(bytes);
    run.run_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if run.run_id.is_empty() {
        run.run_id = run
            .run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    validate::run(&mut run, validate::now_s()).map_err(|bad| HistoryError::BadField {
        dir: dir.to_path_buf(),
        field: bad.field,
        problem: bad.problem,
    })?;
    let mut budget = MAX_FOLDER_TRANSCRIPT_BYTES;
    for case in &mut run.cases {
        let Some(relative) = &case.transcript_file else {
            continue;
        };
        let refused = |problem| HistoryError::Refused {
            dir: dir.to_path_buf(),
            file: relative.clone(),
            problem,
        };
        let cap = MAX_TRANSCRIPT_BYTES.min(budget);
        let text =
            folder
                .read_text(relative, cap, "a transcript")
                .map_err(|problem| match problem {
                    Refusal::TooBig { size, .. } if cap < MAX_TRANSCRIPT_BYTES => {
                        refused(Refusal::TooBig {
                            size: MAX_FOLDER_TRANSCRIPT_BYTES - budget + size,
                            cap: MAX_FOLDER_TRANSCRIPT_BYTES,
                            what: "all transcripts of a folder together",
                        })
                    }
                    problem => refused(problem),
                })?;
        budget -= text.len() as u64;
        case.transcript = Some(text);
    }
    Ok(run)
}
