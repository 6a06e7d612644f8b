//! The harness binary's verdicts do not depend on its environment: no insta variable, no CI
//! flag and no missing `cargo` turns a difference from the snapshot into a pass or a
//! snapshot into something nobody asked for. `harness review` answers from stdin.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SCENARIO: &str = "firmware-upgrade";
const SNAPSHOT: &str = "firmware-upgrade@T46G.snap";

/// Variables that could change what a run writes or reports, removed from every run here
/// unless a test sets them on purpose (the suite itself may well run under CI).
const ENVIRONMENT: [&str; 6] = [
    "CI",
    "INSTA_UPDATE",
    "INSTA_FORCE_PASS",
    "INSTA_FORCE_UPDATE",
    "INSTA_OUTPUT",
    "INSTA_WORKSPACE_ROOT",
];

/// A lab of its own, and a scenarios folder holding the scenario and (when `snapshot`)
/// a copy of its committed T46G snapshot.
struct Setup {
    dir: tempfile::TempDir,
    lab: PathBuf,
    scenarios: PathBuf,
}

impl Setup {
    fn new(snapshot: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let lab = common::private_lab(
            dir.path(),
            [0; 5],
            &common::root().join("firmware-fixtures"),
        );
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(scenarios.join("snapshots")).unwrap();
        let name = format!("{SCENARIO}.toml");
        std::fs::copy(
            common::root().join("scenarios").join(&name),
            scenarios.join(&name),
        )
        .unwrap();
        let setup = Setup {
            dir,
            lab,
            scenarios,
        };
        if snapshot {
            std::fs::copy(committed_snapshot(), setup.snapshot()).unwrap();
        }
        setup
    }

    fn snapshot(&self) -> PathBuf {
        self.scenarios.join("snapshots").join(SNAPSHOT)
    }

    fn pending(&self) -> PathBuf {
        self.scenarios
            .join("snapshots")
            .join(format!("{SNAPSHOT}.new"))
    }

