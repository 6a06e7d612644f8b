//! The fault-injection matrix: each device of a bench (power relay board, network relay
//! board, actuator) failing in each way (gone, silent, answering garbage) in each phase of a
//! case (the given, a step, the make-safe after Ctrl-C, the replay after a crash), on a
//! twin started as its own process and driven by the real binary; and the USB stick that
//! cannot be written and an endpoint that cannot be served. After every cell:
//! - no case is ever `fail`: a broken lab is never a finding about the firmware;
//! - power is in its safe state (off) whenever the power board works;
//! - no key is pressed whenever the actuator works;
//! - the cable is connected whenever the network board works;
//! - the bench's journal is empty only when every device confirmed its safe state.
//!
//! The contacts are read on the twin (`probe t46g`), as a meter on a rack would: the
//! harness's own account of what it did is what is under test.
//!
//! One limit, stated rather than hidden: an LCUS board never answers a frame and cannot read
//! its relays back, so a silent or garbling LCUS looks healthy to any host. For that board the
//! matrix checks only what a host can know (no `fail`, and the journal agrees with what the
//! host saw); the health check's power cycle, not the driver, is what finds such a board.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use common::{Reaped, harness_exe, wait_line};

/// Holds the speaker and pulls the cable, then waits: every device of the bench holds a
/// state that making it safe must undo.
const SCENARIO: &str = r#"summary = "speaker held and cable pulled through a wait"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
hold = "speaker"

[[step]]
network = "down"

[[step]]
wait = "tftp"
timeout_s = WAIT_S

[[step]]
release = "speaker"

[[step]]
network = "up"

# The phone registers again once its cable is back: waited for, so that it lands under this
# wait in every run instead of racing the end of the case.
[[step]]
wait = "register"
timeout_s = 900
"#;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Device {
    Power,
    Network,
    Actuator,
}

