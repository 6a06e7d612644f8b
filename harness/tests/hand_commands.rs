//! `harness power | network | dial | press` against a virtual bench started as its own
//! process, with `harness serve` as a third process: three programs that share nothing but
//! serial devices and sockets. The harness has no back door into the twin.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills a child process when the test ends, pass or fail.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // SIGTERM first so the twin removes its device links; then make sure.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn harness_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_harness"))
}

/// The twin's binary sits beside the harness's; `cargo test -p harness` alone may not have
/// built it yet.
fn twin_exe() -> PathBuf {
    let exe = harness_exe().with_file_name("yealink-twin");
    if !exe.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "yealink-twin", "--bin", "yealink-twin"])
            .current_dir(common::root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the twin failed");
    }
    exe
}

fn free_port(udp: bool) -> u16 {
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

fn harness(lab: &Path, args: &[&str]) {
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
fn wait_line(
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

#[test]
fn hand_commands_drive_a_separately_started_bench() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let ports = [
        free_port(false),
        free_port(false),
        free_port(true),
        free_port(true),
        free_port(true),
    ];
    let lab = common::private_lab(dir.path(), ports, &fixtures);
    let lab_text = std::fs::read_to_string(&lab).unwrap();

    // The endpoints, with every account cancelled: the phone will show No Service.
    let mut serve = Command::new(harness_exe())
        .args(["serve", "--account", "cancelled", "--lab"])
        .arg(&lab)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let _serve = Reaped(serve);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    assert!(
        wait_line(&lines, &mut seen, "Ctrl-C stops", Duration::from_secs(30)),
        "serve did not start: {seen:?}"
    );

    // The virtual bench, alone.
    let twin = Command::new(twin_exe())
        .arg("--lab")
        .arg(&lab)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _twin = Reaped(twin);
    let actuator_line = lab_text
        .lines()
        .find(|l| l.contains("keys-t46g-if00"))
        .unwrap();
    let actuator_path = actuator_line.split('"').nth(1).unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Path::new(&actuator_path).exists() {
        assert!(
            Instant::now() < deadline,
            "the twin did not publish {actuator_path}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    harness(&lab, &["network", "t46g", "connect"]);
    harness(&lab, &["power", "t46g", "on"]);
    assert!(
        wait_line(
            &lines,
            &mut seen,
            "-> 404 (account cancelled)",
            Duration::from_secs(30)
        ),
        "no boot-time provisioning seen: {seen:?}"
    );
    harness(&lab, &["dial", "t46g", "**7283"]);
    harness(&lab, &["press", "t46g", "f4"]);
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
    harness(&lab, &["power", "t46g", "off"]);
}
