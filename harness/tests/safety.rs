//! Benches shared by several harness processes, crashes and approvals, checked with the
//! real binary against a twin started as its own process: two runs on one bench never
//! interleave; `--no-wait` skips a busy bench naming its holder; a run killed with the
//! speaker key held leaves a journal the next command replays on the wire; an approval is
//! recorded where a bench requires one.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Reaped, harness_exe, lines_of, wait_line};

const HELD_SCENARIO: &str = r#"summary = "the speaker key held through a wait"
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
timeout_s = WAIT_S

[[step]]
release = "speaker"
"#;

struct Bench {
    dir: tempfile::TempDir,
    lab: PathBuf,
    lab_text: String,
    scenarios: PathBuf,
    actuator: String,
    _twin: Reaped,
}

/// A private lab, a scenario holding the speaker for `wait_s` (lab seconds), and the twin.
fn bench(wait_s: u32) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let ports = common::free_endpoint_ports();
    let lab = common::private_lab(dir.path(), ports, &fixtures);
    let lab_text = std::fs::read_to_string(&lab).unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("held.toml"),
        HELD_SCENARIO.replace("WAIT_S", &wait_s.to_string()),
    )
    .unwrap();
    let (twin, actuator) = common::start_twin(&lab);
    Bench {
        dir,
        lab,
        lab_text,
        scenarios,
        actuator,
        _twin: twin,
    }
}

impl Bench {
    fn run(&self, out: &str, extra: &[&str]) -> Command {
        let mut cmd = common::external_run(&self.lab, &self.scenarios, &self.dir.path().join(out));
        cmd.args(extra).stdout(Stdio::null());
        cmd
    }

    /// Starts a run and waits until it holds the speaker key (its log names step 2).
    fn start_holding(&self, out: &str) -> (Child, mpsc::Receiver<String>, Vec<String>) {
        let mut child = self.run(out, &[]).spawn().unwrap();
        let lines = lines_of(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        assert!(
            wait_line(&lines, &mut seen, "step=2", Duration::from_secs(60)),
            "the first run never reached its wait: {seen:?}"
        );
        (child, lines, seen)
    }

    fn query(&self) -> String {
        let mut port = serialport::new(&self.actuator, 115_200)
            .timeout(Duration::from_secs(5))
            .open_native()
            .unwrap();
        port.write_all(b"QUERY\n").unwrap();
        let mut reader = BufReader::new(port);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.starts_with("OK") || line.starts_with("ERR") {
                return line.trim().to_string();
            }
        }
    }

    fn web(&self) -> std::net::SocketAddr {
        let ip_line = self
            .lab_text
            .lines()
            .find(|l| l.starts_with("ip = ") && l.ends_with(".46\""))
            .unwrap();
        format!("{}:8080", ip_line.split('"').nth(1).unwrap())
            .parse()
            .unwrap()
    }
}

fn exit_of(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "{what} did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every line left in the channel once the process has ended.
fn drain(lines: &mpsc::Receiver<String>, seen: &mut Vec<String>) {
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
    }
}

