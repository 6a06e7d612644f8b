//! Writes a small run history for looking at the dashboard without a week of runs:
//! `cargo run -p harness --example dashboard_demo -- <db path>`. The browser check
//! (lab/browser-check) serves it.

use std::path::PathBuf;

use rusqlite::params;

const MODELS: [&str; 4] = ["T41P", "T46G", "T46S", "T48S"];
const SCENARIOS: [&str; 4] = [
    "autop-password-reset",
    "firmware-upgrade",
    "firmware-downgrade",
    "long-press-legacy",
];

/// The outcome of (run, scenario, model): mostly passes, a failure that appears on day 4,
/// one that is fixed on day 3, and a sick bench that faults on days 2 and 5.
fn outcome(day: usize, scenario: usize, model: usize) -> &'static str {
    match (day, scenario, model) {
        (d, 1, 2) if d >= 3 => "fail",
        (d, 2, 0) if d < 2 => "fail",
        (1 | 4, _, 3) => "lab-fault",
        (_, 3, 0) => "skipped",
        _ => "pass",
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: dashboard_demo <db path>")?;
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let conn = harness::history::open(&path)?;
    for day in 0..5 {
        let started = format!("2026-03-{:02}T06:00:00Z", day + 10);
        let run_id = format!("202603{:02}T060000Z-000", day + 10);
        // The newest run was cut short: the dashboard must say so.
        let status = if day == 3 { "partial" } else { "complete" };
        conn.execute(
            "INSERT INTO runs (run_id, host, lab_name, started_at, duration_s, status, exit_code,
             run_dir, recorded_at) VALUES (?1, 'lab-host-1', 'virtual', ?2, ?3, ?4, ?5, ?6, ?2)",
            params![
                run_id,
                started,
                40.0 + day as f64 * 3.5,
                status,
                if day >= 2 { 1 } else { 3 },
                format!("target/harness-runs/{run_id}")
            ],
        )?;
        let run = conn.last_insert_rowid();
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            for (m, model) in MODELS.iter().enumerate() {
                if day == 3 && s == 3 {
                    continue;
                }
                let outcome = outcome(day, s, m);
                let detail = match outcome {
                    "fail" => {
                        "--- snapshot\n+++ this run\n@@ -3,2 +3,2 @@\n-GET /cfg/<mac>.cfg 200\n+GET /cfg/<mac>.cfg 404 & retry\n boot done"
                    }
                    "lab-fault" => {
                        "relay board lcus-2 did not answer on /dev/serial/by-id/usb-lcus-2"
                    }
                    "skipped" => "the T41S has no legacy long-press menu",
                    _ => "",
                };
                conn.execute(
                    "INSERT INTO cases (run, scenario, model, bench, outcome, detail, duration_s,
                     attempts, transcript) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        run,
                        scenario,
                        model,
                        format!("desk-{}", model.to_lowercase()),
                        outcome,
                        detail,
                        2.0 + (s * 4 + m + day) as f64 * 0.37,
                        if outcome == "lab-fault" { 2 } else { 1 },
                        format!(
                            "power on\nDHCP offer 127.0.0.{}\nGET /cfg/<mac>.cfg 200\nSIP REGISTER <sip:10{m}@lab> & OK\nboot done",
                            m + 10
                        ),
                    ],
                )?;
                let case = conn.last_insert_rowid();
                conn.execute(
                    "INSERT INTO firmware_seen (case_id, version) VALUES (?1, ?2)",
                    params![case, format!("28.86.0.{}", 10 + day)],
                )?;
            }
        }
        for (m, model) in MODELS.iter().enumerate() {
            let (state, faults, detail) = match (day, m) {
                (1, 3) => (
                    "recovered",
                    1,
                    "relay board lcus-2 timed out once; health check passed",
                ),
                (4, 3) => (
                    "bad",
                    3,
                    "relay board lcus-2 did not answer; remaining cases skipped",
                ),
                _ => ("healthy", 0, ""),
            };
            conn.execute(
                "INSERT INTO bench_health (run, bench, model, state, lab_faults, retries, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run,
                    format!("desk-{}", model.to_lowercase()),
                    model,
                    state,
                    faults,
                    faults.min(1),
                    detail
                ],
            )?;
        }
    }
    println!("{}", path.display());
    Ok(())
}
