//! What can go wrong recording into or reading the history.

use std::path::PathBuf;

/// An error of the history: a run folder that cannot be read, or a database that refuses.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
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
    /// The database is not a history this harness can use (another program's database,
    /// another schema version).
    #[error("the history database {path}: {problem}")]
    Schema {
        path: PathBuf,
        problem: crate::history::version::SchemaProblem,
    },
    /// The folder named cannot be opened as a folder.
    #[error("{dir}: cannot open the run folder: {source}")]
    NotAFolder {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The folder has no `summary.json`: not a run folder, or a run that failed before
    /// writing anything.
    #[error(
        "{dir}: cannot read summary.json: {problem} (is this a run folder? a run writes it \
         when it starts)"
    )]
    NoSummary {
        dir: PathBuf,
        problem: crate::history::folder::Refusal,
    },
    /// `summary.json` is not what a run writes.
    #[error("{file}: not a run summary: {source}; nothing from this folder was recorded")]
    MalformedSummary {
        file: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A field of `summary.json` holds what no run writes (a name outside the safe
    /// alphabet, a start that is not a timestamp, an unknown outcome, a count out of range).
    #[error("{dir}: summary.json: `{field}` {problem}; nothing from this folder was recorded")]
    BadField {
        dir: PathBuf,
        /// The field's path in the summary, such as `cases[3].bench`.
        field: String,
        problem: String,
    },
    /// A file of the folder (the summary, or a transcript the summary names) was refused:
    /// a link, not a regular file, too big, outside the folder.
    #[error("{dir}: {file} {problem}; nothing from this folder was recorded")]
    Refused {
        dir: PathBuf,
        /// The file as the summary names it, relative to the folder.
        file: String,
        problem: crate::history::folder::Refusal,
    },
    /// The history already holds this (host, run id): a second import must say it means
    /// to replace it, so a forged or stale folder cannot silently overwrite a real run.
    #[error(
        "{dir}: run {run_id} of host {host} is already in the history ({cases} cases \
         recorded); nothing was changed (give `harness history import --replace` to replace \
         the recorded run with this folder)"
    )]
    AlreadyRecorded {
        dir: PathBuf,
        host: String,
        run_id: String,
        cases: i64,
    },
    /// The database refused a statement.
    #[error(
        "the history database refused the change: {0} (check the disk and that no other \
         program holds a write lock on it for long)"
    )]
    Database(#[from] rusqlite::Error),
}