/// The RFC 3339 time a log line starts with; equal widths, so text order is time order.
fn stamp(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

#[test]
fn two_runs_on_one_bench_never_interleave() {
    let bench = bench(150);
    let (mut first, first_lines, mut first_seen) = bench.start_holding("run-1");
    let _first_pid = first.id();

    let mut second = bench.run("run-2", &[]).spawn().unwrap();
    let second_lines = lines_of(second.stderr.take().unwrap());
    let mut second_seen = Vec::new();
    assert!(
        wait_line(
            &second_lines,
            &mut second_seen,
            "waiting for the bench",
            Duration::from_secs(30)
        ),
        "the second run did not wait: {second_seen:?}"
    );
    let waiting = second_seen.last().unwrap().clone();
    assert!(
        waiting.contains(&format!("pid {}", first.id())) && waiting.contains("(run held)"),
        "the wait must name the holder and its purpose: {waiting}"
    );

    let first_status = exit_of(&mut first, "the first run");
    drain(&first_lines, &mut first_seen);
    let second_status = exit_of(&mut second, "the second run");
    drain(&second_lines, &mut second_seen);
    assert!(first_status.code().is_some(), "{first_seen:?}");
    assert!(second_status.code().is_some(), "{second_seen:?}");

    let released = first_seen
        .iter()
        .find(|l| l.contains("bench released"))
        .unwrap_or_else(|| panic!("the first run never released the bench: {first_seen:?}"));
    let first_step = second_seen
        .iter()
        .find(|l| l.contains("step=1"))
        .unwrap_or_else(|| panic!("the second run never ran a step: {second_seen:?}"));
    assert!(
        stamp(first_step) > stamp(released),
        "the second run stepped ({first_step}) before the first released the bench ({released})"
    );
    // Both ran their case through: each run folder has its transcript.
    for out in ["run-1", "run-2"] {
        let raw = bench
            .dir
            .path()
            .join(out)
            .join("transcripts/held@T46G@t46g.raw.txt");
        assert!(raw.is_file(), "{} missing", raw.display());
    }
}

#[test]
fn no_wait_skips_a_busy_bench_naming_the_holder() {
    let bench = bench(3000);
    let (first, _lines, _seen) = bench.start_holding("run-1");
    let first = Reaped(first);

    let out = bench
        .run("run-2", &["--no-wait"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(bench.dir.path().join("run-2/summary.json")).unwrap(),
    )
    .unwrap();
    let case = &summary["cases"][0];
    assert_eq!(case["outcome"], "skipped", "{summary}");
    let detail = case["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("pid {}", first.0.id())) && detail.contains("(run held)"),
        "{detail}"
    );
}

#[test]
fn a_killed_run_leaves_a_journal_that_the_next_command_replays() {
    let bench = bench(3000);
    let (mut run, _lines, _seen) = bench.start_holding("run-1");
    // SIGKILL: no chance to release the key or switch the power off.
    unsafe { libc::kill(run.id() as i32, libc::SIGKILL) };
    exit_of(&mut run, "the killed run");

    let held = bench.query();
    assert!(
        held.starts_with("OK QUERY HELD ") && held != "OK QUERY HELD -",
        "the speaker must still be held after SIGKILL: {held}"
    );
    assert!(
        TcpStream::connect_timeout(&bench.web(), Duration::from_secs(2)).is_ok(),
        "the phone must still be powered after SIGKILL"
    );

    // A command that switches neither the key nor the power: whatever they become is the
    // replay's doing.
    let out = Command::new(harness_exe())
        .args(["network", "t46g", "connect", "--lab"])
        .arg(&bench.lab)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("bench t46g was left by a crashed or killed process")
            && stderr.contains("keys possibly held: speaker")
            && stderr.contains("made safe: keys released, cable connected, power off"),
        "{stderr}"
    );

    assert_eq!(bench.query(), "OK QUERY HELD -");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&bench.web(), Duration::from_millis(500)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the phone still answers: power left on"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The journal is empty now: a second command has nothing to recover.
    let again = Command::new(harness_exe())
        .args(["power", "t46g", "off", "--lab"])
        .arg(&bench.lab)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&again.stdout).contains("recovered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_is_required_and_recorded_outside_the_compared_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), [0; 5], &fixtures);
    // The T46G's bench requires approval; the other benches stay as they are.
    let text = std::fs::read_to_string(&lab).unwrap();
    let at = text.find("name = \"t46g\"").unwrap();
    let rel = text[at..].find("approval = \"none\"").unwrap() + at;
    let text = format!(
        "{}approval = \"required\"{}",
        &text[..rel],
        &text[rel + "approval = \"none\"".len()..]
    );
    std::fs::write(&lab, text).unwrap();

    let skipped_dir = dir.path().join("without");
    std::fs::create_dir_all(&skipped_dir).unwrap();
    let opts = common::options(
        &skipped_dir,
        lab.clone(),
        &fixtures,
        &["autop-password-reset"],
        &["t46g"],
    );
    let report = harness::run::run(opts).await;
    assert_eq!(report.cases.len(), 1);
    assert_eq!(report.cases[0].outcome.word(), "skipped");
    assert!(report.cases[0].detail.contains("approval missing"));
    assert!(report.approval.is_none());

    let approved_dir = dir.path().join("with");
    std::fs::create_dir_all(&approved_dir).unwrap();
    let mut opts = common::options(
        &approved_dir,
        lab,
        &fixtures,
        &["autop-password-reset"],
        &["t46g"],
    );
    opts.approval = Some("TIER2-4711 by j.doe".into());
    let report = harness::run::run(opts).await;
    let case = &report.cases[0];
    assert_eq!(case.outcome.word(), "pass", "{}", case.detail);
    assert!(
        case.raw_transcript
            .contains("\napproval: TIER2-4711 by j.doe\n"),
        "{}",
        case.raw_transcript
    );
    assert!(!case.transcript.contains("approval:"));
    harness::report::run_folder::finish(&mut report.clone()).unwrap();
    let summary = std::fs::read_to_string(approved_dir.join("run/summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["approval"], "TIER2-4711 by j.doe");
    assert_eq!(summary["cases"][0]["approval"], "TIER2-4711 by j.doe");
    let junit = std::fs::read_to_string(approved_dir.join("run/junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"approval\" value=\"TIER2-4711 by j.doe\""),
        "{junit}"
    );
}
