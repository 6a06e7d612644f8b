//! The checks a run summary's fields pass before anything of the folder is recorded. A
//! folder from another host is untrusted input: its names end up in the dashboard's pages
//! and links, its start orders the history, its counts are summed.
//!
//! Names (run id, host, scenario, model, bench) must be [safe names](is_safe_name), the
//! alphabet the run folder itself uses for file names; free text (lab name, details,
//! firmware versions) is bounded and free of control characters where a run never puts
//! any; numbers must be ones a run can produce.

use crate::history::folder::plain_relative_path;
use crate::history::summary::RecordedRun;
use crate::history::timestamp::normalized_start;
use crate::outcome::Outcome;
use crate::report::run_folder::{MAX_NAME_LEN, is_safe_name};

/// The most cases one run may have: the full matrix of every scenario on every model of a
/// large lab is a few hundred.
pub const MAX_CASES: usize = 10_000;

/// The most benches one run may report the health of: a rack holds tens.
pub const MAX_BENCHES: usize = 1_000;

/// The cap on a case's `detail`, the diff of a failure (or the reason of another outcome):
/// a diff of two transcripts, each capped at a few kB in practice, never nears it.
pub const MAX_DIFF_BYTES: usize = 1 << 20;

/// The cap on one-line text fields (lab name, approval, firmware version, health detail).
pub const MAX_LINE_BYTES: usize = 1024;

/// The most firmware versions one case may have seen (each upgrade step announces one).
pub const MAX_FIRMWARE_PER_CASE: usize = 64;

/// The longest a run or a case may have taken: a week. Anything longer is a broken clock
/// or a forged summary, and would dominate every duration shown.
pub const MAX_DURATION_S: f64 = 7.0 * 24.0 * 3600.0;

/// The most attempts of one case (retries after lab faults are a handful).
pub const MAX_ATTEMPTS: u32 = 1_000;

/// The most lab faults or retries one bench may report in a run.
pub const MAX_FAULT_COUNT: u32 = 1_000_000;

/// Every outcome a case may have, as the summary spells it.
const OUTCOMES: [Outcome; 6] = [
    Outcome::Pass,
    Outcome::Fail,
    Outcome::LabFault,
    Outcome::Skipped,
    Outcome::ConfigError,
    Outcome::Interrupted,
];

/// A field that failed its check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    /// The field's path in the summary (`started_at`, `cases[3].bench`).
    pub field: String,
    /// What is wrong, worded to follow the field's name.
    pub problem: String,
}

/// This host's clock, in seconds since the epoch.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Checks every field of `run`; rewrites `started_at` as UTC. `now_s` is this host's clock.
pub fn run(run: &mut RecordedRun, now_s: i64) -> Result<(), BadField> {
    name("run_id", &run.run_id)?;
    name("host", &run.host)?;
    run.started_at = normalized_start(&run.started_at, now_s).map_err(|problem| BadField {
        field: "started_at".into(),
        problem: if run.started_at.is_empty() {
            "is missing: a run's start orders the history, so it is required".into()
        } else {
            format!("`{}` {problem}", shown(&run.started_at))
        },
    })?;
    line("lab_name", &run.lab_name, MAX_LINE_BYTES)?;
    if let Some(approval) = &run.approval {
        line("approval", approval, MAX_LINE_BYTES)?;
    }
    duration("duration", run.duration_s)?;
    if !(0..=255).contains(&run.exit_code) {
        return Err(bad(
            "exit_code",
            format!("is {}, not an exit code (0 to 255)", run.exit_code),
        ));
    }
    if run.cases.len() > MAX_CASES {
        return Err(bad(
            "cases",
            format!(
                "lists {} cases, more than the {MAX_CASES} one run may have",
                run.cases.len()
            ),
        ));
    }
    for (i, case) in run.cases.iter().enumerate() {
        let field = |name: &str| format!("cases[{i}].{name}");
        name(&field("scenario"), &case.scenario)?;
        name(&field("model"), &case.model)?;
        optional_name(&field("bench"), &case.bench)?;
        if !OUTCOMES.iter().any(|o| o.word() == case.outcome) {
            return Err(bad(
                &field("outcome"),
                format!(
                    "is the unknown outcome `{}` (expected one of pass, fail, lab-fault, \
                     skipped, config-error, interrupted)",
                    shown(&case.outcome)
                ),
            ));
        }
        if case.detail.len() > MAX_DIFF_BYTES {
            return Err(bad(
                &field("detail"),
                format!(
                    "is {} bytes, over the cap of {MAX_DIFF_BYTES}",
                    case.detail.len()
                ),
            ));
        }
        duration(&field("duration"), case.duration_s)?;
        if !(1..=MAX_ATTEMPTS).contains(&case.attempts) {
            return Err(bad(
                &field("attempts"),
                format!("is {}, not 1 to {MAX_ATTEMPTS}", case.attempts),
            ));
        }
        if case.firmware_seen.len() > MAX_FIRMWARE_PER_CASE {
            return Err(bad(
                &field("firmware_seen"),
                format!("lists more than {MAX_FIRMWARE_PER_CASE} versions"),
            ));
        }
        for (j, version) in case.firmware_seen.iter().enumerate() {
            line(
                &field(&format!("firmware_seen[{j}]")),
                version,
                MAX_LINE_BYTES,
            )?;
        }
        for (key, path) in [
            ("transcript_file", &case.transcript_file),
            ("diff_file", &case.diff_file),
        ] {
            if let Some(path) = path
                && plain_relative_path(path).is_none()
            {
                return Err(bad(
                    &field(key),
                    format!(
                        "`{}` leaves the run folder or is not a plain relative path (names \
                         of A-Z a-z 0-9 . _ @ - joined by `/`)",
                        shown(path)
                    ),
                ));
            }
        }
    }
    if run.bench_health.len() > MAX_BENCHES {
        return Err(bad(
            "bench_health",
            format!("lists more than {MAX_BENCHES} benches"),
        ));
    }
    for (i, health) in run.bench_health.iter().enumerate() {
        let field = |name: &str| format!("bench_health[{i}].{name}");
        name(&field("bench"), &health.bench)?;
        optional_name(&field("model"), &health.model)?;
        for (key, count) in [
            ("lab_faults", health.lab_faults),
            ("retries", health.retries),
        ] {
            if count > MAX_FAULT_COUNT {
                return Err(bad(
                    &field(key),
                    format!("is {count}, more than {MAX_FAULT_COUNT}"),
                ));
            }
        }
        line(&field("detail"), &health.detail, MAX_LINE_BYTES)?;
    }
    Ok(())
}

