//! Lab faults are never firmware failures and never cost a night's run: a relay board
//! unplugged or a phone hung in boot makes the case a lab fault naming what broke; the bench
//! then proves healthy (its devices answer, a power cycle brings provisioning) and the case
//! runs again, or the bench is marked bad and its remaining cases are skipped naming the
//! check. The virtual bench runs as its own process; faults are typed on its standard input.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::{lines_of, wait_line};

/// A pause (3 s at the virtual lab's time scale) in which a fault can be typed while the
/// bench is idle, then a power cycle that needs the power relay board.
const PAUSED_SCENARIO: &str = r#"summary = "a pause, then a power cycle"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
pause_s = 300

[[step]]
power = "cycle"
"#;

/// A private lab (at `time_scale`, when given) with the paused scenario under each name.
struct Setup {
    dir: tempfile::TempDir,
    lab: PathBuf,
    scenarios: PathBuf,
}

fn setup(names: &[&str], time_scale: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    if let Some(scale) = time_scale {
        let text = std::fs::read_to_string(&lab).unwrap();
        assert!(text.contains("time_scale = 0.01\n"));
        std::fs::write(
            &lab,
            text.replace("time_scale = 0.01\n", &format!("time_scale = {scale}\n")),
        )
        .unwrap();
    }
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for name in names {
        std::fs::write(scenarios.join(format!("{name}.toml")), PAUSED_SCENARIO).unwrap();
    }
    Setup {
        dir,
        lab,
        scenarios,
    }
}

fn type_fault(console: &mut ChildStdin, command: &str) {
    console
        .write_all(format!("{command}\n").as_bytes())
        .unwrap();
    console.flush().unwrap();
}

/// Starts a run of the T46G bench; returns it with its stderr lines.
fn start_run(setup: &Setup, out: &str) -> (std::process::Child, Receiver<String>) {
    let mut run = common::external_run(&setup.lab, &setup.scenarios, &setup.dir.path().join(out))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(run.stderr.take().unwrap());
    (run, lines)
}

/// The bench's health in `summary.json` (state, lab faults, retries); returns it for more.
fn assert_health<'s>(
    summary: &'s serde_json::Value,
    state: &str,
    lab_faults: u64,
    retries: u64,
) -> &'s serde_json::Value {
    let health = &summary["bench_health"][0];
    assert_eq!(
        (&health["state"], &health["lab_faults"], &health["retries"]),
        (&state.into(), &lab_faults.into(), &retries.into()),
        "{summary}"
    );
    health
}

fn summary_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn an_unplugged_relay_board_left_out_marks_the_bench_bad() {
    let setup = setup(&["a-paused", "b-paused"], None);
    let (mut twin, _actuator) = common::start_twin(&setup.lab);
    let mut console = twin.0.stdin.take().unwrap();

    let (run, lines) = start_run(&setup, "run");
    let mut seen = Vec::new();
    // Step 1 is the pause: the given is done and the board is idle. Pull its USB cable.
    assert!(
        wait_line(&lines, &mut seen, "step=1", Duration::from_secs(60)),
        "{seen:?}"
    );
    type_fault(&mut console, "unplug relay-power");

    let output = run.wait_with_output().unwrap();
    let stdout = stdout_of(&output);
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
    assert!(stdout.contains("1 skipped"), "{stdout}");
    assert!(stdout.contains("t46g (T46G): BAD"), "{stdout}");
    let summary = summary_json(&setup.dir.path().join("run"));
    let skipped = &summary["cases"][1];
    assert_eq!(skipped["outcome"], "skipped", "{summary}");
    let reason = skipped["detail"].as_str().unwrap();
    assert!(
        reason.starts_with("bench t46g marked bad: health check failed: its devices do not answer"),
        "{reason}"
    );
    assert!(reason.contains("relay board `relay-power`"), "{reason}");
    assert_health(&summary, "bad", 1, 0);
}

