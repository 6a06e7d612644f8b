//! Recording a run folder into the history.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::history::HistoryError;
use crate::history::summary::{RecordedRun, read_folder};
use crate::report::RunStatus;

/// What one recording stored, for the command's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The lab host the run came from.
    pub host: String,
    /// The run folder's name.
    pub run_id: String,
    /// Whether the folder was whole when recorded.
    pub status: RunStatus,
    /// How many cases were stored.
    pub cases: usize,
    /// A run of the same host and id was there before and is now replaced.
    pub replaced: bool,
}

/// What to do when the history already holds the (host, run id) of a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfRecorded {
    /// Refuse, changing nothing: the default, so a forged or stale folder claiming a real
    /// run's id cannot silently replace it.
    Refuse,
    /// Replace the recorded run (`harness history import --replace`): a folder recorded
    /// while partial and again once complete, or re-imported on purpose.
    Replace,
}

/// Records the run folder `dir` as a first import: refused when its (host, run id) is
/// already recorded. What `harness run` does with the folder it has just made.
pub fn record_folder(conn: &mut Connection, dir: &Path) -> Result<Recorded, HistoryError> {
    import_folder(conn, dir, IfRecorded::Refuse)
}

/// Records the run folder `dir` (see [`record_run`]).
pub fn import_folder(
    conn: &mut Connection,
    dir: &Path,
    if_recorded: IfRecorded,
) -> Result<Recorded, HistoryError> {
    let run = read_folder(dir)?;
    record_run(conn, &run, if_recorded)
}

/// Records a run; a run recorded before under the same `(host, run_id)` is refused or
/// replaced as `if_recorded` says. All or nothing: one transaction.
pub fn record_run(
    conn: &mut Connection,
    run: &RecordedRun,
    if_recorded: IfRecorded,
) -> Result<Recorded, HistoryError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let existing: Option<(i64, i64)> = tx
        .query_row(
            "SELECT r.id, (SELECT count(*) FROM cases c WHERE c.run = r.id)
             FROM runs r WHERE r.host = ?1 AND r.run_id = ?2",
            params![run.host, run.run_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let replaced = match (existing, if_recorded) {
        (None, _) => false,
        (Some((_, cases)), IfRecorded::Refuse) => {
            return Err(HistoryError::AlreadyRecorded {
                dir: run.run_dir.clone(),
                host: run.host.clone(),
                run_id: run.run_id.clone(),
                cases,
            });
        }
        (Some((id, _)), IfRecorded::Replace) => {
            // Cases, firmware and health go with their run (ON DELETE CASCADE).
            tx.execute("DELETE FROM runs WHERE id = ?1", [id])?;
            true
        }
    };
    tx.execute(
        "INSERT INTO runs (run_id, host, lab_name, started_at, duration_s, status, exit_code,
                           approval, run_dir, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            run.run_id,
            run.host,
            run.lab_name,
            run.started_at,
            run.duration_s,
            status_word(run.status),
            run.exit_code,
            run.approval,
            run.run_dir.to_string_lossy().into_owned(),
            now_rfc3339(),
        ],
    )?;
    let run_row = tx.last_insert_rowid();
    let mut stored = 0;
    {
        let mut case_stmt = tx.prepare(
            "INSERT INTO cases (run, scenario, model, bench, outcome, detail,
                                           duration_s, attempts, transcript)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut firmware_stmt =
            tx.prepare("INSERT OR IGNORE INTO firmware_seen (case_id, version) VALUES (?1, ?2)")?;
        // A summary listing one case twice (a hand-edited folder) keeps the last listed.
        // By index of each key's last listing: linear, however many cases a summary has.
        let last_listed: std::collections::HashMap<(&str, &str, &str), usize> = run
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.scenario.as_str(), c.model.as_str(), c.bench.as_str()), i))
            .collect();
        for (i, case) in run.cases.iter().enumerate() {
            let key = (
                case.scenario.as_str(),
                case.model.as_str(),
                case.bench.as_str(),
            );
            if last_listed.get(&key) != Some(&i) {
                continue;
            }
            stored += 1;
            case_stmt.execute(params![
                run_row,
                case.scenario,
                case.model,
                case.bench,
                case.outcome,
                case.detail,
                case.duration_s,
                case.attempts,
                case.transcript,
            ])?;
            let case_row = tx.last_insert_rowid();
            for version in &case.firmware_seen {
                firmware_stmt.execute(params![case_row, version])?;
            }
        }
        let mut health_stmt = tx.prepare(
            "INSERT OR REPLACE INTO bench_health (run, bench, model, state, lab_faults, retries,
                                                  detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for health in &run.bench_health {
            health_stmt.execute(params![
                run_row,
                health.bench,
                health.model,
                health_word(health.state),
                health.lab_faults,
                health.retries,
                health.detail,
            ])?;
        }
    }
    tx.commit()?;
    Ok(Recorded {
        host: run.host.clone(),
        run_id: run.run_id.clone(),
        status: run.status,
        cases: stored,
        replaced,
    })
}

