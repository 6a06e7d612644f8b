//! `harness login` against a virtual bench started as its own process, with `harness serve`
//! as a third: the web-login probe alone, its three verdicts and their exit codes.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Reaped, harness_exe, harness_ok, lines_of, wait_line};

/// `harness login t46g --password PW`, with a short retry window for a silent phone.
fn login(lab: &Path, password: &str) -> Output {
    Command::new(harness_exe())
        .args(["login", "t46g", "--password", password, "--timeout-s", "2"])
        .arg("--lab")
        .arg(lab)
        .output()
        .expect("run harness login")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn login_says_accepted_refused_or_unreachable_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let ports = common::free_endpoint_ports();
    let lab = common::private_lab(dir.path(), ports, &fixtures);

    // Every account cancelled: the MAC config answers 404, so the phone keeps its factory
    // password, admin.
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
    let (_twin, _actuator) = common::start_twin(&lab);

    // Off: nothing answers on the phone's address.
    let off = login(&lab, "admin");
    assert_eq!(off.status.code(), Some(3), "{}", text(&off));
    assert!(
        String::from_utf8_lossy(&off.stdout).contains("t46g: web login as admin: unreachable"),
        "{}",
        text(&off)
    );

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

    let refused = login(&lab, "not-the-password");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("t46g: web login as admin: refused"),
        "{}",
        text(&refused)
    );

    let accepted = login(&lab, "admin");
    assert_eq!(accepted.status.code(), Some(0), "{}", text(&accepted));
    assert!(
        String::from_utf8_lossy(&accepted.stdout).contains("t46g: web login as admin: accepted"),
        "{}",
        text(&accepted)
    );

    // The probe switches nothing: the phone is still powered and answering.
    let again = login(&lab, "admin");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    let unknown = Command::new(harness_exe())
        .args(["login", "t99x", "--password", "admin", "--lab"])
        .arg(&lab)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("no bench `t99x`"),
        "{}",
        text(&unknown)
    );

    harness_ok(&lab, &["power", "t46g", "off"]);
}