impl Device {
    fn name(self) -> &'static str {
        match self {
            Device::Power => "relay-power",
            Device::Network => "relay-net",
            Device::Actuator => "keys-t46g",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Failure {
    Gone,
    Silent,
    Garbage,
}

impl Failure {
    fn inject(self, device: Device) -> String {
        match self {
            Failure::Gone => format!("unplug {}", device.name()),
            Failure::Silent => format!("silent {}", device.name()),
            Failure::Garbage => format!("garbage {}", device.name()),
        }
    }

    fn heal(self, device: Device) -> String {
        match self {
            Failure::Gone => format!("replug {}", device.name()),
            Failure::Silent | Failure::Garbage => format!("heal {}", device.name()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Broken before the run: the given phase meets it.
    Given,
    /// Broken while the scenario waits: the next step or the end meets it.
    Step,
    /// Broken, then Ctrl-C: making the bench safe meets it first.
    MakeSafe,
    /// The run killed mid-case, the device broken, then the next owner replays the journal.
    CrashReplay,
}

/// Whether a host can tell that `device` failing as `failure` does not work.
fn detectable(device: Device, failure: Failure) -> bool {
    !(device == Device::Power && failure != Failure::Gone)
}

struct Bench {
    dir: tempfile::TempDir,
    lab: PathBuf,
    scenarios: PathBuf,
    snapshots: PathBuf,
    twin: Reaped,
    twin_lines: mpsc::Receiver<String>,
}

fn bench(wait_s: u32) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    // One attempt, and a short health check: the matrix is about safety, not retries.
    let text = std::fs::read_to_string(&lab)
        .unwrap()
        .replace("retries = 1", "retries = 0")
        .replace("health_check_timeout_s = 300", "health_check_timeout_s = 1");
    std::fs::write(&lab, text).unwrap();
    let scenarios = dir.path().join("scenarios");
    let snapshots = scenarios.join("snapshots");
    std::fs::create_dir_all(&snapshots).unwrap();
    std::fs::write(
        scenarios.join("held.toml"),
        SCENARIO.replace("WAIT_S", &wait_s.to_string()),
    )
    .unwrap();
    let mut twin = Command::new(common::twin_exe())
        .arg("--lab")
        .arg(&lab)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = twin.stdout.take().unwrap();
    let (tx, twin_lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let bench = Bench {
        dir,
        lab,
        scenarios,
        snapshots,
        twin: Reaped(twin),
        twin_lines,
    };
    // The twin answers once it has built the bench.
    let deadline = Instant::now() + Duration::from_secs(30);
    while bench.try_probe().is_none() {
        assert!(Instant::now() < deadline, "the twin never answered a probe");
    }
    bench
}

/// What `probe t46g` read.
#[derive(Debug)]
struct Contacts {
    power_closed: bool,
    network_closed: bool,
    keys: String,
}

impl Bench {
    fn type_on_twin(&mut self, command: &str) {
        let stdin = self.twin.0.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut seen = Vec::new();
        assert!(
            wait_line(&self.twin_lines, &mut seen, "ok: ", Duration::from_secs(10)),
            "the twin did not take `{command}`: {seen:?}"
        );
    }

    fn try_probe(&self) -> Option<Contacts> {
        // Whatever the twin printed before (an earlier probe's late answer among it) is not
        // the answer to this probe.
        while self.twin_lines.try_recv().is_ok() {}
        let mut stdin = self.twin.0.stdin.as_ref()?;
        writeln!(stdin, "probe t46g").ok()?;
        let deadline = Instant::now() + Duration::from_secs(2);
        let line = loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.twin_lines.recv_timeout(left).ok()?;
            if line.starts_with("probe t46g: ") {
                break line;
            }
        };
        let rest = line.strip_prefix("probe t46g: ")?;
        let field = |key: &str| {
            rest.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .map(str::to_string)
        };
        Some(Contacts {
            power_closed: field("power=")? == "closed",
            network_closed: field("network=")? == "closed",
            keys: field("keys=")?,
        })
    }

    fn probe(&self) -> Contacts {
        self.try_probe().expect("the twin answers a probe")
    }

    fn run(&self, out: &str, extra: &[&str]) -> Command {
        let mut command = Command::new(harness_exe());
        command
            .args([
                "run",
                "--external-bench",
                "--bench",
                "t46g",
                "--no-history",
                "--lab",
            ])
            .arg(&self.lab)
            .arg("--scenarios")
            .arg(&self.scenarios)
            .arg("--out")
            .arg(self.dir.path().join(out))
            .args(extra)
            .env("RUST_LOG", "harness=info")
            .env_remove("CI")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Starts a run and waits until its case is in the scenario's wait (step 3): the key
    /// held, the cable pulled, the power on.
    fn start_in_wait(&self, out: &str) -> (Child, mpsc::Receiver<String>, Vec<String>) {
        let mut child = self.run(out, &[]).spawn().unwrap();
        let lines = common::lines_of(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        assert!(
            wait_line(&lines, &mut seen, "step=3", Duration::from_secs(90)),
            "the run never reached its wait: {seen:?}"
        );
        (child, lines, seen)
    }

    fn outcomes(&self, out: &str) -> Vec<String> {
        let path = self.dir.path().join(out).join("summary.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Vec::new();
        };
        let summary: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        summary["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["outcome"].as_str().unwrap().to_string())
            .collect()
    }

    fn details(&self, out: &str) -> String {
        let path = self.dir.path().join(out).join("summary.json");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn journal_empty(&self) -> bool {
        let path = self.dir.path().join("locks/t46g.journal");
        match std::fs::read(&path) {
            Ok(bytes) => harness::safety::journal::read(&bytes).is_empty(),
            Err(_) => true,
        }
    }
}

fn wait_exit(child: &mut Child, what: &str) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "{what} did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The safety properties, after the process that owned the bench has ended.
fn assert_safe(bench: &Bench, device: Device, failure: Failure, phase: Phase, outcomes: &[String]) {
    let cell = format!("{device:?} {failure:?} in {phase:?}");
    assert!(
        outcomes.iter().all(|o| o != "fail"),
        "{cell}: a broken lab was reported as a firmware failure: {outcomes:?}"
    );
    let contacts = bench.probe();
    let broken = |d: Device| d == device;
    if !broken(Device::Power) {
        assert!(
            !contacts.power_closed,
            "{cell}: power left on: {contacts:?}"
        );
    }
    if !broken(Device::Actuator) {
        assert_eq!(contacts.keys, "-", "{cell}: a key left pressed");
    }
    if !broken(Device::Network) {
        assert!(
            contacts.network_closed,
            "{cell}: cable left pulled: {contacts:?}"
        );
    }
    if detectable(device, failure) {
        assert!(
            !bench.journal_empty(),
            "{cell}: the journal was emptied though {} never confirmed",
            device.name()
        );
    }
}

fn cell(device: Device, failure: Failure, phase: Phase, snapshot: &str) {
    let mut bench = bench(WAIT_S);
    std::fs::write(bench.snapshots.join("held@T46G.snap"), snapshot).unwrap();
    match phase {
        Phase::Given => {
            bench.type_on_twin(&failure.inject(device));
            let mut run = bench.run("run", &[]).spawn().unwrap();
            wait_exit(&mut run, "the run");
            let outcomes = bench.outcomes("run");
            assert_eq!(outcomes.len(), 1, "{outcomes:?}");
            assert_safe(&bench, device, failure, phase, &outcomes);
        }
        Phase::Step => {
            let (mut run, _lines, _seen) = bench.start_in_wait("run");
            bench.type_on_twin(&failure.inject(device));
            wait_exit(&mut run, "the run");
            let outcomes = bench.outcomes("run");
            assert_eq!(outcomes.len(), 1, "{outcomes:?}");
            assert_safe(&bench, device, failure, phase, &outcomes);
        }
        Phase::MakeSafe => {
            let (mut run, _lines, _seen) = bench.start_in_wait("run");
            bench.type_on_twin(&failure.inject(device));
            // SAFETY: a signal to a child spawned here and not yet reaped.
            unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
            let code = wait_exit(&mut run, "the interrupted run");
            assert_eq!(code, Some(130));
            let outcomes = bench.outcomes("run");
            assert_safe(&bench, device, failure, phase, &outcomes);
        }
        Phase::CrashReplay => {
            let (mut run, _lines, _seen) = bench.start_in_wait("run-1");
            // SAFETY: as above; SIGKILL leaves no chance to clean up.
            unsafe { libc::kill(run.id() as i32, libc::SIGKILL) };
            wait_exit(&mut run, "the killed run");
            bench.type_on_twin(&failure.inject(device));
            let mut next = bench.run("run-2", &[]).spawn().unwrap();
            wait_exit(&mut next, "the next run");
            let outcomes = bench.outcomes("run-2");
            assert_safe(&bench, device, failure, phase, &outcomes);
        }
    }
    // Once the device works again, the next owner finishes what was left: the journal is
    // empty and every contact in its safe position.
    bench.type_on_twin(&failure.heal(device));
    let out = Command::new(harness_exe())
        .args(["network", "t46g", "connect", "--lab"])
        .arg(&bench.lab)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{device:?} {failure:?} in {phase:?}: after healing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let contacts = bench.probe();
    let cell = format!("{device:?} {failure:?} in {phase:?}, healed");
    assert!(
        contacts.network_closed && contacts.keys == "-",
        "{cell}: {contacts:?}"
    );
    // A silent or garbling LCUS took every power-off frame without a word: the harness had
    // no way to learn that the relay stayed closed, so only a detectable failure is owed a
    // power-off here.
    if detectable(device, failure) {
        assert!(!contacts.power_closed, "{cell}: {contacts:?}");
    }
    assert!(bench.journal_empty(), "{cell}");
}

/// How long the scenario waits (lab seconds: 5 s at the virtual lab's time scale), long
/// enough to break a device or send a signal in.
const WAIT_S: u32 = 500;

/// The scenario's snapshot, recorded once from a healthy run and checked to pass a second
/// healthy run, so that every cell's case could pass: only then does "never fail" say
/// something.
fn healthy_snapshot() -> &'static str {
    static SNAPSHOT: OnceLock<String> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let bench = bench(WAIT_S);
        let out = bench
            .run("record", &["--update-snapshots"])
            .output()
            .unwrap();
        let snapshot = std::fs::read_to_string(bench.snapshots.join("held@T46G.snap"))
            .unwrap_or_else(|e| {
                panic!(
                    "the healthy run recorded no snapshot ({e}): {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let mut again = bench.run("again", &[]).spawn().unwrap();
        let code = wait_exit(&mut again, "the healthy run");
        assert_eq!(
            (code, bench.outcomes("again")),
            (Some(0), vec!["pass".to_string()]),
            "a healthy run differs from the one recorded: {}",
            bench.details("again")
        );
        snapshot
    })
}

macro_rules! matrix {
    ($($test:ident: $device:ident, $failure:ident;)*) => {
        $(
            #[test]
            fn $test() {
                for phase in [Phase::Given, Phase::Step, Phase::MakeSafe, Phase::CrashReplay] {
                    cell(Device::$device, Failure::$failure, phase, healthy_snapshot());
                }
            }
        )*
    };
}

matrix! {
    power_board_gone: Power, Gone;
    power_board_silent: Power, Silent;
    power_board_garbage: Power, Garbage;
    network_board_gone: Network, Gone;
    network_board_silent: Network, Silent;
    network_board_garbage: Network, Garbage;
    actuator_gone: Actuator, Gone;
    actuator_silent: Actuator, Silent;
    actuator_garbage: Actuator, Garbage;
}

/// The USB stick that cannot be written (its image path is a folder: a stick pulled, a
/// device node gone): the case is a lab fault, and every device is still made safe.
#[test]
fn usb_stick_gone() {
    const STICK: &str = r#"summary = "a recovery package onto the stick with the speaker held"
source = "test"
models = ["T46G"]

[given]
firmware = "current"
account = "active"
admin_password = "random"

[[step]]
hold = "speaker"

[[step]]
usb_stick = "min"
"#;
    let bench = bench(WAIT_S);
    std::fs::write(bench.scenarios.join("held.toml"), STICK).unwrap();
    let lab_text = std::fs::read_to_string(&bench.lab).unwrap();
    let image = lab_text
        .lines()
        .find(|l| l.contains("usb = { image") && l.contains("t46g.img"))
        .and_then(|l| l.split('"').nth(1))
        .expect("the t46g stick image");
    std::fs::create_dir_all(image).unwrap();
    let out = bench.run("run", &[]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let outcomes = bench.outcomes("run");
    assert_eq!(outcomes, ["lab-fault"], "{}", bench.details("run"));
    let contacts = bench.probe();
    assert!(
        !contacts.power_closed && contacts.network_closed && contacts.keys == "-",
        "{contacts:?}\n{log}"
    );
    assert!(bench.journal_empty());
}

/// An endpoint the lab cannot serve (its port taken by another program): every case is a
/// lab fault before any device is touched, and nothing is left for a next owner to undo.
#[test]
fn an_endpoint_gone() {
    let bench = bench(WAIT_S);
    std::fs::write(bench.snapshots.join("held@T46G.snap"), healthy_snapshot()).unwrap();
    let lab_text = std::fs::read_to_string(&bench.lab).unwrap();
    let provisioning = lab_text
        .lines()
        .find(|l| l.starts_with("provisioning = "))
        .and_then(|l| l.split('"').nth(1))
        .expect("the provisioning endpoint");
    let _taken = std::net::TcpListener::bind(provisioning).unwrap();
    let mut run = bench.run("run", &[]).spawn().unwrap();
    let code = wait_exit(&mut run, "the run");
    assert_eq!(code, Some(3), "{}", bench.details("run"));
    assert_eq!(bench.outcomes("run"), ["lab-fault"]);
    let contacts = bench.probe();
    assert!(
        !contacts.power_closed && contacts.keys == "-",
        "{contacts:?}"
    );
    assert!(bench.journal_empty());
}
