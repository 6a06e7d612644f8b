//! `harness run`.

use std::path::PathBuf;

use crate::commands::{Paths, logging};
use crate::expect::SnapshotWrites;
use crate::report::{Progress, RunReport, console, junit, run_folder};
use crate::run::{RunOptions, run};
use crate::safety::lock::LockWait;

/// What the command line asks of a run, before the project's folders fill in what it
/// leaves out.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The lab file; the project's virtual lab when `None`.
    pub lab: Option<PathBuf>,
    /// The scenarios folder, its snapshots in `<folder>/snapshots`; the project's when
    /// `None`.
    pub scenarios_dir: Option<PathBuf>,
    /// Only scenarios whose name matches one of these globs (all when empty).
    pub scenario_globs: Vec<String>,
    /// Only these benches (all when empty).
    pub benches: Vec<String>,
    /// Where JUnit XML is also written, besides the run folder's own `junit.xml`.
    pub junit: Option<PathBuf>,
    /// The run folder; a new stamped folder under the project's runs when `None`.
    pub out: Option<PathBuf>,
    /// Ticket or approver allowing destructive scenarios on benches that require approval.
    pub approval: Option<String>,
    /// A firmware drop to run with instead of the project's fixtures.
    pub drop: Option<PathBuf>,
    /// Whether the in-process virtual bench starts (not when the twin runs on its own).
    pub start_virtual_bench: bool,
    /// Where bench leases and crash journals live, when not the lab's or the default.
    pub lock_dir: Option<PathBuf>,
    /// How long to wait for a bench another harness process drives.
    pub lock_wait: LockWait,
    /// Whether differing snapshots are left pending or rewritten.
    pub snapshot_writes: SnapshotWrites,
}

/// The options of a run, with the project's folders wherever `request` leaves one out.
pub fn options(paths: &Paths, request: RunRequest) -> RunOptions {
    let stamp = crate::report::new_run_dir();
    let scenarios_dir = request.scenarios_dir;
    RunOptions {
        lab: request.lab.unwrap_or_else(|| paths.default_lab()),
        snapshots_dir: scenarios_dir
            .as_ref()
            .map_or_else(|| paths.snapshots(), |d| d.join("snapshots")),
        snapshot_writes: request.snapshot_writes,
        scenarios_dir: scenarios_dir.unwrap_or_else(|| paths.scenarios()),
        scenario_globs: request.scenario_globs,
        benches: request.benches,
        fixtures_dir: request.drop.unwrap_or_else(|| paths.fixtures()),
        out_dir: Some(
            request
                .out
                .unwrap_or_else(|| paths.runs().join(stamp.file_name().expect("stamped name"))),
        ),
        junit: request.junit,
        approval: request.approval,
        progress: Progress::detect(),
        start_virtual_bench: request.start_virtual_bench,
        lock_dir: request.lock_dir,
        lock_wait: request.lock_wait,
    }
}

/// Whether and where a run is recorded into the history.
#[derive(Debug, Clone, Default)]
pub struct HistoryChoice {
    /// The history database the run is recorded into; the project's when `None`.
    pub path: Option<PathBuf>,
    /// The run is not recorded at all (the nightly history stays free of trial runs).
    pub no_history: bool,
}

impl HistoryChoice {
    /// The database to record into, `None` when the run is not to be recorded.
    pub fn database(&self, paths: &Paths) -> Option<PathBuf> {
        if self.no_history {
            None
        } else {
            Some(self.path.clone().unwrap_or_else(|| paths.history()))
        }
    }
}

/// Runs, writes the run folder and the reports, prints the summary, records the folder
/// into the `history` database when given; returns the exit code.
///
/// The run folder exists from the start: `harness.log` is written as the run goes, and the
/// run itself writes a partial `summary.json` and each case as it finishes. A run stopped
/// by a bad lab or scenario file still gets a complete folder that says so, so the history
/// shows the night nothing ran.
pub async fn execute(mut options: RunOptions, history: Option<PathBuf>) -> i32 {
    let run_dir = options
        .out_dir
        .get_or_insert_with(crate::report::new_run_dir)
        .clone();
    // Before the log or anything else touches the folder: an earlier run's folder is kept.
    if let Err(e) = run_folder::check_out_dir(&run_dir) {
        eprintln!("harness: {e}");
        return crate::outcome::exit_code::CONFIG_ERROR;
    }
    let log = logging::run_log();
    if let Err(e) = log.point_at(&run_dir.join("harness.log")) {
        eprintln!(
            "harness: cannot write the log into the run folder {}: {e}",
            run_dir.display()
        );
    }
    tracing::info!(run_dir = %run_dir.display(), lab = %options.lab.display(), "run started");
    let junit_path = options.junit.clone();
    // The environment decides what a run writes into the checkout, never its verdicts.
    let mut report = match options
        .snapshot_writes
        .under_ci(std::env::var("CI").ok().as_deref())
    {
        Ok(writes) => {
            options.snapshot_writes = writes;
            run(options).await
        }
        Err(refused) => RunReport::new(run_dir, options.lab).config_error(refused.to_string()),
    };
    let folder_written = match run_folder::finish(&mut report) {
        Ok(_) => true,
        Err(e) => {
            eprintln!(
                "harness: cannot write the run folder {}: {e}",
                report.run_dir.display()
            );
            false
        }
    };
    if report.config_error.is_none()
        && let Some(path) = junit_path
        && let Err(e) = run_folder::write_atomic(&path, junit::junit_xml(&report).as_bytes())
    {
        eprintln!("harness: cannot write {}: {e}", path.display());
    }
    print!("{}", console::summary(&report));
    if let Some(db) = history
        && folder_written
    {
        super::history::record_after_run(&db, &report.run_dir);
    }
    tracing::info!(exit_code = report.exit_code, "run finished");
    log.close();
    report.exit_code
}
