//! The run history: an embedded SQLite database (compiled in, no system library) that
//! every run folder is recorded into, so `harness history` and the dashboard can say what
//! changed since yesterday, which cases are flaky and which benches are sick.
//!
//! A run folder is the unit: `record` stores one (its `summary.json` and the transcripts
//! it names), whether written here or published by another lab host; `queries` answers
//! from what is stored. A folder is untrusted input: `folder` reads its files without
//! following links and with caps, `validate` checks every field before anything is
//! recorded. The database carries its schema version (`version`).

pub mod error;
pub mod folder;
pub mod queries;
pub mod record;
pub mod summary;
#[cfg(test)]
mod test_support;
pub mod timestamp;
pub mod validate;
pub mod version;

use std::path::Path;

pub use error::HistoryError;
pub use record::{IfRecorded, Recorded, import_folder, record_folder};

use rusqlite::Connection;

/// The schema of [`version::SCHEMA_VERSION`], applied to a new database (idempotent).
pub const SCHEMA: &str = include_str!("schema.sql");

/// Where the history lives unless told otherwise: beside the run folders.
pub const DEFAULT_PATH: &str = "target/harness-history.sqlite";

/// Opens (creating when missing) the history database at `path` for recording: a new file
/// gets the schema, a history of this schema version is used as it is, and a database of
/// another version or layout is refused untouched (see [`version`]).
pub fn open(path: &Path) -> Result<Connection, HistoryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A missing folder would surface as SQLite's "unable to open database file";
        // creating it here keeps the first run of a fresh clone working.
        let _ = std::fs::create_dir_all(dir);
    }
    let mut conn = connect(path)?;
    version::prepare_for_writing(&mut conn, SCHEMA).map_err(|e| checked(path, e))?;
    // Several harness processes (a run and the dashboard) share the file: WAL lets the
    // dashboard read while a run records. Set once the file is known to be a history.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|source| opening(path, source))?;
    Ok(conn)
}

/// Opens the history for a command; the same as [`open`].
pub fn open_for(path: &Path) -> Result<Connection, HistoryError> {
    open(path)
}

/// Opens an existing history database for reading: checked like [`open`], but nothing is
/// created or written (an unstamped history of the current layout is read as it is).
pub fn open_for_reading(path: &Path) -> Result<Connection, HistoryError> {
    let conn = connect(path)?;
    version::check_readable(&conn).map_err(|e| checked(path, e))?;
    Ok(conn)
}

/// A connection with the settings every use needs: the busy timeout rides out a short
/// write by another process, and foreign keys make a replaced run take its cases along
/// (a per-connection setting, off by default in SQLite).
fn connect(path: &Path) -> Result<Connection, HistoryError> {
    let conn = Connection::open(path).map_err(|source| opening(path, source))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .map_err(|source| opening(path, source))?;
    Ok(conn)
}

fn opening(path: &Path, source: rusqlite::Error) -> HistoryError {
    HistoryError::Open {
        path: path.to_path_buf(),
        source,
    }
}

fn checked(path: &Path, error: version::CheckError) -> HistoryError {
    match error {
        version::CheckError::Schema(problem) => HistoryError::Schema {
            path: path.to_path_buf(),
            problem,
        },
        version::CheckError::Sqlite(source) => opening(path, source),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_applies_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/history.sqlite");
        drop(super::open(&path).unwrap());
        let conn = super::open(&path).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 4);
    }
}
