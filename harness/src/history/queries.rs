//! What the history is asked: the last runs, the flaky cases, the sick benches.
//!
//! "Last" is by start time, newest first, over every host of the history (ties, such as
//! two hosts starting in the same second, broken by run id then host, so answers are
//! stable).

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::history::HistoryError;

/// The ordering of "last": newest first.
const NEWEST_FIRST: &str = "started_at DESC, run_id DESC, host DESC";

/// One run, with its case counts per outcome word: what `harness history` prints and the
/// dashboard's pages show, from one query.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The database row id: what the dashboard's links use.
    pub id: i64,
    /// The run folder's name.
    pub run_id: String,
    /// The lab host it ran on: runs from several hosts share one history.
    pub host: String,
    /// The lab's own name, from its lab file.
    pub lab_name: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time, in seconds.
    pub duration_s: f64,
    /// `complete` or `partial`.
    pub status: String,
    /// The exit code the run ended with.
    pub exit_code: i64,
    /// The `--approval` destructive cases ran under, if any.
    pub approval: Option<String>,
    /// Where the run folder was read from.
    pub run_dir: String,
    /// Outcome word → number of cases.
    pub counts: HashMap<String, usize>,
}

impl RunSummary {
    /// A run that did not finish: its matrix is incomplete, so it never serves as the
    /// baseline for "what changed".
    pub fn is_partial(&self) -> bool {
        self.status != "complete"
    }

    /// Cases of the run with this outcome word (`pass`, `lab-fault`, ...).
    pub fn count(&self, outcome: &str) -> usize {
        self.counts.get(outcome).copied().unwrap_or(0)
    }
}

/// The `runs` columns `run_from_row` reads, for queries that pick runs differently.
pub(crate) const RUN_COLUMNS: &str =
    "id, run_id, host, lab_name, started_at, duration_s, status, exit_code, approval, run_dir";

pub(crate) fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: row.get(0)?,
        run_id: row.get(1)?,
        host: row.get(2)?,
        lab_name: row.get(3)?,
        started_at: row.get(4)?,
        duration_s: row.get(5)?,
        status: row.get(6)?,
        exit_code: row.get(7)?,
        approval: row.get(8)?,
        run_dir: row.get(9)?,
        counts: HashMap::new(),
    })
}

/// Fills a run's case counts per outcome.
pub(crate) fn with_counts(conn: &Connection, mut run: RunSummary) -> rusqlite::Result<RunSummary> {
    let mut stmt =
        conn.prepare_cached("SELECT outcome, count(*) FROM cases WHERE run = ?1 GROUP BY outcome")?;
    let rows = stmt.query_map([run.id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (outcome, n) = row?;
        run.counts.insert(outcome, usize::try_from(n).unwrap_or(0));
    }
    Ok(run)
}

/// The newest `limit` runs, newest first, partial ones included (a partial run is news),
/// each with its case counts per outcome.
pub fn runs(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<RunSummary>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs ORDER BY {NEWEST_FIRST} LIMIT ?1"
    ))?;
    let runs = stmt
        .query_map([limit as i64], run_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    runs.into_iter().map(|r| with_counts(conn, r)).collect()
}

/// One run by its row id.
pub fn run(conn: &Connection, id: i64) -> rusqlite::Result<Option<RunSummary>> {
    let run = conn
        .query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            run_from_row,
        )
        .optional()?;
    run.map(|r| with_counts(conn, r)).transpose()
}

/// A case whose verdict keeps changing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlakyCase {
    /// The scenario's name.
    pub scenario: String,
    /// The phone model.
    pub model: String,
    /// The bench, since one flaky bench is a lab problem, not a firmware one.
    pub bench: String,
    /// Its pass/fail verdicts, oldest first (`pass` or `fail`).
    pub verdicts: Vec<String>,
    /// How many times consecutive verdicts differ.
    pub flips: usize,
}

