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
    assert_eq!(report.count(Outcome::Pass), report.cases.len(), "{text}");
    assert_eq!(report.exit_code, 0, "{text}");
}
