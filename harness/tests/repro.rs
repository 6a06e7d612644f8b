//! `harness repro`: a session typed on stdin against a private virtual lab is saved as a
//! scenario with its snapshot, and `harness run` replays it to a pass.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const GIVEN: &str = "firmware=current account=cancelled password=random provisioning=intermedia";

/// `harness repro t46g` on `lab` with `input` piped to its prompt.
fn repro(lab: &Path, extra: &[&str], input: &str) -> Output {
    let mut child = Command::new(common::harness_exe())
        .args(["repro", "t46g", "--given", GIVEN, "--lab"])
        .arg(lab)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start harness repro");
    // A harness that stops early closes its end: what it printed says why, so a broken
    // pipe here is left for the assertions on its output to explain.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().expect("harness repro")
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_recorded_session_replays_as_a_passing_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let file = scenarios.join("x.toml");

    let session = "\
dial **7283
reboot now
press nosuchkey
press f4
wait call-home 60
check login admin
check login given
show
quit
";
    let out = repro(
        &lab,
        &[
            "--save",
            file.to_str().unwrap(),
            "--summary",
            "**7283 then Yes on a cancelled account: the phone calls home",
        ],
        session,
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("unknown command `reboot`"), "{log}");
    assert!(log.contains("`press`: `nosuchkey` is not allowed"), "{log}");
    assert!(
        log.contains("3. wait: Auto-P call-home (MAC config under /autop/) (up to 60 s)"),
        "{log}"
    );
    assert!(
        log.contains("4. web login with admin/admin: accepted"),
        "{log}"
    );
    assert!(
        log.contains("[PASSWORD]"),
        "`show` prints the redacted transcript: {log}"
    );

    let saved = harness::scenario::load::load_file(&file).expect("the saved scenario loads");
    assert_eq!(
        saved.steps.len(),
        5,
        "unknown commands are not recorded: {saved:?}"
    );
    assert!(saved.source_note.starts_with("repro "), "{saved:?}");
    assert!(saved.source_note.ends_with(" t46g"), "{saved:?}");
    assert_eq!(saved.models, vec![harness::lab::Model::T46G]);
    let snapshot = std::fs::read_to_string(scenarios.join("snapshots/x@T46G.snap")).unwrap();
    assert!(snapshot.contains("scenario: x\n"), "{snapshot}");
    assert!(
        snapshot.contains("4. web login with admin/admin: accepted"),
        "{snapshot}"
    );

    let replay = Command::new(common::harness_exe())
        .args([
            "run",
            "--no-history",
            "--bench",
            "t46g",
            "--scenario",
            "x",
            "--lab",
        ])
        .arg(&lab)
        .arg("--scenarios")
        .arg(&scenarios)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .expect("harness run");
    let log = text(&replay);
    assert!(replay.status.success(), "the replay must pass: {log}");
    assert!(log.contains("1 pass, 0 fail"), "{log}");

    // The same name again is refused without --force, and the file is left alone.
    let before = std::fs::read_to_string(&file).unwrap();
    let again = repro(
        &lab,
        &["--save", file.to_str().unwrap(), "--summary", "other"],
        "quit\n",
    );
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn a_held_key_is_released_and_the_bench_given_up_at_the_end_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    let out = repro(&lab, &[], "hold speaker\n");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("1. hold speaker"), "{log}");
    let locks = dir.path().join("locks");
    // make_safe empties the journal only once every held key was released.
    let journal = std::fs::read_to_string(locks.join("t46g.journal")).unwrap();
    assert_eq!(journal, "", "the journal still holds: {journal}");
    assert!(!locks.join("t46g.lock").exists(), "the lease was kept");
}

#[test]
fn a_bad_given_names_the_key_and_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    let out = Command::new(common::harness_exe())
        .args([
            "repro",
            "t46g",
            "--given",
            "firmware=current account=closed admin_password=random",
            "--lab",
        ])
        .arg(&lab)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("account=`closed` is not allowed, expected active, cancelled or v2"),
        "{log}"
    );
}

/// Ctrl-C (SIGINT) or a stopped job (SIGTERM) at the prompt, with a key held: the key is
/// released, the bench made safe and given up, nothing is saved, and the exit is 130.
fn stopped_at_the_prompt(signal: libc::c_int) {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    let saved = dir.path().join("scenarios/x.toml");
    let mut child = common::Reaped(
        Command::new(common::harness_exe())
            .args(["repro", "t46g", "--given", GIVEN, "--summary", "x", "--lab"])
            .arg(&lab)
            .arg("--save")
            .arg(&saved)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start harness repro"),
    );
    // stdin stays open: the prompt is waiting for the next command when the signal comes,
    // as at a terminal.
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"hold speaker\n").unwrap();
    let lines = common::lines_of(child.0.stdout.take().unwrap());
    let mut seen = Vec::new();
    assert!(
        common::wait_line(
            &lines,
            &mut seen,
            "1. hold speaker",
            std::time::Duration::from_secs(120)
        ),
        "the key was never held: {seen:?}"
    );
    // SAFETY: signalling a child we spawned and have not reaped.
    unsafe { libc::kill(child.0.id() as i32, signal) };
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen:?}");
    drop(stdin);
    let locks = dir.path().join("locks");
    // make_safe empties the journal only once every held key was released.
    let journal = std::fs::read_to_string(locks.join("t46g.journal")).unwrap();
    assert_eq!(journal, "", "the journal still holds: {journal}");
    assert!(!locks.join("t46g.lock").exists(), "the lease was kept");
    assert!(!saved.exists(), "an interrupted session is not saved");
}

#[test]
fn ctrl_c_at_the_prompt_releases_the_held_key_and_saves_nothing() {
    stopped_at_the_prompt(libc::SIGINT);
}

#[test]
fn sigterm_at_the_prompt_releases_the_held_key_and_saves_nothing() {
    stopped_at_the_prompt(libc::SIGTERM);
}
