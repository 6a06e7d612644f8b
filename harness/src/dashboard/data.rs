//! The dashboard's read queries over the history database. Read-only: recording runs is
//! the history module's job; these only shape what the pages show.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::history::queries::{RUN_COLUMNS, run_from_row, with_counts};
pub use crate::history::queries::{RunSummary, run, runs};

/// One case of a run.
#[derive(Debug, Clone)]
pub struct CaseRow {
    /// The case's row id, which its page is addressed by.
    pub id: i64,
    /// The row id of its run.
    pub run: i64,
    /// The scenario's name.
    pub scenario: String,
    /// The phone model.
    pub model: String,
    /// The bench it ran on.
    pub bench: String,
    /// The verdict word.
    pub outcome: String,
    /// The diff of a failure, or the reason of a lab fault, config error or skip.
    pub detail: String,
    /// Wall time, in seconds.
    pub duration_s: f64,
    /// How many times it ran: more than one after a lab fault.
    pub attempts: i64,
    /// The redacted transcript; `None` when the run folder had none (a skip).
    pub transcript: Option<String>,
    /// First seen first (by insertion order).
    pub firmware_seen: Vec<String>,
}

/// A case whose outcome differs from the previous complete run of the same lab.
#[derive(Debug, Clone)]
pub struct Change {
    /// The scenario's name.
    pub scenario: String,
    /// The phone model.
    pub model: String,
    /// The bench it ran on in the newer run.
    pub bench: String,
    /// The verdict word in the earlier run.
    pub before: String,
    /// The verdict word in the newer run.
    pub after: String,
    /// The case in the newer run, for the link.
    pub case_id: i64,
}

impl Change {
    /// The direction of the flip, which is what the morning reader scans for.
    pub fn kind(&self) -> ChangeKind {
        if self.after == "fail" {
            ChangeKind::NewlyFailing
        } else if self.after == "pass" {
            ChangeKind::NewlyPassing
        } else {
            ChangeKind::Other
        }
    }
}

/// How a case's outcome moved between two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Now a fail: a finding about the firmware to read first.
    NewlyFailing,
    /// Now a pass: a fix, or a change in the firmware worth knowing.
    NewlyPassing,
    /// Any other move (to a lab fault, to skipped, ...).
    Other,
}

/// One bench's health in one run.
#[derive(Debug, Clone)]
pub struct BenchHealthRow {
    /// The bench's name.
    pub bench: String,
    /// Its phone model.
    pub model: String,
    /// How it came out: `healthy`, `recovered` or `bad`.
    pub state: String,
    /// Lab faults met in the run, retried ones included.
    pub lab_faults: i64,
    /// Case attempts repeated after a lab fault.
    pub retries: i64,
    /// Why it is not healthy, in words; empty when healthy.
    pub detail: String,
}

/// One bench across the history: its latest state and its recent lab faults.
#[derive(Debug, Clone)]
pub struct BenchOverview {
    /// The bench's name.
    pub bench: String,
    /// Its phone model.
    pub model: String,
    /// The state in the newest run the bench took part in.
    pub state: String,
    /// Why it was not healthy then, in words; empty when healthy.
    pub detail: String,
    /// `started_at` of that run.
    pub last_seen: String,
    /// The row id of that run, for the link.
    pub last_run: i64,
    /// Lab faults summed over the bench's last `runs_counted` runs.
    pub lab_faults_recent: i64,
    /// Runs of those in which the bench ended bad.
    pub bad_recent: usize,
    /// How many runs the counts cover (fewer than asked when the history is short).
    pub runs_counted: usize,
}

/// One case of one run, in a scenario × model trend.
#[derive(Debug, Clone)]
pub struct TrendPoint {
    /// The run's row id.
    pub run: i64,
    /// The run folder's name.
    pub run_id: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// The case's row id, which the cell links to.
    pub case_id: i64,
    /// The bench it ran on.
    pub bench: String,
    /// The verdict word, which picks the cell's colour.
    pub outcome: String,
    /// Wall time, in seconds, for the sparkline.
    pub duration_s: f64,
}

/// The complete run of the same lab that came just before `run`: the baseline for
/// "what changed since yesterday". Partial runs are skipped, since a case missing from
/// one says nothing about the firmware.
pub fn previous_complete_run(
    conn: &Connection,
    run: &RunSummary,
) -> rusqlite::Result<Option<RunSummary>> {
    let previous = conn
        .query_row(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE lab_name = ?1 AND status = 'complete'
                   AND (started_at < ?2 OR (started_at = ?2 AND id < ?3))
                 ORDER BY started_at DESC, id DESC LIMIT 1"
            ),
            params![run.lab_name, run.started_at, run.id],
            run_from_row,
        )
        .optional()?;
    previous.map(|r| with_counts(conn, r)).transpose()
}

fn firmware_of(conn: &Connection, case_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT version FROM firmware_seen WHERE case_id = ?1 ORDER BY rowid")?;
    stmt.query_map([case_id], |r| r.get(0))?.collect()
}

const CASE_COLUMNS: &str =
    "id, run, scenario, model, bench, outcome, detail, duration_s, attempts, transcript";

