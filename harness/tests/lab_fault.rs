//! A relay board unplugged in the middle of a run is a lab fault on the benches wired to
//! it, never a crash and never a firmware failure: the case says which board, the bench's
//! remaining cases are skipped, and the run exits 3.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{lines_of, wait_line};

const PAUSED_SCENARIO: &str = r#"summary = "a long pause, then a power cycle"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
pause_s = 600

[[step]]
power = "cycle"
"#;

#[test]
fn an_unplugged_relay_board_is_a_lab_fault() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let ports = common::free_endpoint_ports();
    let lab = common::private_lab(dir.path(), ports, &fixtures);
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("a-paused.toml"), PAUSED_SCENARIO).unwrap();
    std::fs::write(scenarios.join("b-paused.toml"), PAUSED_SCENARIO).unwrap();
    let (mut twin, _actuator) = common::start_twin(&lab);
    let mut console = twin.0.stdin.take().unwrap();

    let mut run = common::external_run(&lab, &scenarios, &dir.path().join("run"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(run.stderr.take().unwrap());
    let mut seen = Vec::new();
    // Step 1 is the pause: the given is done and the board is idle. Pull its USB cable.
    assert!(
        wait_line(&lines, &mut seen, "step=1", Duration::from_secs(60)),
        "{seen:?}"
    );
    console.write_all(b"unplug relay-power\n").unwrap();
    console.flush().unwrap();

    let output = run.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("a-paused@T46G on t46g (lab-fault)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("relay_board `relay-power`"),
        "the fault names the board: {stdout}"
    );
    assert!(stdout.contains("0 fail, 1 lab-fault"), "{stdout}");
    let summary = std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap();
    assert!(
        summary.contains("bench out of service after a lab fault"),
        "{summary}"
    );
}
