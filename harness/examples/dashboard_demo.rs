//! Writes a week of run history for looking at the dashboard without a week of nights:
//! `cargo run -p harness --example dashboard_demo -- <db path>`. The browser check
//! (lab/browser-check) serves it.
//!
//! Each night goes the way a real one does: a `RunReport` whose transcripts are the
//! scenarios' reviewed snapshots (a failure is a snapshot with one answer changed, diffed
//! as the harness diffs), written out as a run folder by the run-folder writer and
//! recorded by the history's importer. What is invented is only which case fails or
//! faults on which night: a regression from night 4, a fix on night 3, a bench whose relay
//! board drops out on nights 2 and 5, and a night cut short (partial).

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::expect::snapshot::{snapshot_body, unified_diff};
use harness::outcome::{Outcome, exit_code_for};
use harness::report::{BenchHealth, CaseReport, HealthState, RunReport, run_folder};

const MODELS: [&str; 4] = ["T41P", "T46G", "T46S", "T48S"];
const SCENARIOS: [&str; 4] = [
    "autop-password-reset",
    "firmware-upgrade",
    "firmware-downgrade",
    "long-press-legacy",
];
const NIGHTS: usize = 5;
/// The night that died half-way (0-based).
const PARTIAL_NIGHT: usize = 3;
/// The bench whose relay board drops out, by model index.
const SICK_BENCH: usize = 3;
const LOST_BOARD: &str = "lost relay_board `relay-power` (/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0) \
     while sending ON 4: Broken pipe. Was it unplugged or did it reset? Check its USB cable and power";

/// The outcome of (night, scenario, model).
fn outcome(night: usize, scenario: usize, model: usize) -> Outcome {
    match (night, scenario, model) {
        (n, 1, 1) if n >= 3 => Outcome::Fail,
        (n, 2, 0) if n < 2 => Outcome::Fail,
        (1 | 4, _, SICK_BENCH) => Outcome::LabFault,
        (_, 3, 0) => Outcome::Skipped,
        _ => Outcome::Pass,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: dashboard_demo <db path>")?;
    if db.exists() {
        std::fs::remove_file(&db)?;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let snapshots = root.join("scenarios/snapshots");
    let runs = db.with_file_name("runs");
    let mut conn = harness::history::open(&db)?;
    for night in 0..NIGHTS {
        let dir = night_folder(&snapshots, &runs, night)?;
        let recorded = harness::history::record_folder(&mut conn, &dir)?;
        println!(
            "{}: {} run {} ({} cases)",
            dir.display(),
            harness::history::record::status_word(recorded.status),
            recorded.run_id,
            recorded.cases
        );
    }
    println!("{}", db.display());
    Ok(())
}

/// Writes one night's run folder; returns it.
fn night_folder(
    snapshots: &Path,
    runs: &Path,
    night: usize,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let run_id = format!("202603{:02}T013000Z-000", night + 10);
    let dir = runs.join(&run_id);
    let mut report = RunReport::new(dir.clone(), PathBuf::from("/etc/yealink-lab/rack.toml"));
    report.run_id = run_id;
    report.host = "lab-east".into();
    report.lab_name = "east".into();
    report.started_at = format!("2026-03-{:02}T01:30:00Z", night + 10);
    let mut cases = Vec::new();
    for (s, scenario) in SCENARIOS.iter().enumerate() {
        for (m, model) in MODELS.iter().enumerate() {
            if night == PARTIAL_NIGHT && s == SCENARIOS.len() - 1 {
                // The night was cut before its last scenario.
                continue;
            }
            cases.push(case(
                snapshots,
                scenario,
                model,
                outcome(night, s, m),
                night,
                s,
                m,
            )?);
        }
    }
    report.duration = Duration::from_secs_f64(cases.iter().map(|c| c.duration.as_secs_f64()).sum());
    report.exit_code = exit_code_for(cases.iter().map(|c| c.outcome));
    report.bench_health = MODELS
        .iter()
        .enumerate()
        .map(|(m, model)| health(night, m, model))
        .collect();
    if night == PARTIAL_NIGHT {
        // What a killed run leaves: the folder as the run goes, never finished.
        let folder = run_folder::RunFolder::create(&report)?;
        for case in &cases {
            folder.add_case(case)?;
        }
    } else {
        report.cases = cases;
        run_folder::finish(&mut report)?;
    }
    Ok(dir)
}

fn case(
    snapshots: &Path,
    scenario: &str,
    model: &str,
    outcome: Outcome,
    night: usize,
    s: usize,
    m: usize,
) -> Result<CaseReport, Box<dyn std::error::Error>> {
    let file = snapshots.join(format!("{scenario}@{model}.snap"));
    let snapshot = snapshot_body(
        &std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?,
    );
    let (transcript, detail) = match outcome {
        Outcome::Pass => (snapshot.clone(), String::new()),
        Outcome::Fail => {
            // The first answer of the provisioning server the phone got differs.
            let changed = snapshot.replacen("-> 200", "-> 404", 1);
            let diff = unified_diff(&snapshot, &changed);
            (changed, diff)
        }
        Outcome::LabFault => {
            let given: Vec<&str> = snapshot.lines().take(8).collect();
            (
                format!("{}\nLAB FAULT: {LOST_BOARD}\n", given.join("\n")),
                LOST_BOARD.to_string(),
            )
        }
        _ => (
            String::new(),
            format!("no bench with a {model} holds a legacy build in this lab"),
        ),
    };
    let bench = model.to_lowercase();
    Ok(CaseReport {
        scenario: scenario.into(),
        model: model.into(),
        bench,
        outcome,
        detail,
        duration: Duration::from_secs_f64(2.0 + (s * 4 + m + night) as f64 * 0.37),
        raw_transcript: transcript.clone(),
        transcript,
        approval: None,
        firmware_seen: if outcome == Outcome::Skipped {
            Vec::new()
        } else {
            vec![format!("{}.86.0.{}", 28 + m, 10 + night)]
        },
        attempts: if outcome == Outcome::LabFault { 2 } else { 1 },
        transcript_file: None,
        diff_file: None,
    })
}

fn health(night: usize, m: usize, model: &str) -> BenchHealth {
    let (state, lab_faults, retries, detail) = match (night, m) {
        (1, SICK_BENCH) => (
            HealthState::Recovered,
            1,
            1,
            format!("attempt 1: lab fault: {LOST_BOARD}; health check passed"),
        ),
        (4, SICK_BENCH) => (
            HealthState::Bad,
            2,
            1,
            "health check failed: relay board `relay-power` did not answer".to_string(),
        ),
        _ => (HealthState::Healthy, 0, 0, String::new()),
    };
    BenchHealth {
        bench: model.to_lowercase(),
        model: model.into(),
        state,
        lab_faults,
        retries,
        detail,
    }
}
