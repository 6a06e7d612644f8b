//! Listeners of finished cases: the run's results fan out from one funnel
//! (`LiveProgress::case_done`) to every reporter that must see a case as soon as it ends,
//! not only when the run does.

use crate::report::CaseReport;

/// Told about every case the moment it finishes, on whichever bench it ran.
///
/// Called from inside the run, between cases: an implementation must not block for long
/// and must not fail the run, so it reports its own errors (a warning in the log).
pub trait CaseListener: Send + Sync {
    /// Called once per case, as soon as its verdict is known.
    fn case_done(&self, case: &CaseReport);
}