/// The word stored for a status, as `summary.json` spells it.
pub fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Partial => "partial",
        RunStatus::Complete => "complete",
    }
}

fn health_word(state: crate::report::HealthState) -> &'static str {
    match state {
        crate::report::HealthState::Healthy => "healthy",
        crate::report::HealthState::Recovered => "recovered",
        crate::report::HealthState::Bad => "bad",
    }
}

fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::report::rfc3339(now.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::test_support::run_folder;
    use crate::outcome::Outcome;

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn recording_a_folder_twice_is_refused_unless_replacing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        let dir = run_folder(
            tmp.path(),
            "lab1",
            "r1",
            "2026-01-01T00:00:00Z",
            RunStatus::Complete,
            &[("a", "t46g", Outcome::Pass), ("b", "t46g", Outcome::Fail)],
            vec![],
        );
        let first = record_folder(&mut conn, &dir).unwrap();
        assert!(!first.replaced);
        assert_eq!(first.cases, 2);
        let refused = record_folder(&mut conn, &dir).unwrap_err();
        assert!(
            matches!(refused, HistoryError::AlreadyRecorded { cases: 2, .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("--replace"), "{refused}");
        let again = import_folder(&mut conn, &dir, IfRecorded::Replace).unwrap();
        assert!(again.replaced);
        assert_eq!(count(&conn, "runs"), 1);
        assert_eq!(count(&conn, "cases"), 2);
        assert_eq!(count(&conn, "firmware_seen"), 2);
        let transcript: String = conn
            .query_row(
                "SELECT transcript FROM cases WHERE scenario = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(transcript, "b in r1\n");
    }

    #[test]
    fn a_case_listed_twice_is_stored_once_as_last_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("summary.json"),
            r#"{"started_at": "2026-01-01T00:00:00Z", "cases": [
                {"scenario": "a", "model": "T46G", "outcome": "fail"},
                {"scenario": "b", "model": "T46G", "outcome": "pass"},
                {"scenario": "a", "model": "T46G", "outcome": "pass"}]}"#,
        )
        .unwrap();
        assert_eq!(record_folder(&mut conn, &dir).unwrap().cases, 2);
        let outcome: String = conn
            .query_row("SELECT outcome FROM cases WHERE scenario = 'a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(outcome, "pass");
    }

    #[test]
    fn the_same_run_id_on_two_hosts_is_two_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        for host in ["lab1", "lab2"] {
            let dir = run_folder(
                tmp.path(),
                host,
                "r1",
                "2026-01-01T00:00:00Z",
                RunStatus::Complete,
                &[("a", "t46g", Outcome::Pass)],
                vec![],
            );
            record_folder(&mut conn, &dir).unwrap();
        }
        assert_eq!(count(&conn, "runs"), 2);
    }

    #[test]
    fn a_partial_folder_is_recorded_partial_then_replaced_when_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        let dir = run_folder(
            tmp.path(),
            "lab1",
            "r1",
            "2026-01-01T00:00:00Z",
            RunStatus::Partial,
            &[("a", "t46g", Outcome::Pass)],
            vec![],
        );
        assert_eq!(
            record_folder(&mut conn, &dir).unwrap().status,
            RunStatus::Partial
        );
        let status: String = conn
            .query_row("SELECT status FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "partial");

        // The same run, finished: its folder now says complete with more cases.
        let finished = run_folder(
            tmp.path(),
            "lab1",
            "r1",
            "2026-01-01T00:00:00Z",
            RunStatus::Complete,
            &[("a", "t46g", Outcome::Pass), ("b", "t46g", Outcome::Pass)],
            vec![],
        );
        assert_eq!(finished, dir);
        let recorded = import_folder(&mut conn, &dir, IfRecorded::Replace).unwrap();
        assert_eq!(
            (recorded.status, recorded.replaced),
            (RunStatus::Complete, true)
        );
        assert_eq!(count(&conn, "runs"), 1);
        assert_eq!(count(&conn, "cases"), 2);
    }

    #[test]
    fn a_malformed_summary_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        let dir = tmp.path().join("broken");
        std::fs::create_dir_all(&dir).unwrap();
        let missing = record_folder(&mut conn, &dir).unwrap_err();
        assert!(
            matches!(missing, HistoryError::NoSummary { .. }),
            "{missing}"
        );
        assert!(missing.to_string().contains("broken"), "{missing}");

        std::fs::write(
            dir.join("summary.json"),
            "{\"run_id\": \"r1\", \"cases\": 3}",
        )
        .unwrap();
        let malformed = record_folder(&mut conn, &dir).unwrap_err();
        assert!(
            malformed.to_string().contains("broken/summary.json"),
            "{malformed}"
        );
        std::fs::write(
            dir.join("summary.json"),
            r#"{"started_at": "2026-01-01T00:00:00Z",
                "cases": [{"scenario": "a", "model": "T46G", "outcome": "exploded"}]}"#,
        )
        .unwrap();
        let unknown = record_folder(&mut conn, &dir).unwrap_err();
        assert!(unknown.to_string().contains("`exploded`"), "{unknown}");
        assert_eq!(
            count(&conn, "runs"),
            0,
            "nothing recorded from a bad folder"
        );
    }

    #[test]
    fn a_minimal_summary_takes_its_run_id_from_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        let dir = tmp.path().join("20260101T000000Z-000");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("summary.json"),
            r#"{"started_at": "2026-01-01T00:00:00Z",
                "cases": [{"scenario": "a", "model": "T46G", "outcome": "pass"}]}"#,
        )
        .unwrap();
        let recorded = record_folder(&mut conn, &dir).unwrap();
        assert_eq!(recorded.run_id, "20260101T000000Z-000");
        assert_eq!(recorded.status, RunStatus::Complete);
    }

    #[test]
    fn a_transcript_path_outside_the_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(tmp.path().join("secret"), "x").unwrap();
        std::fs::write(
            dir.join("summary.json"),
            r#"{"started_at": "2026-01-01T00:00:00Z",
                "cases": [{"scenario": "a", "model": "T46G", "outcome": "pass",
                 "transcript_file": "../secret"}]}"#,
        )
        .unwrap();
        let refused = record_folder(&mut conn, &dir).unwrap_err();
        assert!(
            refused.to_string().contains("leaves the run folder"),
            "{refused}"
        );
    }

    #[test]
    fn a_finished_report_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = run_folder(
            tmp.path(),
            "lab1",
            "r1",
            "2026-01-01T00:00:00Z",
            RunStatus::Complete,
            &[("a", "t46g", Outcome::LabFault)],
            vec![crate::history::test_support::health(
                "t46g",
                crate::report::HealthState::Bad,
                1,
            )],
        );
        let run = crate::history::summary::read_folder(&dir).unwrap();
        assert_eq!(run.host, "lab1");
        assert_eq!(run.started_at, "2026-01-01T00:00:00Z");
        assert_eq!(run.cases[0].outcome, "lab-fault");
        assert_eq!(run.cases[0].duration_s, 2.0);
        assert_eq!(run.bench_health[0].state, crate::report::HealthState::Bad);
        let mut conn = crate::history::open(&tmp.path().join("h.sqlite")).unwrap();
        record_run(&mut conn, &run, IfRecorded::Refuse).unwrap();
        assert_eq!(count(&conn, "bench_health"), 1);
    }
}