fn bad(field: &str, problem: String) -> BadField {
    BadField {
        field: field.into(),
        problem,
    }
}

fn name(field: &str, value: &str) -> Result<(), BadField> {
    if is_safe_name(value) {
        return Ok(());
    }
    Err(bad(
        field,
        format!(
            "`{}` is not a name: 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 . _ @ -, not starting \
             with `.`",
            shown(value)
        ),
    ))
}

/// A name that may be empty (a case no bench had the model for).
fn optional_name(field: &str, value: &str) -> Result<(), BadField> {
    if value.is_empty() {
        Ok(())
    } else {
        name(field, value)
    }
}

/// One line of free text: bounded, no control characters.
fn line(field: &str, value: &str, cap: usize) -> Result<(), BadField> {
    if value.len() > cap {
        return Err(bad(
            field,
            format!("is {} bytes, over the cap of {cap}", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(
            field,
            "holds control characters (one line of text expected)".into(),
        ));
    }
    Ok(())
}

fn duration(field: &str, seconds: f64) -> Result<(), BadField> {
    if seconds.is_finite() && (0.0..=MAX_DURATION_S).contains(&seconds) {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("is {seconds} s, not a duration of 0 to {MAX_DURATION_S} s"),
        ))
    }
}

/// A field's value for an error message: cut short, control characters escaped, so a
/// hostile value cannot flood or rewrite the console.
fn shown(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(80)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::MAX_CASES;
    use crate::history::summary::RecordedRun;

    fn minimal() -> RecordedRun {
        serde_json::from_str(
            r#"{"run_id": "r1", "host": "lab-a", "started_at": "2026-01-01T03:00:00Z",
                "cases": [{"scenario": "a", "model": "T46G", "bench": "t46g",
                           "outcome": "pass", "transcript_file": "transcripts/a.txt"}],
                "bench_health": [{"bench": "t46g", "state": "healthy"}]}"#,
        )
        .unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_summary_as_a_run_writes_it_passes() {
        let mut run = minimal();
        super::run(&mut run, NOW).unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = fn(&mut RecordedRun);
        let cases: [(Spoil, &str); 14] = [
            (|r| r.started_at = "not a time".into(), "started_at"),
            (|r| r.started_at = String::new(), "started_at"),
            (|r| r.run_id = "../../x".into(), "run_id"),
            (|r| r.host = "lab a".into(), "host"),
            (
                |r| r.cases[0].bench = "x/../../../../tmp/PWNED".into(),
                "cases[0].bench",
            ),
            (
                |r| r.cases[0].scenario = ".hidden".into(),
                "cases[0].scenario",
            ),
            (|r| r.cases[0].model = String::new(), "cases[0].model"),
            (
                |r| r.cases[0].outcome = "exploded".into(),
                "cases[0].outcome",
            ),
            (|r| r.cases[0].duration_s = -1.0, "cases[0].duration"),
            (|r| r.cases[0].attempts = 0, "cases[0].attempts"),
            (
                |r| r.cases[0].transcript_file = Some("../secret".into()),
                "cases[0].transcript_file",
            ),
            (
                |r| r.cases[0].diff_file = Some("/etc/passwd".into()),
                "cases[0].diff_file",
            ),
            (|r| r.exit_code = 300, "exit_code"),
            (|r| r.lab_name = "two\nlines".into(), "lab_name"),
        ];
        for (spoil, field) in cases {
            let mut run = minimal();
            spoil(&mut run);
            let refused = super::run(&mut run, NOW).unwrap_err();
            assert_eq!(refused.field, field, "{refused:?}");
        }
    }

    #[test]
    fn a_run_of_more_cases_than_any_lab_has_is_refused() {
        let mut run = minimal();
        run.cases = vec![run.cases[0].clone(); MAX_CASES + 1];
        assert_eq!(super::run(&mut run, NOW).unwrap_err().field, "cases");
    }

    #[test]
    fn the_start_is_stored_in_utc() {
        let mut run = minimal();
        run.started_at = "2026-01-01T05:00:00+02:00".into();
        super::run(&mut run, NOW).unwrap();
        assert_eq!(run.started_at, "2026-01-01T03:00:00Z");
    }
}
