//! `harness history import` merges run folders made on other lab hosts; `harness history`
//! prints the last runs, the flaky cases and the lab faults per bench. Through the binary,
//! on folders written by the run folder's own writer.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use harness::outcome::Outcome;
use harness::report::run_folder::finish;
use harness::report::{BenchHealth, CaseReport, HealthState, RunReport};

/// Writes a complete run folder of `host` with case `a` on t46g ending as `outcome`.
fn folder(root: &Path, host: &str, day: u32, outcome: Outcome) -> PathBuf {
    let dir = root.join(format!("{host}/2026010{day}T030000Z-000"));
    let mut report = RunReport::new(dir.clone(), "lab.toml".into());
    report.host = host.into();
    report.started_at = format!("2026-01-0{day}T03:00:00Z");
    report.lab_name = "rack-a".into();
    report.cases.push(CaseReport {
        scenario: "tftp-recovery".into(),
        model: "T46G".into(),
        bench: "t46g".into(),
        outcome,
        detail: if outcome == Outcome::Pass {
            String::new()
        } else {
            "-flashed\n+timeout".into()
        },
        duration: Duration::from_secs(30),
        transcript: "1. power cycle\n".into(),
        raw_transcript: "1. power cycle\n".into(),
        approval: None,
        firmware_seen: vec![],
        attempts: 1,
        transcript_file: None,
        diff_file: None,
    });
    report.bench_health.push(BenchHealth {
        bench: "t46g".into(),
        model: "T46G".into(),
        state: if day == 3 {
            HealthState::Recovered
        } else {
            HealthState::Healthy
        },
        lab_faults: u32::from(day == 3),
        retries: u32::from(day == 3),
        detail: if day == 3 {
            "relay board `relay-power` did not answer".into()
        } else {
            String::new()
        },
    });
    finish(&mut report).unwrap();
    dir
}

fn harness(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(common::harness_exe())
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn imported_folders_from_two_hosts_make_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let a1 = folder(dir.path(), "lab-a", 1, Outcome::Pass);
    let b2 = folder(dir.path(), "lab-b", 2, Outcome::Fail);
    let a3 = folder(dir.path(), "lab-a", 3, Outcome::Pass);

    let import = harness(&["history", "import", "--db"], &[&db, &a1, &b2, &a3]);
    assert!(import.status.success(), "{}", text(&import));
    let said = text(&import);
    assert_eq!(said.matches("complete run").count(), 3, "{said}");
    // Importing again is refused, and with --replace replaces: never a duplicate.
    let again = harness(&["history", "import"], &[&a3, Path::new("--db"), &db]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("is already in the history"),
        "{}",
        text(&again)
    );
    let replaced = harness(
        &["history", "import", "--replace"],
        &[&a3, Path::new("--db"), &db],
    );
    assert!(replaced.status.success(), "{}", text(&replaced));
    assert!(
        text(&replaced).contains("replacing the one recorded before"),
        "{}",
        text(&replaced)
    );

    let shown = harness(&["history", "--last", "5", "--db"], &[&db]);
    assert!(shown.status.success(), "{}", text(&shown));
    let report = String::from_utf8_lossy(&shown.stdout).into_owned();
    let runs: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("T03:00:00Z"))
        .collect();
    assert_eq!(runs.len(), 3, "{report}");
    assert!(
        runs[0].contains("2026-01-03") && runs[0].contains("lab-a"),
        "newest first: {report}"
    );
    assert!(
        runs[1].contains("lab-b") && runs[1].contains("rack-a"),
        "{report}"
    );
    assert!(
        report.contains("tftp-recovery@T46G on t46g: pass fail pass (2 flips"),
        "{report}"
    );
    let bench = report
        .lines()
        .find(|l| l.trim_start().starts_with("t46g"))
        .unwrap_or_else(|| panic!("{report}"));
    let columns: Vec<&str> = bench.split_whitespace().collect();
    assert_eq!(&columns[..5], ["t46g", "T46G", "3", "1", "1"], "{bench}");
    assert!(
        bench.contains("recovered: relay board `relay-power`"),
        "{bench}"
    );
}

#[test]
fn a_folder_without_a_summary_is_named_and_the_others_still_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let good = folder(dir.path(), "lab-a", 1, Outcome::Pass);
    let empty = dir.path().join("not-a-run");
    std::fs::create_dir_all(&empty).unwrap();
    let broken = folder(dir.path(), "lab-b", 2, Outcome::Pass);
    std::fs::write(broken.join("summary.json"), "{ \"cases\": [").unwrap();

    let import = harness(
        &["history", "import", "--db"],
        &[&db, &empty, &broken, &good],
    );
    assert_eq!(import.status.code(), Some(2), "{}", text(&import));
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(
        stderr.contains("not-a-run: cannot read summary.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("summary.json: not a run summary"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&import.stdout).contains("complete run"),
        "the good folder is recorded: {}",
        text(&import)
    );
}

#[test]
fn a_history_that_does_not_exist_is_an_error_not_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.sqlite");
    let shown = harness(&["history", "--db"], &[&db]);
    assert_eq!(shown.status.code(), Some(2));
    assert!(
        text(&shown).contains("no history database at"),
        "{}",
        text(&shown)
    );
    assert!(!db.exists(), "nothing created by a read");
}