#[test]
fn a_replugged_relay_board_is_reopened_and_the_case_passes_on_its_retry() {
    let setup = setup(&["a-paused"], None);
    let (mut twin, _actuator) = common::start_twin(&setup.lab);
    let mut console = twin.0.stdin.take().unwrap();

    // A clean run first: its transcript becomes the case's snapshot.
    let first = common::external_run(
        &setup.lab,
        &setup.scenarios,
        &setup.dir.path().join("first"),
    )
    // Outside CI a run leaves its transcript as a pending snapshot.
    .env_remove("CI")
    .output()
    .unwrap();
    let pending = setup.scenarios.join("snapshots/a-paused@T46G.snap.new");
    assert_eq!(first.status.code(), Some(1), "{}", stdout_of(&first));
    std::fs::rename(&pending, pending.with_extension("")).unwrap();

    let (run, lines) = start_run(&setup, "run");
    let mut seen = Vec::new();
    assert!(
        wait_line(&lines, &mut seen, "step=1", Duration::from_secs(60)),
        "{seen:?}"
    );
    // Out and back in during the pause: the harness's port to the board is dead for good,
    // so the power cycle of step 2 is a lab fault however quickly the cable came back.
    type_fault(&mut console, "unplug relay-power");
    std::thread::sleep(Duration::from_millis(300));
    type_fault(&mut console, "replug relay-power");

    let output = run.wait_with_output().unwrap();
    let stdout = stdout_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 pass, 0 fail, 0 lab-fault"), "{stdout}");
    assert!(stdout.contains("t46g (T46G): recovered"), "{stdout}");
    let summary = summary_json(&setup.dir.path().join("run"));
    let case = &summary["cases"][0];
    assert_eq!(case["outcome"], "pass", "{summary}");
    assert_eq!(case["attempts"], 2, "{summary}");
    let detail = case["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("passed on attempt 2 after a lab fault (attempt 1: lab fault: "),
        "the first attempt's reason is kept: {detail}"
    );
    assert!(detail.contains("relay_board `relay-power`"), "{detail}");
    let health = assert_health(&summary, "recovered", 1, 1);
    assert!(
        health["detail"]
            .as_str()
            .unwrap()
            .ends_with("health check passed"),
        "{summary}"
    );
}

#[test]
fn a_phone_hung_in_boot_fails_its_health_check_and_the_bench_is_bad() {
    let setup = setup(&["a-paused", "b-paused"], Some("0.005"));
    let (mut twin, _actuator) = common::start_twin(&setup.lab);
    let mut console = twin.0.stdin.take().unwrap();
    type_fault(&mut console, "hang t46g");

    let (run, _lines) = start_run(&setup, "run");
    let output = run.wait_with_output().unwrap();
    let stdout = stdout_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("a-paused@T46G on t46g (lab-fault)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("did not reach the lab baseline"),
        "{stdout}"
    );
    let summary = summary_json(&setup.dir.path().join("run"));
    let skipped = &summary["cases"][1];
    assert_eq!(skipped["outcome"], "skipped", "{summary}");
    let reason = skipped["detail"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "bench t46g marked bad: health check failed: the phone did not fetch its config \
             /001565000046.cfg from the lab's provisioning server"
        ),
        "{reason}"
    );
    assert_eq!(summary["bench_health"][0]["state"], "bad", "{summary}");
    assert_eq!(summary["cases"][0]["attempts"], 1, "{summary}");
}

#[test]
fn a_phone_that_boots_again_recovers_the_bench_and_its_case_is_retried() {
    let setup = setup(&["a-paused"], Some("0.005"));
    let (mut twin, _actuator) = common::start_twin(&setup.lab);
    let mut console = twin.0.stdin.take().unwrap();
    type_fault(&mut console, "hang t46g");

    let (run, lines) = start_run(&setup, "run");
    let mut seen = Vec::new();
    // The case fails its baseline; once the health check starts, the phone is mended. The
    // check tries a second power cycle, so the mend counts whichever boot it reaches.
    assert!(
        wait_line(
            &lines,
            &mut seen,
            "health check: power cycle 1",
            Duration::from_secs(90)
        ),
        "{seen:?}"
    );
    type_fault(&mut console, "unhang t46g");

    let output = run.wait_with_output().unwrap();
    let stdout = stdout_of(&output);
    let summary = summary_json(&setup.dir.path().join("run"));
    let case = &summary["cases"][0];
    assert_eq!(case["attempts"], 2, "{stdout}");
    // No snapshot in this private scenarios folder: the retried case reaches its snapshot
    // check, which is a finding, never again a lab fault.
    assert_eq!(case["outcome"], "fail", "{stdout}");
    assert!(
        case["detail"]
            .as_str()
            .unwrap()
            .starts_with("no snapshot yet"),
        "{summary}"
    );
    let health = &summary["bench_health"][0];
    assert_eq!(health["state"], "recovered", "{summary}");
    assert!(
        health["detail"]
            .as_str()
            .unwrap()
            .contains("did not reach the lab baseline"),
        "the first attempt's reason is kept: {summary}"
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}");
}
