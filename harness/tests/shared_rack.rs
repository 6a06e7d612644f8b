//! One relay board, several harness processes: a run on one bench while hand commands
//! switch another bench wired to the same LCUS and Numato boards, and a process killed in
//! the middle of an exchange. The virtual bench runs as its own process and counts the
//! frames each board received (`frames <board>` on its console), as a bus analyser on the
//! board's cable would: what the harness believes it sent is what is under test.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{Reaped, harness_exe, lines_of, wait_line};

/// Eight power cycles of the T46G: many LCUS frames on the board the T40P shares.
const CYCLES_SCENARIO: &str = r#"summary = "eight power cycles"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
power = "cycle"

[[step]]
power = "cycle"

[[step]]
power = "cycle"

[[step]]
power = "cycle"

[[step]]
power = "cycle"

[[step]]
power = "cycle"

[[step]]
power = "cycle"

[[step]]
power = "cycle"
"#;

/// How many runs of the scenario the first process makes while the second one switches.
const RUNS: usize = 3;

/// The least number of hand commands the second process sends, however quick the runs.
const MIN_HAND_COMMANDS: usize = 24;

/// The lab's virtual bench as its own process, with its console (stdin) and its answers.
struct Twin {
    _process: Reaped,
    console: ChildStdin,
    answers: Receiver<String>,
}

impl Twin {
    fn start(lab: &Path) -> Twin {
        let mut process = Reaped(
            Command::new(common::twin_exe())
                .arg("--lab")
                .arg(lab)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let console = process.0.stdin.take().unwrap();
        let answers = lines_of(process.0.stdout.take().unwrap());
        let mut twin = Twin {
            _process: process,
            console,
            answers,
        };
        // The bench prints its device table once every device is published.
        let mut seen = Vec::new();
        assert!(
            wait_line(
                &twin.answers,
                &mut seen,
                "relay-net",
                Duration::from_secs(60)
            ),
            "the twin did not start: {seen:?}"
        );
        twin.drain();
        twin
    }

    fn drain(&mut self) {
        while self
            .answers
            .recv_timeout(Duration::from_millis(200))
            .is_ok()
        {}
    }

    /// Types `command` and returns the answer line starting with `prefix`.
    fn ask(&mut self, command: &str, prefix: &str) -> String {
        self.console
            .write_all(format!("{command}\n").as_bytes())
            .unwrap();
        self.console.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.answers.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(line) => assert!(!line.starts_with("error"), "{command}: {line}"),
                Err(_) => break,
            }
        }
        panic!("no `{prefix}` answer to `{command}`");
    }

    fn frames(&mut self, board: &str) -> u64 {
        let line = self.ask(&format!("frames {board}"), &format!("frames {board}: "));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }
}

/// The `port` of the lab-file line naming `needle`.
fn port_of(lab: &Path, needle: &str) -> PathBuf {
    let text = std::fs::read_to_string(lab).unwrap();
    let line = text.lines().find(|l| l.contains(needle)).unwrap();
    PathBuf::from(line.split('"').nth(1).unwrap())
}

/// LCUS frames a harness process logged as sent (at debug level, just before each write).
fn lcus_frames_logged(stderr: &[u8]) -> u64 {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains("LCUS frame") && l.contains("relay-power"))
        .count() as u64
}

const DRIVER_LOG: &str = "harness=info,harness::drivers::power::lcus=debug";

