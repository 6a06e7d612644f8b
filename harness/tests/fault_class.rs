//! Whose fault an error is travels typed from the driver to the outcome: a request the
//! bench cannot carry out (a tap on a key the scenario itself holds: the actuator's
//! `ERR 5`) is a config error of the scenario, reported once; it is not a lab fault,
//! retried after health-check power cycles, and it never becomes a failure.

mod common;

use std::process::Stdio;

const TAP_ON_HELD_KEY: &str = r#"summary = "a tap on the key the scenario holds"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
hold = "speaker"

[[step]]
tap = "speaker"
"#;

#[test]
fn a_request_the_actuator_refuses_is_a_config_error_without_a_health_check() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("tap-held.toml"), TAP_ON_HELD_KEY).unwrap();
    let (_twin, _actuator) = common::start_twin(&lab);

    let out_dir = dir.path().join("run");
    let out = common::external_run(&lab, &scenarios, &out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{log}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let case = &summary["cases"][0];
    assert_eq!(case["outcome"], "config-error", "{summary}");
    assert_eq!(case["attempts"], 1, "{summary}");
    let detail = case["detail"].as_str().unwrap();
    assert!(detail.contains("ERR 5"), "{detail}");
    assert!(!log.contains("health check"), "{log}");
    let health = &summary["bench_health"][0];
    assert_eq!(health["state"], "healthy", "{summary}");
    assert_eq!(health["lab_faults"], 0, "{summary}");
}
