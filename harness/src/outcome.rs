//! Outcomes of cases and runs, and the exit codes they map to (documented in the README).

use serde::Serialize;

/// How one (scenario, bench) case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The transcript matches its snapshot.
    Pass,
    /// Not applicable (model, approval missing, bench out of service).
    Skipped,
    /// The lab broke: a device vanished, a relay did not answer, an endpoint could not bind.
    LabFault,
    /// The transcript differs from its snapshot (or has none yet): a finding.
    Fail,
    /// A lab, scenario or fixture file is unusable.
    ConfigError,
    /// The operator interrupted the run.
    Interrupted,
}

impl Outcome {
    /// The word transcripts, reports and the history use, so they all say the same.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Skipped => "skipped",
            Outcome::LabFault => "lab-fault",
            Outcome::Fail => "fail",
            Outcome::ConfigError => "config-error",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// Whose fault an error that stopped a case is, decided from the error's kind (see
/// `RigError::class`, `DriverError::is_lab_fault`), never from its text. A failure is not
/// among them: only a snapshot comparison finds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    /// The lab broke: retried after a health check, never a finding about the firmware.
    LabFault,
    /// The lab or scenario file asks for what the bench cannot do: fix the file.
    ConfigError,
}

impl FaultClass {
    /// The outcome of a case stopped by such an error.
    pub fn outcome(self) -> Outcome {
        match self {
            FaultClass::LabFault => Outcome::LabFault,
            FaultClass::ConfigError => Outcome::ConfigError,
        }
    }
}

/// Process exit codes, kept in one place.
pub mod exit_code {
    /// Every case passed or was skipped.
    pub const PASS: i32 = 0;
    /// At least one case failed: the firmware or the phone did not behave as recorded.
    pub const FAIL: i32 = 1;
    /// A lab or scenario file is malformed: nothing ran.
    pub const CONFIG_ERROR: i32 = 2;
    /// No case failed, but the lab broke on at least one (results are incomplete).
    pub const LAB_FAULT: i32 = 3;
    /// Interrupted (Ctrl-C); every bench was made safe.
    pub const INTERRUPTED: i32 = 130;
}

/// The exit code of a run with these outcomes. A failure outranks a lab fault: a finding
/// about the firmware is never hidden behind a broken relay elsewhere in the rack.
pub fn exit_code_for(outcomes: impl IntoIterator<Item = Outcome>) -> i32 {
    let mut worst = exit_code::PASS;
    for outcome in outcomes {
        let code = match outcome {
            Outcome::Pass | Outcome::Skipped => exit_code::PASS,
            Outcome::Fail => exit_code::FAIL,
            Outcome::LabFault => exit_code::LAB_FAULT,
            Outcome::ConfigError => exit_code::CONFIG_ERROR,
            Outcome::Interrupted => exit_code::INTERRUPTED,
        };
        worst = match (worst, code) {
            (exit_code::INTERRUPTED, _) | (_, exit_code::INTERRUPTED) => exit_code::INTERRUPTED,
            (exit_code::CONFIG_ERROR, _) | (_, exit_code::CONFIG_ERROR) => exit_code::CONFIG_ERROR,
            (exit_code::FAIL, _) | (_, exit_code::FAIL) => exit_code::FAIL,
            (exit_code::LAB_FAULT, _) | (_, exit_code::LAB_FAULT) => exit_code::LAB_FAULT,
            _ => exit_code::PASS,
        };
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_outrank_lab_faults_and_passes() {
        assert_eq!(exit_code_for([Outcome::Pass, Outcome::Skipped]), 0);
        assert_eq!(exit_code_for([Outcome::LabFault, Outcome::Pass]), 3);
        assert_eq!(
            exit_code_for([Outcome::LabFault, Outcome::Fail, Outcome::Pass]),
            1
        );
        assert_eq!(exit_code_for([Outcome::Fail, Outcome::ConfigError]), 2);
        assert_eq!(exit_code_for([Outcome::Fail, Outcome::Interrupted]), 130);
        assert_eq!(exit_code_for([]), 0);
    }
}
