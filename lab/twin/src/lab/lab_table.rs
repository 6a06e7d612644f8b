//! `[lab]` and `[lab_faults]`: the lab's name, its clock, and the harness's fault policy.
//! The twin uses only the clock, but refuses what the harness refuses so that a lab that
//! starts a virtual bench is one the harness can run.

use serde::Deserialize;

use super::LabError;
use super::checker::Checker;

/// Below this one second of phone time is under a millisecond: timers would tie.
const MIN_TIME_SCALE: f64 = 0.001;
/// Above this a real rack's timeouts would run for hours.
const MAX_TIME_SCALE: f64 = 10.0;
const MAX_RETRIES: i64 = 5;
const MAX_HEALTH_CHECK_TIMEOUT_S: i64 = 3600;
const NAME_MAX_LEN: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLabTable {
    name: String,
    time_scale: f64,
    lock_dir: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLabFaults {
    retries: Option<i64>,
    health_check_timeout_s: Option<i64>,
}

/// `[lab]`: returns the name and the time scale.
pub(super) fn read(check: &Checker, raw: &RawLabTable) -> Result<(String, f64), LabError> {
    let name = &raw.name;
    if name.trim().is_empty() {
        return Err(check.invalid("lab.name", "must not be empty"));
    }
    // One line of every report the harness writes.
    if name.chars().any(char::is_control) || name.chars().count() > NAME_MAX_LEN {
        return Err(check.invalid(
            "lab.name",
            format!("expected one line of at most {NAME_MAX_LEN} characters"),
        ));
    }
    // Written so that NaN fails too.
    if !(MIN_TIME_SCALE..=MAX_TIME_SCALE).contains(&raw.time_scale) {
        return Err(check.invalid(
            "lab.time_scale",
            format!(
                "expected {MIN_TIME_SCALE} to {MAX_TIME_SCALE}, found {}",
                raw.time_scale
            ),
        ));
    }
    if raw
        .lock_dir
        .as_deref()
        .is_some_and(|dir| dir.trim().is_empty())
    {
        return Err(check.invalid("lab.lock_dir", "must name a folder"));
    }
    Ok((name.clone(), raw.time_scale))
}

/// `[lab_faults]`: only range-checked; the twin has no use for the policy.
pub(super) fn read_faults(check: &Checker, raw: &RawLabFaults) -> Result<(), LabError> {
    if let Some(retries) = raw.retries
        && !(0..=MAX_RETRIES).contains(&retries)
    {
        return Err(check.invalid(
            "lab_faults.retries",
            format!("expected 0 to {MAX_RETRIES}, found {retries}"),
        ));
    }
    if let Some(timeout) = raw.health_check_timeout_s
        && !(1..=MAX_HEALTH_CHECK_TIMEOUT_S).contains(&timeout)
    {
        return Err(check.invalid(
            "lab_faults.health_check_timeout_s",
            format!("expected 1 to {MAX_HEALTH_CHECK_TIMEOUT_S}, found {timeout}"),
        ));
    }
    Ok(())
}
