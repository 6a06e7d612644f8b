//! What a bench does after each attempt of a case, and the health it ends the run with.
//!
//! A lab fault (a relay board gone, a phone hung in boot) is no finding about the firmware,
//! so it must neither fail the case nor cost the rest of a night's run: the bench proves
//! healthy (power cycle, provisioning seen), then the case runs again as the lab file's
//! `[lab_faults]` allows. A bench that fails the check leaves service and says why. The
//! decision is a pure function so that it is tested without a bench.

use crate::lab::Bench;
use crate::outcome::Outcome;
use crate::report::{BenchHealth, HealthState};

/// How the health check after a lab fault went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// No check ran (the attempt was no lab fault).
    NotChecked,
    /// The phone booted and fetched its config from the lab's server.
    Healthy,
    /// The check failed, for this reason in words.
    Unhealthy(String),
    /// Ctrl-C came before or during the check.
    Interrupted,
}

/// What the bench does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAction {
    /// Report this attempt and go on with the next case.
    Report,
    /// Run the case again: the bench proved healthy and an attempt is left.
    Retry,
    /// Report this attempt and skip every remaining case of the bench, for this reason.
    RetireBench(String),
    /// Report this attempt and skip every remaining case: the operator stopped the run.
    Stop,
}

/// Whether an attempt that ended as `outcome` calls for a health check before anything
/// else runs on the bench. Only a lab fault does: a failure is a finding about the phone,
/// a config error would not change by power-cycling it.
pub fn needs_health_check(outcome: Outcome) -> bool {
    outcome == Outcome::LabFault
}

/// The decision after one attempt that ended as `outcome`, with `retries_left` attempts
/// the policy still allows for this case and the health check's result.
pub fn next_action(outcome: Outcome, retries_left: u32, health: &Health) -> NextAction {
    match (outcome, health) {
        (Outcome::Interrupted, _) | (_, Health::Interrupted) => NextAction::Stop,
        (Outcome::LabFault, Health::Healthy) if retries_left > 0 => NextAction::Retry,
        (Outcome::LabFault, Health::Healthy) => NextAction::Report,
        (Outcome::LabFault, Health::Unhealthy(reason)) => NextAction::RetireBench(reason.clone()),
        // A lab fault nobody checked: nothing proves the bench can run another case.
        (Outcome::LabFault, Health::NotChecked) => {
            NextAction::RetireBench("it was not checked after its lab fault".into())
        }
        (
            Outcome::Pass | Outcome::Fail | Outcome::ConfigError | Outcome::Skipped,
            Health::NotChecked | Health::Healthy | Health::Unhealthy(_),
        ) => NextAction::Report,
    }
}

/// The reason every remaining case of a retired bench is skipped with.
pub fn retired_reason(bench: &str, health_reason: &str) -> String {
    format!("bench {bench} marked bad: health check failed: {health_reason}")
}

/// A bench's lab faults, retries and health checks over a run, summed up as its
/// `BenchHealth` at the end.
#[derive(Debug, Clone)]
pub struct HealthTally {
    bench: String,
    model: String,
    lab_faults: u32,
    retries: u32,
    bad: bool,
    /// A lab fault not yet followed by a passed health check.
    unchecked_fault: bool,
    notes: Vec<String>,
}

impl HealthTally {
    /// A bench with nothing against it yet.
    pub fn new(bench: &Bench) -> HealthTally {
        HealthTally {
            bench: bench.name.clone(),
            model: bench.model.name().to_string(),
            lab_faults: 0,
            retries: 0,
            bad: false,
            unchecked_fault: false,
            notes: Vec::new(),
        }
    }

    /// An attempt of `case` ended as a lab fault.
    pub fn lab_fault(&mut self, case: &str, attempt: u32, reason: &str) {
        self.lab_faults += 1;
        self.unchecked_fault = true;
        self.notes
            .push(format!("lab fault in {case} (attempt {attempt}): {reason}"));
    }

    /// The health check after the last lab fault passed.
    pub fn healthy(&mut self) {
        self.unchecked_fault = false;
        self.notes.push("health check passed".into());
    }

    /// The health check failed: the bench leaves service.
    pub fn unhealthy(&mut self, reason: &str) {
        self.bad = true;
        self.notes.push(format!("health check failed: {reason}"));
    }

    /// A case runs again after a passed health check.
    pub fn retried(&mut self) {
        self.retries += 1;
    }

    /// The bench could not be used at all (a device missing at the start, its crash
    /// journal unusable): every case was a lab fault without an attempt.
    pub fn unusable(&mut self, reason: &str) {
        self.lab_faults += 1;
        self.bad = true;
        self.notes.push(format!("unusable: {reason}"));
    }

