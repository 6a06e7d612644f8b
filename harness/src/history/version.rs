//! The history database's schema version, kept in SQLite's `PRAGMA user_version`, and the
//! check every opener makes before reading or writing.
//!
//! Version 1 is the layout of `schema.sql`. Databases written before the version was
//! recorded have `user_version` 0 and exactly that layout: they are version 1 in all but
//! the stamp, so an importer stamps them (the only migration, and it changes no data) and
//! the dashboard, which never writes, reads them as they are. A database of any other
//! layout or version is refused with what to do, never half-read.

use rusqlite::Connection;

/// The version `schema.sql` creates. A change that is not additive bumps it and adds a
/// migration here.
pub const SCHEMA_VERSION: i64 = 1;

/// Each table of version 1 and its columns, as `schema.sql` creates them (a unit test
/// keeps the two in step).
const TABLES: [(&str, &[&str]); 4] = [
    (
        "runs",
        &[
            "id",
            "run_id",
            "host",
            "lab_name",
            "started_at",
            "duration_s",
            "status",
            "exit_code",
            "approval",
            "run_dir",
            "recorded_at",
        ],
    ),
    (
        "cases",
        &[
            "id",
            "run",
            "scenario",
            "model",
            "bench",
            "outcome",
            "detail",
            "duration_s",
            "attempts",
            "transcript",
        ],
    ),
    ("firmware_seen", &["case_id", "version"]),
    (
        "bench_health",
        &[
            "run",
            "bench",
            "model",
            "state",
            "lab_faults",
            "retries",
            "detail",
        ],
    ),
];

/// Why a database is not a history this harness can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum SchemaProblem {
    #[error(
        "it was written by a newer harness (schema version {found}; this harness knows \
         version {SCHEMA_VERSION}): use that harness, or point --db at another file"
    )]
    Newer { found: i64 },
    #[error(
        "it has schema version {found}, which no harness writes (this one writes version \
         {SCHEMA_VERSION}): it is not a harness history; point --db at another file"
    )]
    Unknown { found: i64 },
    #[error(
        "it is not a harness history ({what}): point --db at a harness history, or at a new \
         file to start one"
    )]
    Foreign { what: String },
}

/// What the database holds, by its tables.
#[derive(Debug, PartialEq, Eq)]
enum Layout {
    /// No table at all: a new (or empty) file.
    Empty,
    /// Exactly the tables and columns of version 1 (other objects may sit beside them).
    Current,
}

/// Checks a database for reading: version 1, or the unstamped version-1 layout. Writes
/// nothing.
pub fn check_readable(conn: &Connection) -> Result<(), CheckError> {
    match user_version(conn)? {
        SCHEMA_VERSION | 0 => match layout(conn)? {
            Layout::Current => Ok(()),
            Layout::Empty => Err(SchemaProblem::Foreign {
                what: "it holds no tables".into(),
            }
            .into()),
        },
        found => Err(versioned(found).into()),
    }
}

/// Makes the database ready for recording: a new file gets the schema and the version, an
/// unstamped version-1 history gets the stamp, a version-1 history is left as it is; any
/// other database is refused untouched. In one immediate transaction, so two harnesses
/// opening a new file at once do not both create it.
pub fn prepare_for_writing(conn: &mut Connection, schema: &str) -> Result<(), CheckError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    match user_version(&tx)? {
        SCHEMA_VERSION => {
            if layout(&tx)? != Layout::Current {
                return Err(SchemaProblem::Foreign {
                    what: format!("version {SCHEMA_VERSION} without the tables of one"),
                }
                .into());
            }
        }
        0 => {
            if layout(&tx)? == Layout::Empty {
                tx.execute_batch(schema)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        found => return Err(versioned(found).into()),
    }
    tx.commit()?;
    Ok(())
}

/// A failed check: the database is not one of ours, or SQLite could not read it at all.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum CheckError {
    #[error(transparent)]
    Schema(#[from] SchemaProblem),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

fn versioned(found: i64) -> SchemaProblem {
    if found > SCHEMA_VERSION {
        SchemaProblem::Newer { found }
    } else {
        SchemaProblem::Unknown { found }
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// The database's layout, or why it is foreign.
fn layout(conn: &Connection) -> Result<Layout, CheckError> {
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )?;
    if tables == 0 {
        return Ok(Layout::Empty);
    }
    for (table, expected) in TABLES {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
        let mut columns: Vec<String> = stmt
            .query_map([table], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if columns.is_empty() {
            return Err(SchemaProblem::Foreign {
                what: format!("it has no table `{table}`"),
            }
            .into());
        }
        columns.sort();
        let mut wanted: Vec<&str> = expected.to_vec();
        wanted.sort_unstable();
        if columns != wanted {
            return Err(SchemaProblem::Foreign {
                what: format!(
                    "its table `{table}` has the columns {} instead of {}",
                    columns.join(", "),
                    wanted.join(", ")
                ),
            }
            .into());
        }
    }
    Ok(Layout::Current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        Connection::open_in_memory().unwrap()
    }

    #[test]
    fn a_new_database_gets_the_schema_and_the_version() {
        let mut conn = memory();
        prepare_for_writing(&mut conn, crate::history::SCHEMA).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            layout(&conn).unwrap(),
            Layout::Current,
            "schema.sql and TABLES agree"
        );
        check_readable(&conn).unwrap();
        prepare_for_writing(&mut conn, crate::history::SCHEMA).unwrap();
    }

    #[test]
    fn an_unstamped_history_is_read_as_it_is_and_stamped_by_a_writer() {
        let mut conn = memory();
        conn.execute_batch(crate::history::SCHEMA).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 0);
        check_readable(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 0, "a reader writes nothing");
        prepare_for_writing(&mut conn, crate::history::SCHEMA).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn other_versions_and_layouts_are_refused_untouched() {
        let mut newer = memory();
        newer.execute_batch(crate::history::SCHEMA).unwrap();
        newer.pragma_update(None, "user_version", 7).unwrap();
        let refused = prepare_for_writing(&mut newer, crate::history::SCHEMA).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("newer harness (schema version 7"),
            "{refused}"
        );
        assert!(check_readable(&newer).is_err());

        let mut foreign = memory();
        foreign
            .execute_batch("CREATE TABLE runs (x INTEGER); CREATE TABLE notes (y TEXT);")
            .unwrap();
        let refused = prepare_for_writing(&mut foreign, crate::history::SCHEMA).unwrap_err();
        assert!(
            refused.to_string().contains("not a harness history"),
            "{refused}"
        );
        assert_eq!(user_version(&foreign).unwrap(), 0, "not stamped");
        let tables: i64 = foreign
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 2, "nothing created in someone else's database");

        let empty = memory();
        assert!(check_readable(&empty).is_err(), "a reader needs a history");
    }
}
