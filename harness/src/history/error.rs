//! What can go wrong recording into or reading the history.

use std::path::PathBuf;

/// An error of the history: a run folder that cannot be read, or a database that refuses.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database file cannot be opened or its schema applied.
    #[error(
        "cannot open the history database {path}: {source} (check the folder exists and is \
         writable, and that the file is a harness history)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// `harness history` on a database that does not exist: most likely a mistyped path.
    #[error(
        "no history database at {0} (a `harness run` records there unless given \
         --no-history; `harness history import RUNDIR...` fills it from run folders)"
    )]
    Missing(PathBuf),
    /// The folder has no `summary.json`: not a run folder, or a run that failed before
    /// writing anything.
    #[error(
        "{dir}: cannot read summary.json: {source} (is this a run folder? a run writes it \
         when it starts)"
    )]
    NoSummary {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `summary.json` is not what a run writes.
    #[error("{file}: not a run summary: {source}")]
    MalformedSummary {
        file: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A case outcome this harness does not know (a summary from a newer harness?).
    #[error(
        "{file}: case `{case}` has the unknown outcome `{outcome}` (expected one of pass, \
         fail, lab-fault, skipped, config-error, interrupted)"
    )]
    UnknownOutcome {
        file: PathBuf,
        case: String,
        outcome: String,
    },
    /// A transcript the summary names cannot be read.
    #[error("{file}: cannot read the transcript the summary names: {source}")]
    Transcript {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database refused a statement.
    #[error(
        "the history database refused the change: {0} (check the disk and that no other \
         program holds a write lock on it for long)"
    )]
    Database(#[from] rusqlite::Error),
}