fn case_from_row(row: &Row<'_>) -> rusqlite::Result<CaseRow> {
    Ok(CaseRow {
        id: row.get(0)?,
        run: row.get(1)?,
        scenario: row.get(2)?,
        model: row.get(3)?,
        bench: row.get(4)?,
        outcome: row.get(5)?,
        detail: row.get(6)?,
        duration_s: row.get(7)?,
        attempts: row.get(8)?,
        transcript: row.get(9)?,
        firmware_seen: Vec::new(),
    })
}

/// Every case of a run, by scenario, model and bench (no firmware lists: the matrix does
/// not show them).
pub fn cases_of_run(conn: &Connection, run: i64) -> rusqlite::Result<Vec<CaseRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE run = ?1 ORDER BY scenario, model, bench"
    ))?;
    stmt.query_map([run], case_from_row)?.collect()
}

/// One case, only when it belongs to `run` (a case id under another run's URL is a 404).
pub fn case(conn: &Connection, run: i64, case_id: i64) -> rusqlite::Result<Option<CaseRow>> {
    let case = conn
        .query_row(
            &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1 AND run = ?2"),
            [case_id, run],
            case_from_row,
        )
        .optional()?;
    match case {
        Some(mut case) => {
            case.firmware_seen = firmware_of(conn, case.id)?;
            Ok(Some(case))
        }
        None => Ok(None),
    }
}

/// Cases of `run` whose outcome differs from the same (scenario, model, bench) in
/// `previous`. Cases only one of the two runs has are not changes: the matrix changed.
pub fn changes(conn: &Connection, run: i64, previous: i64) -> rusqlite::Result<Vec<Change>> {
    let before: HashMap<(String, String, String), String> = cases_of_run(conn, previous)?
        .into_iter()
        .map(|c| ((c.scenario, c.model, c.bench), c.outcome))
        .collect();
    Ok(cases_of_run(conn, run)?
        .into_iter()
        .filter_map(|c| {
            let key = (c.scenario, c.model, c.bench);
            let old = before.get(&key)?;
            (*old != c.outcome).then(|| Change {
                before: old.clone(),
                after: c.outcome,
                case_id: c.id,
                scenario: key.0,
                model: key.1,
                bench: key.2,
            })
        })
        .collect())
}

/// Every bench's health in one run.
pub fn bench_health_of_run(conn: &Connection, run: i64) -> rusqlite::Result<Vec<BenchHealthRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT bench, model, state, lab_faults, retries, detail FROM bench_health
         WHERE run = ?1 ORDER BY bench",
    )?;
    stmt.query_map([run], |r| {
        Ok(BenchHealthRow {
            bench: r.get(0)?,
            model: r.get(1)?,
            state: r.get(2)?,
            lab_faults: r.get(3)?,
            retries: r.get(4)?,
            detail: r.get(5)?,
        })
    })?
    .collect()
}

/// Every bench the history knows, by name: its latest state and its lab faults over its
/// last `last_runs` runs.
pub fn benches(conn: &Connection, last_runs: usize) -> rusqlite::Result<Vec<BenchOverview>> {
    let mut stmt = conn.prepare_cached(
        "SELECT bh.bench, bh.model, bh.state, bh.detail, bh.lab_faults, r.started_at, r.id
         FROM bench_health bh JOIN runs r ON r.id = bh.run
         ORDER BY bh.bench, r.started_at DESC, r.id DESC",
    )?;
    let mut rows = stmt.query(params![])?;
    let mut benches: Vec<BenchOverview> = Vec::new();
    while let Some(row) = rows.next()? {
        let bench: String = row.get(0)?;
        let state: String = row.get(2)?;
        let lab_faults: i64 = row.get(4)?;
        match benches.last_mut() {
            Some(current) if current.bench == bench => {
                if current.runs_counted < last_runs {
                    current.runs_counted += 1;
                    current.lab_faults_recent += lab_faults;
                    current.bad_recent += usize::from(state == "bad");
                }
            }
            _ => benches.push(BenchOverview {
                bench,
                model: row.get(1)?,
                bad_recent: usize::from(state == "bad"),
                state,
                detail: row.get(3)?,
                last_seen: row.get(5)?,
                last_run: row.get(6)?,
                lab_faults_recent: lab_faults,
                runs_counted: 1,
            }),
        }
    }
    Ok(benches)
}

/// The newest `limit` cases of a scenario on a model, oldest first (so a row of cells
/// reads left to right in time, newest on the right).
pub fn trend(
    conn: &Connection,
    scenario: &str,
    model: &str,
    limit: usize,
) -> rusqlite::Result<Vec<TrendPoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.run_id, r.started_at, c.id, c.bench, c.outcome, c.duration_s
         FROM cases c JOIN runs r ON r.id = c.run
         WHERE c.scenario = ?1 AND c.model = ?2
         ORDER BY r.started_at DESC, r.id DESC, c.bench DESC LIMIT ?3",
    )?;
    let mut points = stmt
        .query_map(params![scenario, model, limit as i64], |r| {
            Ok(TrendPoint {
                run: r.get(0)?,
                run_id: r.get(1)?,
                started_at: r.get(2)?,
                case_id: r.get(3)?,
                bench: r.get(4)?,
                outcome: r.get(5)?,
                duration_s: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    points.reverse();
    Ok(points)
}
