//! The whole scenario matrix on a private copy of the virtual lab: every case must match
//! its reviewed snapshot. This is `cargo run --release`, minus the console.

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
    let scenarios = std::fs::read_dir(common::root().join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(
        report.cases.len(),
        scenarios * harness::lab::Model::ALL.len(),
        "one case per scenario and model:\n{text}"
    );
    // The virtual lab's t48s requires approval and holds a standing one for all but some
    // scenarios: those are refused (skipped, with the reason), every other case passes.
    let standing = harness::lab::load(&common::root().join("lab/virtual.toml"))
        .unwrap()
        .benches
        .into_iter()
        .find(|b| b.name == "t48s")
        .and_then(|b| b.approved)
        .expect("t48s holds a standing approval");
    for case in &report.cases {
        let refused = case.bench == "t48s" && !standing.covers(&case.scenario);
        if refused {
            assert_eq!(case.outcome, Outcome::Skipped, "{}: {text}", case.scenario);
            assert!(
                case.detail.starts_with("approval missing: refused"),
                "{}",
                case.detail
            );
        } else {
            assert_eq!(
                case.outcome,
                Outcome::Pass,
                "{}@{}: {text}",
                case.scenario,
                case.bench
            );
        }
        if case.bench == "t48s" && !refused {
            assert_eq!(case.approval.as_deref(), Some(standing.by.as_str()));
        }
    }
    assert!(
        report.count(Outcome::Skipped) >= 1 && report.count(Outcome::Pass) >= 1,
        "the default run shows an approved and a refused destructive case:\n{text}"
    );
    assert_eq!(report.exit_code, 0, "{text}");
}
