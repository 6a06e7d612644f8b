//! The snapshot check can fail: a firmware that lacks the Auto-P reset (everything else
//! equal) must turn `autop-password-reset` into a failure with a readable diff.

mod common;

use harness::firmware::Manifest;
use harness::firmware::rom::{read_declaration, read_header, write_image};
use harness::lab::Model;
use harness::outcome::Outcome;

/// Copies the fixtures and rebuilds the T46G `current` image without the feature.
fn fixtures_without_autop(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("fixtures");
    for model in Model::ALL {
        let from = common::root().join("firmware-fixtures").join(model.name());
        std::fs::create_dir_all(out.join(model.name())).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                out.join(model.name()).join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let manifest = Manifest::load(&out, Model::T46G).unwrap();
    let current = manifest.generation("current").unwrap();
    let bytes = std::fs::read(&current.rom).unwrap();
    let header = read_header(&bytes).unwrap();
    let mut declaration = read_declaration(&bytes).unwrap().unwrap();
    assert_eq!(declaration.features, vec!["autop-reset".to_string()]);
    declaration.features.clear();
    std::fs::write(
        &current.rom,
        write_image(&header, &declaration, bytes.len()),
    )
    .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_firmware_without_the_feature_fails_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = fixtures_without_autop(dir.path());
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    let options = common::options(
        dir.path(),
        lab,
        &fixtures,
        &["autop-password-reset"],
        &["t46g"],
    );
    let report = harness::run::run(options).await;
    let text = harness::report::console::summary(&report);
    assert_eq!(report.cases.len(), 1, "{text}");
    let case = &report.cases[0];
    assert_eq!(case.outcome, Outcome::Fail, "{text}");
    assert_eq!(report.exit_code, 1, "{text}");
    // The detail names the snapshot and says what was written: here nothing, as the tests
    // compare with the checkout's snapshots and never write into them.
    assert!(
        case.detail.contains("differs from ")
            && case.detail.contains("autop-password-reset@T46G.snap\n"),
        "{}",
        case.detail
    );
    assert!(
        case.detail.contains("nothing was written"),
        "{}",
        case.detail
    );
    assert!(!case.detail.contains("INSTA"), "{}", case.detail);
    // The recorded behaviour: call-home seen, admin/admin accepted. This run: neither.
    let removed: Vec<&str> = case.detail.lines().filter(|l| l.starts_with('-')).collect();
    let added: Vec<&str> = case.detail.lines().filter(|l| l.starts_with('+')).collect();
    assert!(
        removed
            .iter()
            .any(|l| l.contains("call-home: admin password reset")),
        "{}",
        case.detail
    );
    assert!(
        removed
            .iter()
            .any(|l| l.contains("web login with admin/admin: accepted")),
        "{}",
        case.detail
    );
    assert!(
        added.iter().any(|l| l.contains("none within the timeout")),
        "{}",
        case.detail
    );
    assert!(
        added
            .iter()
            .any(|l| l.contains("web login with admin/admin: refused")),
        "{}",
        case.detail
    );
}
