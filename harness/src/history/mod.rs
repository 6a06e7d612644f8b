//! The run history: an embedded SQLite database (compiled in, no system library) that
//! every run folder is recorded into, so `harness history` and the dashboard can say what
//! changed since yesterday, which cases are flaky and which benches are sick.
//!
//! A run folder is the unit: `record` stores one (its `summary.json` and the transcripts
//! it names), whether written here or published by another lab host; `queries` answers
//! from what is stored.

pub mod error;
pub mod queries;
pub mod record;
pub mod summary;
#[cfg(test)]
mod test_support;

use std::path::Path;

pub use error::HistoryError;
pub use record::{Recorded, record_folder};

use rusqlite::Connection;

/// The schema, applied at every open (idempotent).
pub const SCHEMA: &str = include_str!("schema.sql");

/// Where the history lives unless told otherwise: beside the run folders.
pub const DEFAULT_PATH: &str = "target/harness-history.sqlite";

/// Opens (creating when missing) the history database at `path` and applies the schema.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A missing folder would surface as SQLite's "unable to open database file";
        // creating it here keeps the first run of a fresh clone working.
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = Connection::open(path)?;
    // Several harness processes (a run and the dashboard) share the file: WAL lets the
    // dashboard read while a run records, and the busy timeout rides out short writes.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens the history for a command, with an error that names the file.
pub fn open_for(path: &Path) -> Result<Connection, HistoryError> {
    open(path).map_err(|source| HistoryError::Open {
        path: path.to_path_buf(),
        source,
    })
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
