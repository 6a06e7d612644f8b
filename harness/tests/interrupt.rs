//! Ctrl-C (or SIGTERM, what a CI system or systemd sends to stop a job) in the middle of a
//! scenario, with the speaker key held: the harness releases the key, leaves the bench in
//! its safe power state (off) and exits 130. Checked on the wire:
//! the actuator answers that no key is held, and the phone's web UI is gone with its power.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{lines_of, wait_line};

const HELD_SCENARIO: &str = r#"summary = "the speaker key held through a long wait"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
hold = "speaker"

[[step]]
wait = "tftp"
timeout_s = 3600
"#;

/// A pause with the key held: at real speed it can be minutes, longer than a service
/// manager waits before it kills; Ctrl-C must end it at once, not after it.
const PAUSED_SCENARIO: &str = r#"summary = "the speaker key held through a long pause"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
hold = "speaker"

[[step]]
pause_s = 600
"#;

/// The virtual lab's own time scale.
const FAST: f64 = 0.01;
/// Slow enough that the longest pause a scenario may have (600 s) lasts 60 s: a run that
/// waits for the pause's end cannot stop within the test's 30 s.
const SLOW: f64 = 0.1;

#[test]
fn ctrl_c_releases_held_keys_and_powers_the_bench_off() {
    stop_mid_scenario(libc::SIGINT, HELD_SCENARIO, FAST);
}

#[test]
fn sigterm_releases_held_keys_and_powers_the_bench_off() {
    stop_mid_scenario(libc::SIGTERM, HELD_SCENARIO, FAST);
}

#[test]
fn ctrl_c_ends_a_pause_at_once() {
    stop_mid_scenario(libc::SIGINT, PAUSED_SCENARIO, SLOW);
}

#[test]
fn sigterm_ends_a_pause_at_once() {
    stop_mid_scenario(libc::SIGTERM, PAUSED_SCENARIO, SLOW);
}

fn stop_mid_scenario(signal: libc::c_int, scenario: &str, time_scale: f64) {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let ports = common::free_endpoint_ports();
    let lab = common::private_lab(dir.path(), ports, &fixtures);
    let lab_text = std::fs::read_to_string(&lab)
        .unwrap()
        .replace("time_scale = 0.01", &format!("time_scale = {time_scale}"));
    std::fs::write(&lab, &lab_text).unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("held.toml"), scenario).unwrap();

    let (_twin, actuator) = common::start_twin(&lab);

    let mut run = common::external_run(&lab, &scenarios, &dir.path().join("run"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(run.stderr.take().unwrap());
    let pid = run.id() as i32;
    let mut seen = Vec::new();
    // The log names each step before it runs: step 2 means the key is held now.
    assert!(
        wait_line(&lines, &mut seen, "step=2", Duration::from_secs(60)),
        "the harness never reached the wait: {seen:?}"
    );
    // SAFETY: sending a signal to a child we spawned and have not reaped.
    unsafe { libc::kill(pid, signal) };
    // A pause lasts 60 s at the slow time scale: ending within this bound is ending at the
    // signal, not at the pause's end.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the harness did not stop after signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "{seen:?}");

    // The actuator: nothing held.
    let mut port = serialport::new(&actuator, 115_200)
        .timeout(Duration::from_secs(5))
        .open_native()
        .unwrap();
    port.write_all(b"QUERY\n").unwrap();
    let mut reader = BufReader::new(port);
    let answer = loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("OK") || line.starts_with("ERR") {
            break line.trim().to_string();
        }
    };
    assert_eq!(answer, "OK QUERY HELD -");

    // The phone: powered off, so its web UI no longer answers.
    let ip_line = lab_text
        .lines()
        .find(|l| l.starts_with("ip = ") && l.ends_with(".46\""))
        .unwrap();
    let web = format!("{}:8080", ip_line.split('"').nth(1).unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&web.parse().unwrap(), Duration::from_millis(500)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the phone at {web} still answers: its power was left on"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
