//! `harness power | network | dial | press` against a virtual bench started as its own
//! process, with `harness serve` as a third process: three programs that share nothing but
//! serial devices and sockets. The harness has no back door into the twin.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Reaped, harness_exe, harness_ok, lines_of, wait_line};

#[test]
fn hand_commands_drive_a_separately_started_bench() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let ports = common::free_endpoint_ports();
    let lab = common::private_lab(dir.path(), ports, &fixtures);

    // The endpoints, with every account cancelled: the phone will show No Service.
    let mut serve = Command::new(harness_exe())
        .args(["serve", "--account", "cancelled", "--lab"])
        .arg(&lab)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(serve.stdout.take().unwrap());
    let _serve = Reaped(serve);
    let mut seen = Vec::new();
    assert!(
        wait_line(&lines, &mut seen, "Ctrl-C stops", Duration::from_secs(30)),
        "serve did not start: {seen:?}"
    );

    // The virtual bench, alone.
    let (_twin, _actuator) = common::start_twin(&lab);

    harness_ok(&lab, &["network", "t46g", "connect"]);
    harness_ok(&lab, &["power", "t46g", "on"]);
    assert!(
        wait_line(
            &lines,
            &mut seen,
            "-> 404 (account cancelled)",
            Duration::from_secs(30)
        ),
        "no boot-time provisioning seen: {seen:?}"
    );
    harness_ok(&lab, &["dial", "t46g", "**7283"]);
    harness_ok(&lab, &["press", "t46g", "f4"]);
    assert!(
        wait_line(
            &lines,
            &mut seen,
            "/autop/001565000046.cfg",
            Duration::from_secs(30)
        ),
        "no call-home seen: {seen:?}"
    );
    let call_home = seen.last().unwrap();
    assert!(call_home.starts_with("t46g"), "{call_home}");
    assert!(
        call_home.contains("-> 200 (call-home: admin password reset)"),
        "{call_home}"
    );
    harness_ok(&lab, &["power", "t46g", "off"]);
}
