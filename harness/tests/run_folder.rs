//! The run folder is written as the run goes: a run killed in the middle leaves a folder
//! that says it is partial and holds every case it finished (transcripts, diff, log), and
//! the history records it as partial. A run that ends writes a complete folder, its log,
//! and records itself into the history it is given.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Finishes at once, and fails: it has no snapshot, so it leaves a transcript and a diff.
const QUICK_SCENARIO: &str = r#"summary = "a short pause"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
pause_s = 1
"#;

/// Ten of the longest pauses a step may have: a minute at the virtual lab's time scale.
/// The run is killed inside the first.
fn paused_scenario() -> String {
    let mut text = r#"summary = "long pauses"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"
"#
    .to_string();
    for _ in 0..10 {
        text.push_str("\n[[step]]\npause_s = 600\n");
    }
    text
}

fn summary(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_killed_run_leaves_a_partial_folder_with_its_finished_cases() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(scenarios.join("snapshots")).unwrap();
    std::fs::write(scenarios.join("a-quick.toml"), QUICK_SCENARIO).unwrap();
    std::fs::write(scenarios.join("b-paused.toml"), paused_scenario()).unwrap();
    let (_twin, _actuator) = common::start_twin(&lab);
    let out = dir.path().join("run");
    let db = dir.path().join("history.sqlite");

    let mut run = common::external_run_recording(&lab, &scenarios, &out, Some(&db))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let run = common::Reaped({
        let lines = common::lines_of(run.stderr.take().unwrap());
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        // The second case is inside its pause: the first is finished and written.
        while !seen
            .last()
            .is_some_and(|l: &String| l.contains("scenario=b-paused") && l.contains("step=1"))
        {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("the paused case never started: {seen:?}"));
            match lines.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("the run ended before its paused case: {seen:?}"),
            }
        }
        run
    });
    // SIGKILL: no destructor, no signal handler, no last write.
    unsafe { libc::kill(run.0.id() as i32, libc::SIGKILL) };
    drop(run);

    let partial = summary(&out);
    assert_eq!(partial["status"], "partial", "{partial:#}");
    let cases = partial["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "only the finished case: {partial:#}");
    assert_eq!(cases[0]["scenario"], "a-quick");
    assert_eq!(cases[0]["outcome"], "fail", "no snapshot: {partial:#}");
    let transcript = cases[0]["transcript_file"].as_str().unwrap();
    assert_eq!(transcript, "transcripts/a-quick@T46G@t46g.txt");
    assert!(
        std::fs::read_to_string(out.join(transcript))
            .unwrap()
            .contains("pause"),
        "the transcript is on disk"
    );
    assert!(out.join("transcripts/a-quick@T46G@t46g.raw.txt").is_file());
    let diff = cases[0]["diff_file"].as_str().unwrap();
    assert!(out.join(diff).is_file());
    assert!(
        !out.join("junit.xml").exists(),
        "junit.xml is written at the end"
    );

    let log = std::fs::read_to_string(out.join("harness.log")).unwrap();
    assert!(log.contains("run started"), "{log}");
    // The finished case's steps are in the log (the last event may have reached only the
    // console: the kill can fall between the two writes).
    assert!(
        log.lines()
            .any(|l| l.contains("scenario=a-quick") && l.contains("INFO")),
        "{log}"
    );

    // The killed run never recorded itself; its folder is imported as what it is.
    let import = Command::new(common::harness_exe())
        .args(["history", "import"])
        .arg(&out)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&import.stdout);
    assert!(
        import.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(printed.contains(": partial run run of "), "{printed}");
}

#[test]
fn a_finished_run_is_complete_logged_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    let out = dir.path().join("run");
    let db = dir.path().join("history.sqlite");
    let run = Command::new(common::harness_exe())
        .args([
            "run",
            "--bench",
            "t46g",
            "--scenario",
            "firmware-upgrade",
            "--lab",
        ])
        .arg(&lab)
        .arg("--out")
        .arg(&out)
        .arg("--history")
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let complete = summary(&out);
    assert_eq!(complete["status"], "complete");
    assert_eq!(
        complete["cases"][0]["transcript_file"],
        "transcripts/firmware-upgrade@T46G@t46g.txt"
    );
    for file in [
        "junit.xml",
        "summary.txt",
        "transcripts/firmware-upgrade@T46G@t46g.txt",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    // The one-file report: the case in the matrix and its transcript, nothing fetched.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("firmware-upgrade@T46G"), "{html}");
    assert!(html.contains("outcome-pass"), "{html}");
    assert!(html.contains("== steps"), "the transcript is in the report");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    let log = std::fs::read_to_string(out.join("harness.log")).unwrap();
    assert!(
        log.contains("bench locked"),
        "INFO events reach the log: {log}"
    );
    assert!(log.contains("run recorded in the history"), "{log}");

    let history = Command::new(common::harness_exe())
        .args(["history", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&history.stdout);
    assert!(history.status.success(), "{printed}");
    let row = printed
        .lines()
        .find(|l| l.contains(" complete "))
        .unwrap_or_else(|| panic!("{printed}"));
    let counts: Vec<&str> = row.split_whitespace().skip(4).take(4).collect();
    assert_eq!(counts, ["1", "0", "0", "0"], "{row}");
}

#[test]
fn a_config_error_leaves_a_complete_folder_and_history_is_optional() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    // A lab that does not load: the run stops at once, with a complete folder saying why.
    let lab = dir.path().join("missing.toml");
    let out = dir.path().join("run");
    let run = Command::new(common::harness_exe())
        .args(["run", "--no-history", "--lab"])
        .arg(&lab)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let said = summary(&out);
    assert_eq!(said["status"], "complete");
    assert!(
        said["config_error"]
            .as_str()
            .unwrap()
            .contains("missing.toml"),
        "{said:#}"
    );
    assert!(!db.exists());

    let recorded = Command::new(common::harness_exe())
        .args(["run", "--history"])
        .arg(&db)
        .arg("--lab")
        .arg(&lab)
        .arg("--out")
        .arg(dir.path().join("run2"))
        .output()
        .unwrap();
    assert_eq!(
        recorded.status.code(),
        Some(2),
        "a config error stays exit 2"
    );
    assert!(db.is_file(), "the night nothing ran is in the history too");
}

#[test]
fn a_non_empty_out_folder_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("earlier-run");
    std::fs::create_dir_all(out.join("transcripts")).unwrap();
    std::fs::write(
        out.join("transcripts/old.txt"),
        "an earlier run's transcript",
    )
    .unwrap();
    let db = dir.path().join("history.sqlite");
    let run = Command::new(common::harness_exe())
        .args(["run", "--history"])
        .arg(&db)
        .arg("--lab")
        .arg(dir.path().join("missing.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the folder is not empty"), "{stderr}");
    assert!(stderr.contains(&out.display().to_string()), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["transcripts"], "nothing written into it");
    assert_eq!(
        std::fs::read_to_string(out.join("transcripts/old.txt")).unwrap(),
        "an earlier run's transcript"
    );
    assert!(!db.exists(), "nothing recorded");

    // An empty folder is a run folder like an absent one.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = Command::new(common::harness_exe())
        .args(["run", "--no-history", "--lab"])
        .arg(dir.path().join("missing.toml"))
        .arg("--out")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "the lab's config error");
    assert_eq!(summary(&empty)["status"], "complete");
}

