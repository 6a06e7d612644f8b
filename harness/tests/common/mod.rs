//! Test support: a private copy of the virtual lab, so tests run in parallel without
//! sharing a serial device path, an address or a port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::Rng;

/// The checkout's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// [`private_lab`] with one bench of each model (the `count` lines dropped): for tests
/// about one bench and what it shares, where 64 twin phones would only cost descriptors.
#[allow(dead_code)]
pub fn private_lab_one_per_model(dir: &Path, ports: [u16; 5], fixtures: &Path) -> PathBuf {
    let path = private_lab(dir, ports, fixtures);
    let text = std::fs::read_to_string(&path).expect("private lab");
    let single: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("count ="))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&path, single).expect("write lab");
    path
}

/// A copy of `lab/virtual.toml` in `dir`: its serial devices under `dir`, its phones and
/// endpoints in a random 127.a.b.0/23 of their own, endpoint ports as given (0 = free),
/// and the twin's firmware from `fixtures`.
pub fn private_lab(dir: &Path, ports: [u16; 5], fixtures: &Path) -> PathBuf {
    let mut rng = rand::thread_rng();
    let a: u8 = rng.gen_range(1..=254);
    let b: u8 = rng.gen_range(1..=126) * 2;
    let text = std::fs::read_to_string(root().join("lab/virtual.toml")).expect("virtual lab");
    let mut text = text
        .replace(
            "/tmp/yealink-virtual-lab",
            &dir.join("dev").display().to_string(),
        )
        .replace("\"127.0.0.", &format!("\"127.{a}.{b}."))
        .replace("\"127.0.1.", &format!("\"127.{a}.{}.", b + 1))
        // Leases and journals of its own: a test's bench never waits for another test's.
        .replace(
            "[lab]\n",
            &format!(
                "[lab]\nlock_dir = {:?}\n",
                dir.join("locks").display().to_string()
            ),
        )
        .replace(
            "\"../firmware-fixtures\"",
            &format!("{:?}", fixtures.display().to_string()),
        );
    for (fixed, port) in [18080, 18081, 10069, 15060, 10514].iter().zip(ports) {
        text = text.replace(&format!(":{fixed}\""), &format!(":{port}\""));
    }
    let path = dir.join("lab.toml");
    std::fs::write(&path, text).expect("write lab");
    path
}

/// Run options for a private lab, quiet, with the run folder in `dir`.
pub fn options(
    dir: &Path,
    lab: PathBuf,
    fixtures: &Path,
    scenarios: &[&str],
    benches: &[&str],
) -> harness::run::RunOptions {
    harness::run::RunOptions {
        lab,
        scenarios_dir: root().join("scenarios"),
        scenario_globs: scenarios.iter().map(|s| s.to_string()).collect(),
        benches: benches.iter().map(|s| s.to_string()).collect(),
        fixtures_dir: fixtures.to_path_buf(),
        snapshots_dir: root().join("scenarios/snapshots"),
        // The checkout's snapshots: a test never writes into them.
        snapshot_writes: harness::expect::SnapshotWrites::Nothing,
        out_dir: Some(dir.join("run")),
        junit: None,
        approval: None,
        progress: harness::report::Progress::Quiet,
        start_virtual_bench: true,
        lock_dir: None,
        lock_wait: harness::safety::lock::LockWait::NoWait,
    }
}

/// Kills a child process when the test ends, pass or fail.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // Already gone (and reaped): its pid may belong to another process by now.
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        // SIGTERM first so the twin removes its device links; then make sure.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn harness_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_harness"))
}

/// The twin's binary sits beside the harness's; `cargo test -p harness` alone may not have
/// built it yet.
pub fn twin_exe() -> PathBuf {
    let exe = harness_exe().with_file_name("yealink-twin");
    if !exe.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "yealink-twin", "--bin", "yealink-twin"])
            .current_dir(root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the twin failed");
    }
    exe
}

pub fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

pub fn harness_ok(lab: &Path, args: &[&str]) {
    let out = Command::new(harness_exe())
        .args(args)
        .arg("--lab")
        .arg(lab)
        .output()
        .expect("run harness");
    assert!(
        out.status.success(),
        "harness {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until a line containing `needle` arrives from `lines`; returns every line seen.
pub fn wait_line(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

/// The lines a child writes to one of its streams, as they come.
pub fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Starts the virtual bench of `lab` as its own process, as a lab engineer would, and waits
/// until it has published the T46G bench's actuator; returns the process and that path.
/// Its standard input stays open: a test may type fault commands there (`unplug ...`).
pub fn start_twin(lab: &Path) -> (Reaped, String) {
    let lab_text = std::fs::read_to_string(lab).unwrap();
    let twin = Command::new(twin_exe())
        .arg("--lab")
        .arg(lab)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let twin = Reaped(twin);
    let line = lab_text
        .lines()
        .find(|l| l.contains("keys-t46g-if00"))
        .unwrap();
    let actuator = line.split('"').nth(1).unwrap().to_string();
    // The twin starts every bench of the lab (64 phones, each making its web UI's RSA key)
    // before it publishes; on a loaded CI machine that took over 30 s. A bound, not a speed.
    let deadline = Instant::now() + Duration::from_secs(180);
    while !Path::new(&actuator).exists() {
        assert!(
            Instant::now() < deadline,
            "the twin did not publish {actuator}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (twin, actuator)
}

/// Five free loopback ports for the lab's endpoints (provisioning, foreign provisioning,
/// TFTP, SIP, syslog), for labs shared by several processes that must agree on them.
pub fn free_endpoint_ports() -> [u16; 5] {
    [
        free_port(false),
        free_port(false),
        free_port(true),
        free_port(true),
        free_port(true),
    ]
}

/// `harness run` on the T46G bench of `lab`, driving a virtual bench started as its own
/// process, with step-by-step logs on stderr (piped) and its run folder at `out`.
pub fn external_run(lab: &Path, scenarios: &Path, out: &Path) -> Command {
    external_run_recording(lab, scenarios, out, None)
}

/// `external_run`, recording into the history database `history` when given; never into
/// the checkout's history, which is the engineer's, not the tests'.
pub fn external_run_recording(
    lab: &Path,
    scenarios: &Path,
    out: &Path,
    history: Option<&Path>,
) -> Command {
    let mut command = Command::new(harness_exe());
    command
        .args(["run", "--external-bench", "--bench", "t46g", "--lab"])
        .arg(lab)
        .arg("--scenarios")
        .arg(scenarios)
        .arg("--out")
        .arg(out);
    match history {
        Some(db) => command.arg("--history").arg(db),
        None => command.arg("--no-history"),
    };
    command
        .env("RUST_LOG", "harness=info")
        .stderr(std::process::Stdio::piped());
    command
}
