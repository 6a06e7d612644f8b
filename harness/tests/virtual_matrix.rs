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
    // The virtual lab's T48S benches (the pool `t48s` stands for) require approval and hold a
    // standing one for all but some scenarios: those are refused (skipped, with the reason),
    // every other case passes.
    let standing = harness::lab::load(&common::root().join("lab/virtual.toml"))
        .unwrap()
        .benches
        .into_iter()
        .find(|b| b.name == "t48s")
        .and_then(|b| b.approved)
        .expect("t48s holds a standing approval");
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
            let refused =
                case.model == "T48S" && scenario.destructive && !standing.covers(&case.scenario);
            match harness::scenario::applicability::applicability(scenario, *model) {
                Ok(()) if refused => {
                    assert_eq!(case.outcome, Outcome::Skipped, "{}: {text}", case.scenario);
                    assert!(
                        case.detail.starts_with("approval missing: refused"),
                        "{}",
                        case.detail
                    );
                }
                Ok(()) => {
                    assert_eq!(case.outcome, Outcome::Pass, "{}\n{text}", case.detail);
                    if case.model == "T48S" && scenario.destructive {
                        assert_eq!(case.approval.as_deref(), Some(standing.by.as_str()));
                    }
                }
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
    assert!(
        report
            .cases
            .iter()
            .any(|c| c.outcome == Outcome::Pass && c.approval.is_some())
            && report
                .cases
                .iter()
                .any(|c| c.detail.starts_with("approval missing: refused")),
        "the default run shows an approved and a refused destructive case:\n{text}"
    );
    assert_eq!(report.exit_code, 0, "{text}");
}
