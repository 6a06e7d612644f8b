//! `harness run`.

use std::path::PathBuf;

use crate::commands::{Paths, logging};
use crate::expect::SnapshotWrites;
use crate::report::{Progress, RunReport, console, junit, run_folder};
use crate::run::{RunOptions, run};
use crate::safety::lock::LockWait;

/// Options for a run with the project's folders as defaults.
#[allow(clippy::too_many_arguments)]
pub fn options(
    paths: &Paths,
    scenarios_dir: Option<PathBuf>,
    drop: Option<PathBuf>,
    lab: PathBuf,
    scenarios: Vec<String>,
    benches: Vec<String>,
    junit: Option<PathBuf>,
    out: Option<PathBuf>,
    approval: Option<String>,
    start_virtual_bench: bool,
    lock_dir: Option<PathBuf>,
    lock_wait: LockWait,
) -> RunOptions {
    let stamp = crate::report::new_run_dir();
    RunOptions {
        lab,
        snapshots_dir: scenarios_dir
            .as_ref()
            .map_or_else(|| paths.snapshots(), |d| d.join("snapshots")),
        snapshot_writes: SnapshotWrites::Pending,
        scenarios_dir: scenarios_dir.unwrap_or_else(|| paths.scenarios()),
        scenario_globs: scenarios,
        benches,
        fixtures_dir: drop.unwrap_or_else(|| paths.fixtures()),
        out_dir: Some(
            out.unwrap_or_else(|| paths.runs().join(stamp.file_name().expect("stamped name"))),
        ),
        junit,
        approval,
        progress: Progress::detect(),
        start_virtual_bench,
        lock_dir,
        lock_wait,
    }
}

/// Whether and where a run is recorded into the history.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HistoryChoice {
    /// The history database the run is recorded into
    /// [default: target/harness-history.sqlite].
    #[arg(long = "history", value_name = "PATH", conflicts_with = "no_history")]
    pub path: Option<PathBuf>,
    /// Do not record the run into the history.
    #[arg(long)]
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