    /// The bench could not be made safe when the run gave it up: a person must look.
    pub fn unsafe_at_end(&mut self, what: &str) {
        self.bad = true;
        self.notes.push(format!("left unsafe at the end: {what}"));
    }

    /// What the run reports for the bench.
    pub fn finish(mut self) -> BenchHealth {
        let state = if self.bad || self.unchecked_fault {
            HealthState::Bad
        } else if self.lab_faults > 0 {
            HealthState::Recovered
        } else {
            HealthState::Healthy
        };
        if self.unchecked_fault && !self.bad {
            self.notes
                .push("not checked after its lab fault (run interrupted)".into());
        }
        BenchHealth {
            bench: self.bench,
            model: self.model,
            state,
            lab_faults: self.lab_faults,
            retries: self.retries,
            detail: self.notes.join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(reason: &str) -> Health {
        Health::Unhealthy(reason.into())
    }

    #[test]
    fn a_lab_fault_on_a_healthy_bench_is_retried_while_attempts_are_left() {
        assert_eq!(
            next_action(Outcome::LabFault, 1, &Health::Healthy),
            NextAction::Retry
        );
        assert_eq!(
            next_action(Outcome::LabFault, 0, &Health::Healthy),
            NextAction::Report
        );
    }

    #[test]
    fn a_failed_health_check_retires_the_bench_with_its_reason() {
        for retries_left in [0, 1, 3] {
            assert_eq!(
                next_action(Outcome::LabFault, retries_left, &bad("no config fetched")),
                NextAction::RetireBench("no config fetched".into())
            );
        }
        assert_eq!(
            retired_reason("t46g", "no config fetched"),
            "bench t46g marked bad: health check failed: no config fetched"
        );
    }

    #[test]
    fn findings_and_config_errors_are_never_retried() {
        for outcome in [
            Outcome::Pass,
            Outcome::Fail,
            Outcome::ConfigError,
            Outcome::Skipped,
        ] {
            assert!(!needs_health_check(outcome), "{outcome:?}");
            assert_eq!(
                next_action(outcome, 5, &Health::NotChecked),
                NextAction::Report,
                "{outcome:?}"
            );
        }
        assert!(needs_health_check(Outcome::LabFault));
    }

    #[test]
    fn an_interruption_stops_the_bench_whatever_the_health() {
        for health in [Health::NotChecked, Health::Healthy, bad("x")] {
            assert_eq!(
                next_action(Outcome::Interrupted, 3, &health),
                NextAction::Stop
            );
        }
        assert_eq!(
            next_action(Outcome::LabFault, 3, &Health::Interrupted),
            NextAction::Stop
        );
        assert!(!needs_health_check(Outcome::Interrupted));
    }

    #[test]
    fn an_unchecked_lab_fault_never_lets_the_bench_go_on() {
        assert!(matches!(
            next_action(Outcome::LabFault, 1, &Health::NotChecked),
            NextAction::RetireBench(_)
        ));
    }

    fn bench() -> Bench {
        let lab = crate::lab::parse(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/virtual.toml"),
            )
            .expect("virtual lab"),
            std::path::Path::new("virtual.toml"),
        )
        .expect("the virtual lab loads");
        lab.benches
            .into_iter()
            .find(|b| b.name == "t46g")
            .expect("t46g")
    }

    #[test]
    fn the_tally_names_the_state_and_keeps_the_earlier_reason() {
        let bench = bench();
        assert_eq!(
            HealthTally::new(&bench).finish().state,
            HealthState::Healthy
        );

        let mut recovered = HealthTally::new(&bench);
        recovered.lab_fault("a@T46G", 1, "lost relay_board `relay-power`");
        recovered.healthy();
        recovered.retried();
        let health = recovered.finish();
        assert_eq!(health.state, HealthState::Recovered);
        assert_eq!((health.lab_faults, health.retries), (1, 1));
        assert_eq!(
            health.detail,
            "lab fault in a@T46G (attempt 1): lost relay_board `relay-power`; health check passed"
        );

        let mut bad_bench = HealthTally::new(&bench);
        bad_bench.lab_fault("a@T46G", 1, "hung");
        bad_bench.unhealthy("no config fetched");
        let health = bad_bench.finish();
        assert_eq!(health.state, HealthState::Bad);
        assert!(
            health
                .detail
                .ends_with("health check failed: no config fetched")
        );

        let mut interrupted = HealthTally::new(&bench);
        interrupted.lab_fault("a@T46G", 1, "hung");
        assert_eq!(interrupted.finish().state, HealthState::Bad);
    }
}
