//! `harness run`.

use std::path::PathBuf;

use crate::commands::Paths;
use crate::report::{Progress, console, junit, run_folder};
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

/// Runs, writes the run folder and the reports, prints the summary; returns the exit code.
pub async fn execute(options: RunOptions) -> i32 {
    let junit_path = options.junit.clone();
    let report = run(options).await;
    if report.config_error.is_none() {
        if let Err(e) = run_folder::write_run_folder(&report) {
            eprintln!(
                "harness: cannot write the run folder {}: {e}",
                report.run_dir.display()
            );
        }
        if let Some(path) = junit_path
            && let Err(e) = run_folder::write_atomic(&path, junit::junit_xml(&report).as_bytes())
        {
            eprintln!("harness: cannot write {}: {e}", path.display());
        }
    }
    print!("{}", console::summary(&report));
    report.exit_code
}