#[test]
fn an_out_folder_whose_name_is_not_a_run_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("two words");
    let run = Command::new(common::harness_exe())
        .args(["run", "--no-history", "--lab"])
        .arg(dir.path().join("missing.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("becomes the run id"), "{stderr}");
    assert!(!out.exists());
}

/// Every file under `root`, relative.
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

#[test]
fn names_that_are_paths_never_leave_the_run_folder() {
    use harness::outcome::Outcome;
    use harness::report::{CaseReport, RunReport};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/run");
    let mut report = RunReport::new(dir.clone(), "lab.toml".into());
    for (scenario, model, bench) in [
        ("reset", "T46G", "x/../../../../PWNED"),
        ("../../../PWNED", "T46G", "t46g"),
        ("reset", "/tmp/PWNED", "t46g"),
        (".hidden", "T46G", "t46g"),
    ] {
        report.cases.push(CaseReport {
            scenario: scenario.into(),
            model: model.into(),
            bench: bench.into(),
            outcome: Outcome::Fail,
            detail: "-a\n+b\n".into(),
            duration: Duration::from_secs(1),
            transcript: "b\n".into(),
            raw_transcript: "b\n".into(),
            approval: None,
            firmware_seen: vec![],
            attempts: 1,
            transcript_file: None,
            diff_file: None,
        });
    }
    harness::report::run_folder::finish(&mut report).unwrap();
    let everything = files_under(tmp.path());
    for file in &everything {
        assert!(
            file.starts_with("a/b/run/"),
            "written outside: {everything:?}"
        );
    }
    let names = files_under(&dir);
    // Four cases, each a transcript, a raw transcript and a diff, all distinct, all flat
    // in their folder and none hidden.
    let per_case: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("transcripts/") || n.starts_with("diffs/"))
        .collect();
    assert_eq!(per_case.len(), 12, "{names:?}");
    for name in &per_case {
        let file = name.split_once('/').unwrap().1;
        assert!(!file.contains('/') && !file.starts_with('.'), "{name}");
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("transcripts/reset@T46G@x-..-..-..-..-PWNED-x")),
        "the escaped name keeps what it can of the bench's: {names:?}"
    );
    // The summary names the escaped files.
    for case in &report.cases {
        let transcript = case.transcript_file.as_deref().unwrap();
        assert!(dir.join(transcript).is_file(), "{transcript}");
    }
}
