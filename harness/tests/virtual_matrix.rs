//! The whole scenario matrix on a private copy of the virtual lab: every case must match
//! its reviewed snapshot, or be skipped as not applicable to its model with the reason.
//! This is `cargo run --release`, minus the console.

mod common;

use harness::outcome::Outcome;
use harness::report::console::summary;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_passes_on_every_virtual_bench() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    let report = harness::run::run(common::options(dir.path(), lab, &fixtures, &[], &[])).await;
    let text = summary(&report);
    assert_eq!(report.config_error, None, "{text}");
    let scenarios = harness::scenario::load::load_dir(&common::root().join("scenarios")).unwrap();
    let mut expected_cases = 0;
    for scenario in &scenarios {
        for model in &scenario.models {
            expected_cases += 1;
            let case = report
                .cases
                .iter()
                .find(|c| c.scenario == scenario.name && c.model == model.name())
                .unwrap_or_else(|| panic!("no case {}@{model}:\n{text}", scenario.name));
            // A case runs and passes, unless the model cannot do it: then it is skipped
            // with the reason the table of models gives, and never run.
            match harness::scenario::applicability::applicability(scenario, *model) {
                Ok(()) => assert_eq!(case.outcome, Outcome::Pass, "{}\n{text}", case.detail),
                Err(why) => {
                    assert_eq!(case.outcome, Outcome::Skipped, "{text}");
                    assert_eq!(case.detail, why.reason, "{text}");
                    assert!(case.transcript.is_empty(), "{}", case.case_name());
                }
            }
        }
    }
    assert_eq!(
        report.cases.len(),
        expected_cases,
        "one case per scenario and model it lists:\n{text}"
    );
    assert!(
        report.count(Outcome::Skipped) > 0,
        "the USB scenarios are not applicable to a model without a USB port:\n{text}"
    );
    assert_eq!(report.exit_code, 0, "{text}");
}
