//! `harness history`: what the recorded runs say (the last runs, flaky cases, lab faults
//! per bench), and `harness history import`, which merges run folders made on other lab
//! hosts into one history.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::commands::Paths;
use crate::history::queries::{
    BenchFaults, FlakyCase, RunSummary, bench_faults, flaky_cases, runs,
};
use crate::history::{
    HistoryError, IfRecorded, import_folder, open_for, open_for_reading, record_folder,
};
use crate::outcome::exit_code;

/// What the command line asks of `harness history`.
#[derive(Debug)]
pub struct HistoryRequest {
    /// Import run folders instead of printing; `None` prints.
    pub action: Option<HistoryAction>,
    /// The history database; the project's when `None`.
    pub db: Option<PathBuf>,
    /// How many runs to look back over.
    pub last: u32,
}

/// What `harness history` does besides printing.
#[derive(Debug)]
pub enum HistoryAction {
    /// Record run folders (from this host or published by others) into the history.
    Import {
        /// The run folders, each recorded or refused on its own.
        dirs: Vec<PathBuf>,
        /// Replace a run already recorded under the same host and run id.
        replace: bool,
    },
}

/// Runs `harness history`; returns the exit code (2 when a folder or the database is
/// unusable).
pub fn execute(paths: &Paths, args: HistoryRequest) -> i32 {
    let db = args.db.unwrap_or_else(|| paths.history());
    let result = match args.action {
        Some(HistoryAction::Import { dirs, replace }) => import(
            &db,
            &dirs,
            if replace {
                IfRecorded::Replace
            } else {
                IfRecorded::Refuse
            },
        ),
        None => show(&db, args.last).map(|text| {
            print!("{text}");
            exit_code::PASS
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("harness: {e}");
        exit_code::CONFIG_ERROR
    })
}

/// Records each folder; a bad folder is reported and the others still recorded.
fn import(db: &Path, dirs: &[PathBuf], if_recorded: IfRecorded) -> Result<i32, HistoryError> {
    let mut conn = open_for(db)?;
    let mut code = exit_code::PASS;
    for dir in dirs {
        match import_folder(&mut conn, dir, if_recorded) {
            Ok(recorded) => println!(
                "{}: {} run {} of {} ({} cases){}",
                dir.display(),
                crate::history::record::status_word(recorded.status),
                recorded.run_id,
                recorded.host,
                recorded.cases,
                if recorded.replaced {
                    ", replacing the one recorded before"
                } else {
                    ""
                }
            ),
            Err(e) => {
                eprintln!("harness: {e}");
                code = exit_code::CONFIG_ERROR;
            }
        }
    }
    Ok(code)
}

/// The report `harness history` prints.
pub fn show(db: &Path, last: u32) -> Result<String, HistoryError> {
    if !db.is_file() {
        return Err(HistoryError::Missing(db.to_path_buf()));
    }
    let conn = open_for_reading(db)?;
    let mut out = String::new();
    runs_table(&mut out, db, last, &runs(&conn, last as usize)?);
    flaky_list(&mut out, last, &flaky_cases(&conn, last)?);
    faults_table(&mut out, last, &bench_faults(&conn, last)?);
    Ok(out)
}

fn runs_table(out: &mut String, db: &Path, last: u32, runs: &[RunSummary]) {
    let _ = writeln!(out, "last {last} runs in {}:", db.display());
    if runs.is_empty() {
        let _ = writeln!(out, "  none recorded");
        return;
    }
    let host_w = runs.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
    let lab_w = runs
        .iter()
        .map(|r| r.lab_name.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let _ = writeln!(
        out,
        "  {:<20}  {:<host_w$}  {:<lab_w$}  {:<8}  {:>4}  {:>4}  {:>9}  {:>7}  {:>10}",
        "started", "host", "lab", "status", "pass", "fail", "lab-fault", "skipped", "duration"
    );
    for r in runs {
        let other = r.count("config-error") + r.count("interrupted");
        let _ = writeln!(
            out,
            "  {:<20}  {:<host_w$}  {:<lab_w$}  {:<8}  {:>4}  {:>4}  {:>9}  {:>7}  {:>8.1} s{}",
            r.started_at,
            r.host,
            r.lab_name,
            r.status,
            r.count("pass"),
            r.count("fail"),
            r.count("lab-fault"),
            r.count("skipped"),
            r.duration_s,
            if other > 0 {
                format!("  ({other} config-error or interrupted)")
            } else {
                String::new()
            }
        );
    }
}

fn flaky_list(out: &mut String, last: u32, flaky: &[FlakyCase]) {
    let _ = writeln!(
        out,
        "\nflaky cases (pass and fail alternating over the last {last} complete runs):"
    );
    if flaky.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for case in flaky {
        let _ = writeln!(
            out,
            "  {}@{} on {}: {} ({} flips, oldest first)",
            case.scenario,
            case.model,
            if case.bench.is_empty() {
                "-"
            } else {
                case.bench.as_str()
            },
            case.verdicts.join(" "),
            case.flips
        );
    }
}

fn faults_table(out: &mut String, last: u32, benches: &[BenchFaults]) {
    let _ = writeln!(out, "\nlab faults per bench (last {last} runs):");
    if benches.is_empty() {
        let _ = writeln!(out, "  no bench ran");
        return;
    }
    let bench_w = benches
        .iter()
        .map(|b| b.bench.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        out,
        "  {:<bench_w$}  {:<6}  {:>4}  {:>10}  {:>7}  latest health",
        "bench", "model", "runs", "lab-faults", "retries"
    );
    for b in benches {
        let state = match (&b.latest_state, b.latest_detail.is_empty()) {
            (Some(state), true) => state.clone(),
            (Some(state), false) => format!("{state}: {}", b.latest_detail),
            (None, _) => "not recorded".into(),
        };
        let _ = writeln!(
            out,
            "  {:<bench_w$}  {:<6}  {:>4}  {:>10}  {:>7}  {state}",
            b.bench, b.model, b.runs, b.lab_faults, b.retries
        );
    }
}

/// Records a finished run's folder into `db`, as a first import: the folder was new (made
/// from the time, or an empty `--out`), so a run already recorded under its name (the run
/// id) is refused like any import, never silently replaced. A failure is a
/// warning in the log and on the console: the run's results stand, its exit code is not
/// changed.
pub fn record_after_run(db: &Path, run_dir: &Path) {
    match open_for(db).and_then(|mut conn| record_folder(&mut conn, run_dir)) {
        Ok(recorded) => tracing::info!(
            db = %db.display(),
            run_id = %recorded.run_id,
            "run recorded in the history"
        ),
        Err(e) => tracing::warn!("the run was not recorded in the history: {e}"),
    }
}