    /// Adds a line the phone never says to the snapshot; returns its bytes now.
    fn tamper(&self) -> Vec<u8> {
        let mut text = std::fs::read_to_string(self.snapshot()).unwrap();
        text.push_str("a line this phone never says\n");
        std::fs::write(self.snapshot(), &text).unwrap();
        text.into_bytes()
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// `harness run` of the scenario on the virtual T46G bench, none of `ENVIRONMENT` set.
    fn run(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(common::harness_exe());
        command
            .args([
                "run",
                "--no-history",
                "--bench",
                "t46g",
                "--scenario",
                SCENARIO,
            ])
            .args(extra)
            .arg("--lab")
            .arg(&self.lab)
            .arg("--scenarios")
            .arg(&self.scenarios)
            .arg("--out")
            .arg(self.out());
        for variable in ENVIRONMENT {
            command.env_remove(variable);
        }
        command
    }

    /// The one case of the run: its outcome and detail from `summary.json`.
    fn case(&self) -> (String, String) {
        let text = std::fs::read_to_string(self.out().join("summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cases = summary["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 1, "{text}");
        (
            cases[0]["outcome"].as_str().unwrap().to_string(),
            cases[0]["detail"].as_str().unwrap().to_string(),
        )
    }
}

fn committed_snapshot() -> PathBuf {
    common::root().join("scenarios/snapshots").join(SNAPSHOT)
}

/// The body of a snapshot as insta reads it.
fn body(file: &Path) -> String {
    insta::Snapshot::from_file(file)
        .unwrap()
        .contents()
        .as_text()
        .unwrap()
        .to_string()
}

fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn insta_and_ci_variables_never_turn_a_tampered_snapshot_into_a_pass() {
    let setup = Setup::new(true);
    let tampered = setup.tamper();
    let output = setup
        .run(&[])
        .env("CI", "true")
        .env("INSTA_UPDATE", "always")
        .env("INSTA_FORCE_PASS", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    let (outcome, detail) = setup.case();
    assert_eq!(outcome, "fail", "{detail}");
    assert!(detail.contains("-a line this phone never says"), "{detail}");
    assert!(detail.contains("nothing was written"), "{detail}");
    assert!(!detail.contains("INSTA_"), "{detail}");
    assert_eq!(std::fs::read(setup.snapshot()).unwrap(), tampered);
    assert!(!setup.pending().exists(), "under CI nothing is written");
}

#[test]
fn a_missing_snapshot_is_never_created_and_fails() {
    let setup = Setup::new(false);
    let output = setup
        .run(&[])
        .env("INSTA_UPDATE", "always")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    let (outcome, detail) = setup.case();
    assert_eq!(outcome, "fail", "{detail}");
    assert!(!setup.snapshot().exists(), "a snapshot nobody read");
    // Outside CI the transcript waits for review, named in the detail.
    assert!(setup.pending().is_file(), "{detail}");
    assert!(
        detail.contains(&setup.pending().display().to_string())
            && detail.contains("harness review"),
        "{detail}"
    );
    assert_eq!(body(&setup.pending()), body(&committed_snapshot()));
}

#[test]
fn update_snapshots_is_refused_under_ci() {
    let setup = Setup::new(true);
    let tampered = setup.tamper();
    let output = setup
        .run(&["--update-snapshots"])
        .env("CI", "true")
        .output()
        .unwrap();
    let text = printed(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("--update-snapshots is refused under CI"),
        "{text}"
    );
    assert!(!text.contains("INSTA_"), "{text}");
    assert_eq!(std::fs::read(setup.snapshot()).unwrap(), tampered);
    assert!(!setup.pending().exists());
    let text = std::fs::read_to_string(setup.out().join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        summary["cases"].as_array().map(Vec::len),
        Some(0),
        "nothing ran: {text}"
    );
    assert!(summary["config_error"].is_string(), "{text}");
}

#[test]
fn update_snapshots_rewrites_the_snapshot_and_the_case_still_fails() {
    let setup = Setup::new(true);
    setup.tamper();
    let output = setup.run(&["--update-snapshots"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    let (outcome, detail) = setup.case();
    assert_eq!(outcome, "fail", "{detail}");
    assert!(detail.contains("-a line this phone never says"), "{detail}");
    assert!(
        detail.contains("--update-snapshots rewrote") && detail.contains("git diff"),
        "{detail}"
    );
    assert_eq!(body(&setup.snapshot()), body(&committed_snapshot()));
    assert!(!setup.pending().exists());

    // A run folder holds one run: the second one gets a fresh folder.
    std::fs::remove_dir_all(setup.out()).unwrap();
    let again = setup.run(&[]).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", printed(&again));
}

#[test]
fn the_harness_needs_no_cargo() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new(true);
    // The only program on PATH: a `cargo` that notes being called, and fails.
    let bin = setup.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let called = setup.dir.path().join("cargo-called");
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\nexit 1\n", called.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = setup
        .run(&[])
        // No CARGO* variables, nothing of the test's environment.
        .env_clear()
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", printed(&output));
    assert_eq!(setup.case().0, "pass");
    assert!(
        !called.exists(),
        "the harness ran `cargo {}`",
        std::fs::read_to_string(&called).unwrap_or_default().trim()
    );
}

/// A snapshots folder with `old` snapshots and pending ones for each name.
fn pending_folder(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        harness::expect::snapshot::write(dir.path(), name, "why", "old line\n").unwrap();
        std::fs::write(
            dir.path().join(format!("{name}.snap.new")),
            harness::expect::snap_file::render("why", "new line\n"),
        )
        .unwrap();
    }
    dir
}

fn review(dir: &Path, answers: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(common::harness_exe())
        .args(["review", "--snapshots"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn review_accepts_rejects_and_skips_from_stdin() {
    let dir = pending_folder(&["a@T46G", "b@T46G", "c@T46G"]);
    let output = review(dir.path(), "a\nr\ns\n");
    let text = printed(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("-old line") && text.contains("+new line"),
        "{text}"
    );
    assert!(
        text.contains("1 accepted, 1 rejected, 1 left pending"),
        "{text}"
    );
    let file = |name: &str| dir.path().join(name);
    assert_eq!(body(&file("a@T46G.snap")), "new line");
    assert!(!file("a@T46G.snap.new").exists());
    assert_eq!(body(&file("b@T46G.snap")), "old line");
    assert!(!file("b@T46G.snap.new").exists());
    assert_eq!(body(&file("c@T46G.snap")), "old line");
    assert_eq!(body(&file("c@T46G.snap.new")), "new line");
}

#[test]
fn review_refuses_input_that_ends_early_and_loses_nothing() {
    let dir = pending_folder(&["a@T46G", "b@T46G"]);
    let output = review(dir.path(), "r\n");
    let text = printed(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("the input ended"), "{text}");
    assert!(
        text.contains("b@T46G.snap.new"),
        "the file left is named: {text}"
    );
    assert!(
        !dir.path().join("a@T46G.snap.new").exists(),
        "answered before the end"
    );
    assert_eq!(body(&dir.path().join("b@T46G.snap")), "old line");
    assert_eq!(body(&dir.path().join("b@T46G.snap.new")), "new line");
}
