//! JUnit XML for CI: one test suite per bench, one test case per (scenario, model). A
//! failure is a `<failure>` with the diff; a lab fault or config error is an `<error>`, so
//! CI tells a firmware finding from a broken lab.

use std::collections::BTreeMap;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::Outcome;
use crate::report::RunReport;

/// The JUnit document of a run.
pub fn junit_xml(report: &RunReport) -> String {
    let mut junit = Report::new(format!("harness run on {}", report.lab_name));
    junit.set_time(report.duration);
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for case in &report.cases {
        let suite_name = if case.bench.is_empty() {
            "unbenched".to_string()
        } else {
            case.bench.clone()
        };
        let mut status = match case.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Outcome::LabFault | Outcome::ConfigError | Outcome::Interrupted => {
                TestCaseStatus::non_success(NonSuccessKind::Error)
            }
            Outcome::Skipped => TestCaseStatus::skipped(),
        };
        if case.outcome != Outcome::Pass {
            status.set_type(case.outcome.word());
            status.set_message(case.detail.lines().next().unwrap_or_default().to_string());
            if !case.detail.is_empty() {
                status.set_description(case.detail.clone());
            }
        }
        let mut test_case = TestCase::new(case.case_name(), status);
        test_case.set_classname(format!("{}.{}", case.scenario, case.model));
        test_case.set_time(case.duration);
        if !case.transcript.is_empty() {
            // The attempts go first: a case that passed on its second attempt after a lab
            // fault reads differently from one that passed at once.
            let attempts = if case.attempts > 1 {
                format!("attempts: {}\n\n", case.attempts)
            } else {
                String::new()
            };
            test_case.set_system_out(format!("{attempts}{}", case.transcript));
        }
        let suite = suites
            .entry(suite_name.clone())
            .or_insert_with(|| TestSuite::new(suite_name));
        // The approval a bench's destructive cases ran under, once per suite, for the audit.
        if let Some(approval) = &case.approval
            && !suite
                .properties
                .iter()
                .any(|p| p.name.as_str() == "approval")
        {
            suite.add_property(("approval", approval.as_str()));
        }
        suite.add_test_case(test_case);
    }
    junit.add_test_suites(suites.into_values());
    junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->"))
}