/// The flaky cases over the last `n` complete runs.
///
/// A case is a (scenario, model, bench) triple; a bench name means the same bench on every
/// host of one history. Its verdicts are its outcomes in the last `n` runs whose status is
/// `complete`, oldest first, keeping only `pass` and `fail`: a skip, a lab fault, a config
/// error or an interruption says nothing about the phone, so it neither counts as a flip
/// nor breaks one (pass, lab-fault, fail is one flip). A flip is two consecutive verdicts
/// that differ. The case is flaky when it has at least two flips (pass fail pass, fail pass
/// fail, ...): the verdict went and came back. A single flip (pass pass fail fail) is a
/// regression or a fix, not flakiness. Partial runs are left out: a run that died is not a
/// verdict on the cases it never reached, nor a full one on the case it died in.
///
/// Most flips first, then by name.
pub fn flaky_cases(conn: &Connection, n: u32) -> Result<Vec<FlakyCase>, HistoryError> {
    let sql = format!(
        "SELECT c.scenario, c.model, c.bench, c.outcome
         FROM (SELECT * FROM runs WHERE status = 'complete' ORDER BY {NEWEST_FIRST} LIMIT ?1)
              AS r
         JOIN cases AS c ON c.run = r.id
         WHERE c.outcome IN ('pass', 'fail')
         ORDER BY c.scenario, c.model, c.bench, r.started_at, r.run_id, r.host"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![n], |row| {
        Ok((
            (
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ),
            row.get::<_, String>(3)?,
        ))
    })?;
    let mut verdicts: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for row in rows {
        let (key, outcome) = row?;
        verdicts.entry(key).or_default().push(outcome);
    }
    let mut flaky: Vec<FlakyCase> = verdicts
        .into_iter()
        .map(|((scenario, model, bench), verdicts)| FlakyCase {
            flips: verdicts.windows(2).filter(|w| w[0] != w[1]).count(),
            scenario,
            model,
            bench,
            verdicts,
        })
        .filter(|case| case.flips >= 2)
        .collect();
    flaky.sort_by_key(|case| std::cmp::Reverse(case.flips));
    Ok(flaky)
}

/// A bench's lab faults over a window of runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchFaults {
    /// The bench's name.
    pub bench: String,
    /// Its phone model.
    pub model: String,
    /// Runs of the window the bench took part in.
    pub runs: u32,
    /// Lab faults met, retried ones included.
    pub lab_faults: u32,
    /// Case attempts repeated after a lab fault.
    pub retries: u32,
    /// Its health in the newest run of the window that recorded it (`healthy`,
    /// `recovered`, `bad`); `None` when no run of the window recorded its health.
    pub latest_state: Option<String>,
    /// Why it was not healthy then, in words.
    pub latest_detail: String,
}