fn hand(lab: &Path, args: &[&str]) -> Output {
    Command::new(harness_exe())
        .args(args)
        .arg("--lab")
        .arg(lab)
        .env("RUST_LOG", DRIVER_LOG)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_run_and_hand_commands_share_one_relay_board_and_every_frame_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("cycles.toml"), CYCLES_SCENARIO).unwrap();
    let mut twin = Twin::start(&lab);

    // A first run alone: its transcript, read here, becomes the case's snapshot.
    let first = common::external_run(&lab, &scenarios, &dir.path().join("first"))
        .env_remove("CI")
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let pending = scenarios.join("snapshots/cycles@T46G.snap.new");
    let snapshot = std::fs::read_to_string(&pending).unwrap();
    assert_eq!(
        snapshot.matches(". power: cycle\n").count(),
        8,
        "one step per cycle: {snapshot}"
    );
    std::fs::rename(&pending, pending.with_extension("")).unwrap();
    let before = twin.frames("relay-power");

    // The runs on t46g in one thread, the hand commands on t40p in this one, at once.
    let (lab_a, scenarios_a, out_a) = (lab.clone(), scenarios.clone(), dir.path().to_path_buf());
    let runs = std::thread::spawn(move || {
        (0..RUNS)
            .map(|round| {
                common::external_run(&lab_a, &scenarios_a, &out_a.join(format!("run-{round}")))
                    .env("RUST_LOG", DRIVER_LOG)
                    .output()
                    .unwrap()
            })
            .collect::<Vec<Output>>()
    });
    let commands = [
        ["power", "t40p", "on"],
        ["network", "t40p", "pull"],
        ["power", "t40p", "off"],
        ["network", "t40p", "connect"],
    ];
    let mut sent_by_hand = 0;
    let mut hand_commands = 0;
    while hand_commands < MIN_HAND_COMMANDS || !runs.is_finished() {
        let args = commands[hand_commands % commands.len()];
        let output = hand(&lab, &args);
        assert!(
            output.status.success(),
            "`harness {}` failed while a run drove the same boards: {}",
            args.join(" "),
            text(&output)
        );
        sent_by_hand += lcus_frames_logged(&output.stderr);
        hand_commands += 1;
    }
    let mut sent_by_runs = 0;
    for (round, output) in runs.join().unwrap().iter().enumerate() {
        assert_eq!(
            output.status.code(),
            Some(0),
            "run {round} beside the hand commands: {}",
            text(output)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 pass, 0 fail, 0 lab-fault"),
            "{}",
            text(output)
        );
        sent_by_runs += lcus_frames_logged(&output.stderr);
    }

    // Every power command by hand is one frame; every run sends at least its 16 cycles'.
    assert_eq!(sent_by_hand, (hand_commands as u64).div_ceil(2));
    assert!(sent_by_runs >= RUNS as u64 * 16, "{sent_by_runs}");
    let received = twin.frames("relay-power") - before;
    assert_eq!(
        received,
        sent_by_runs + sent_by_hand,
        "frames the LCUS board received against frames the two processes sent"
    );
    // The last commands by hand left the T40P as they said, whatever the runs did meanwhile.
    let probe = twin.ask("probe t40p", "probe t40p: ");
    let last_power = (0..hand_commands)
        .rev()
        .map(|i| commands[i % commands.len()])
        .find(|c| c[0] == "power")
        .unwrap()[2];
    let power = if last_power == "on" { "closed" } else { "open" };
    assert!(
        probe.contains(&format!("power={power}")),
        "{probe} after {hand_commands} commands"
    );
}

#[test]
fn a_process_killed_in_the_middle_of_an_exchange_does_not_block_the_board() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    let mut twin = Twin::start(&lab);
    let port = port_of(&lab, "relay-net-if00");
    let lock = harness::drivers::device_lock::lock_path(
        &harness::drivers::device_lock::device_lock_dir(),
        &port,
    );

    // The Numato module hangs: the first process's exchange waits for an answer.
    twin.ask("silent relay-net", "ok: silent relay-net");
    let mut first = Reaped(
        Command::new(harness_exe())
            .args(["network", "t46g", "pull", "--lab"])
            .arg(&lab)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = first.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let record = std::fs::read_to_string(&lock).unwrap_or_default();
        let mut words = record.split_whitespace();
        if words.next() == Some("busy") && words.next() == Some(pid.to_string().as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first process never held {}: {record:?}",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // Killed while it holds the board, its answer still outstanding.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    twin.ask("heal relay-net", "ok: heal relay-net");

    let started = Instant::now();
    let second = hand(&lab, &["network", "t40p", "pull"]);
    assert!(second.status.success(), "{}", text(&second));
    let log = text(&second);
    assert!(
        log.contains("the previous exchange on this device did not finish; resynchronising")
            && log.contains(&format!("pid={pid}")),
        "the second process learns the first one (pid {pid}) stopped mid-exchange: {log}"
    );
    assert!(
        started.elapsed() < harness::drivers::device_lock::MAX_WAIT,
        "the second process waited for a dead one"
    );
    let probe = twin.ask("probe t40p", "probe t40p: ");
    assert!(probe.contains("network=open"), "{probe}");
}