/// Every bench of the last `n` runs (partial ones included: a run killed by a sick bench
/// is the most telling), most lab faults first, then by name.
///
/// Per run, a bench's lab faults are those its health record counts (retried attempts
/// included); for a run that recorded no health for it, the number of its cases that
/// ended as a lab fault.
pub fn bench_faults(conn: &Connection, n: u32) -> Result<Vec<BenchFaults>, HistoryError> {
    let window = format!("SELECT * FROM runs ORDER BY {NEWEST_FIRST} LIMIT ?1");
    // Per (run, bench): the faults its cases show; newest run first.
    let cases_sql = format!(
        "SELECT r.id, c.bench, c.model, COALESCE(SUM(c.outcome = 'lab-fault'), 0)
         FROM ({window}) AS r JOIN cases AS c ON c.run = r.id
         WHERE c.bench != ''
         GROUP BY r.id, c.bench"
    );
    let health_sql = format!(
        "SELECT r.id, h.bench, h.model, h.state, h.lab_faults, h.retries, h.detail
         FROM ({window}) AS r JOIN bench_health AS h ON h.run = r.id
         ORDER BY {NEWEST_FIRST}"
    );
    struct PerRun {
        model: String,
        case_faults: u32,
        health: Option<(u32, u32)>,
    }
    let mut per_run: BTreeMap<(String, i64), PerRun> = BTreeMap::new();
    let mut stmt = conn.prepare(&cases_sql)?;
    let rows = stmt.query_map(params![n], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u32>(3)?,
        ))
    })?;
    for row in rows {
        let (run, bench, model, faults) = row?;
        per_run.insert(
            (bench, run),
            PerRun {
                model,
                case_faults: faults,
                health: None,
            },
        );
    }
    let mut latest: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut stmt = conn.prepare(&health_sql)?;
    let rows = stmt.query_map(params![n], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, u32>(4)?,
            row.get::<_, u32>(5)?,
            row.get::<_, String>(6)?,
        ))
    })?;
    for row in rows {
        let (run, bench, model, state, lab_faults, retries, detail) = row?;
        // Rows come newest first: the first seen per bench is its latest health.
        latest.entry(bench.clone()).or_insert((state, detail));
        per_run
            .entry((bench, run))
            .or_insert(PerRun {
                model,
                case_faults: 0,
                health: None,
            })
            .health = Some((lab_faults, retries));
    }
    let mut benches: BTreeMap<String, BenchFaults> = BTreeMap::new();
    for ((bench, _run), seen) in per_run {
        let entry = benches.entry(bench.clone()).or_insert_with(|| BenchFaults {
            latest_state: latest.get(&bench).map(|(state, _)| state.clone()),
            latest_detail: latest
                .get(&bench)
                .map(|(_, detail)| detail.clone())
                .unwrap_or_default(),
            bench,
            model: seen.model.clone(),
            runs: 0,
            lab_faults: 0,
            retries: 0,
        });
        entry.runs += 1;
        match seen.health {
            Some((lab_faults, retries)) => {
                entry.lab_faults += lab_faults;
                entry.retries += retries;
            }
            None => entry.lab_faults += seen.case_faults,
        }
    }
    let mut benches: Vec<BenchFaults> = benches.into_values().collect();
    benches.sort_by_key(|bench| std::cmp::Reverse(bench.lab_faults));
    Ok(benches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::record_folder;
    use crate::history::test_support::{Case, health, run_folder};
    use crate::outcome::Outcome::{self, Fail, LabFault, Pass, Skipped};
    use crate::report::{BenchHealth, HealthState, RunStatus};

    struct History {
        dir: tempfile::TempDir,
        conn: Connection,
        runs: u32,
    }

    impl History {
        fn new() -> History {
            let dir = tempfile::tempdir().unwrap();
            let conn = crate::history::open(&dir.path().join("h.sqlite")).unwrap();
            History { dir, conn, runs: 0 }
        }

        /// Records the next run (one day after the previous one).
        fn run(&mut self, status: RunStatus, cases: &[Case], health: Vec<BenchHealth>) {
            self.runs += 1;
            let folder = run_folder(
                self.dir.path(),
                "lab1",
                &format!("r{:02}", self.runs),
                &format!("2026-01-{:02}T03:00:00Z", self.runs),
                status,
                cases,
                health,
            );
            record_folder(&mut self.conn, &folder).unwrap();
        }

        /// Complete runs of case `a` on t46g with these outcomes, oldest first.
        fn verdicts(&mut self, outcomes: &[Outcome]) {
            for &outcome in outcomes {
                self.run(RunStatus::Complete, &[("a", "t46g", outcome)], vec![]);
            }
        }
    }

    fn flaky(outcomes: &[Outcome], n: u32) -> Vec<FlakyCase> {
        let mut history = History::new();
        history.verdicts(outcomes);
        flaky_cases(&history.conn, n).unwrap()
    }

    #[test]
    fn alternating_verdicts_are_flaky() {
        let found = flaky(&[Pass, Fail, Pass], 10);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].flips, 2);
        assert_eq!(found[0].verdicts, ["pass", "fail", "pass"]);
        assert_eq!(
            (
                found[0].scenario.as_str(),
                found[0].model.as_str(),
                found[0].bench.as_str()
            ),
            ("a", "T46G", "t46g")
        );
        assert_eq!(flaky(&[Fail, Pass, Fail, Pass], 10)[0].flips, 3);
    }

    #[test]
    fn one_change_is_a_regression_not_flakiness() {
        assert!(flaky(&[Pass, Pass, Fail, Fail], 10).is_empty());
        assert!(flaky(&[Fail, Pass], 10).is_empty());
        assert!(flaky(&[Pass, Pass, Pass], 10).is_empty());
    }

    #[test]
    fn skips_and_lab_faults_are_not_verdicts() {
        // pass, (lab fault), fail, (skipped), pass: still pass fail pass.
        let found = flaky(&[Pass, LabFault, Fail, Skipped, Pass], 10);
        assert_eq!(found[0].verdicts, ["pass", "fail", "pass"]);
        // A lab fault between passes is not a flip.
        assert!(flaky(&[Pass, LabFault, Pass, Skipped, Pass], 10).is_empty());
    }

    #[test]
    fn only_the_last_n_complete_runs_count() {
        // The flips are in the oldest runs; the last three are steady.
        assert!(flaky(&[Pass, Fail, Pass, Pass, Pass, Pass], 3).is_empty());
        assert_eq!(flaky(&[Pass, Fail, Pass, Pass, Pass, Pass], 6).len(), 1);

        // A partial run's failure is neither a verdict nor a place in the window.
        let mut history = History::new();
        history.verdicts(&[Pass]);
        history.run(RunStatus::Partial, &[("a", "t46g", Fail)], vec![]);
        history.verdicts(&[Pass, Fail]);
        assert!(flaky_cases(&history.conn, 3).unwrap().is_empty());
    }

    #[test]
    fn the_same_scenario_on_two_benches_is_two_cases() {
        let mut history = History::new();
        for (x, y) in [(Pass, Fail), (Fail, Fail), (Pass, Fail)] {
            history.run(
                RunStatus::Complete,
                &[("a", "t46g", x), ("a", "t48s", y)],
                vec![],
            );
        }
        let found = flaky_cases(&history.conn, 10).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bench, "t46g");
    }

    #[test]
    fn runs_are_newest_first_with_their_counts() {
        let mut history = History::new();
        history.run(RunStatus::Complete, &[("a", "t46g", Pass)], vec![]);
        history.run(
            RunStatus::Complete,
            &[
                ("a", "t46g", Pass),
                ("b", "t46g", Fail),
                ("c", "t46g", LabFault),
                ("d", "t46g", Skipped),
                ("e", "t46g", Outcome::Interrupted),
            ],
            vec![],
        );
        history.run(RunStatus::Partial, &[], vec![]);
        let runs = runs(&history.conn, 2).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[0].run_id.as_str(), runs[0].status.as_str()),
            ("r03", "partial")
        );
        assert!(runs[0].counts.is_empty(), "{:?}", runs[0].counts);
        let r02 = &runs[1];
        assert_eq!(r02.run_id, "r02");
        assert_eq!(
            [
                "pass",
                "fail",
                "lab-fault",
                "skipped",
                "interrupted",
                "config-error"
            ]
            .map(|w| r02.count(w)),
            [1, 1, 1, 1, 1, 0]
        );
        assert_eq!(r02.started_at, "2026-01-02T03:00:00Z");
        assert_eq!(r02.host, "lab1");
        assert_eq!(r02.duration_s, 0.0);
    }

    #[test]
    fn lab_faults_add_up_per_bench_with_the_latest_health() {
        let mut history = History::new();
        // Too old for a window of 3.
        history.run(
            RunStatus::Complete,
            &[("a", "t46g", LabFault)],
            vec![health("t46g", HealthState::Bad, 5)],
        );
        history.run(
            RunStatus::Complete,
            &[("a", "t46g", Pass), ("a", "t48s", Pass)],
            vec![
                health("t46g", HealthState::Recovered, 2),
                health("t48s", HealthState::Healthy, 0),
            ],
        );
        // A run that recorded no health: its lab-fault cases count.
        history.run(
            RunStatus::Partial,
            &[
                ("a", "t46g", LabFault),
                ("b", "t46g", LabFault),
                ("a", "t48s", Pass),
            ],
            vec![],
        );
        history.run(
            RunStatus::Complete,
            &[("a", "t46g", Pass), ("a", "t48s", Pass)],
            vec![
                health("t46g", HealthState::Healthy, 0),
                health("t48s", HealthState::Healthy, 0),
            ],
        );
        let benches = bench_faults(&history.conn, 3).unwrap();
        assert_eq!(benches.len(), 2);
        let t46g = &benches[0];
        assert_eq!(t46g.bench, "t46g", "most lab faults first");
        assert_eq!((t46g.runs, t46g.lab_faults, t46g.retries), (3, 4, 2));
        assert_eq!(t46g.latest_state.as_deref(), Some("healthy"));
        let t48s = &benches[1];
        assert_eq!((t48s.runs, t48s.lab_faults), (3, 0));

        // With the oldest run in the window, its five faults count too.
        let older = bench_faults(&history.conn, 4).unwrap();
        assert_eq!(older[0].lab_faults, 9);
    }

    #[test]
    fn a_bench_without_any_health_record_has_no_latest_state() {
        let mut history = History::new();
        history.run(RunStatus::Complete, &[("a", "t46g", LabFault)], vec![]);
        let benches = bench_faults(&history.conn, 10).unwrap();
        assert_eq!(benches[0].lab_faults, 1);
        assert_eq!(benches[0].latest_state, None);
    }
}
