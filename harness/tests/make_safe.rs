//! Making a bench safe when one of its devices is broken, checked with the real binary
//! against a twin started as its own process: every device is tried whatever the others
//! did, and the journal forgets only what a device confirmed.
//! - With the network relay board (or the actuator) unplugged, `harness power BENCH off`
//!   still switches the phone off.
//! - A cable a crashed run left pulled, whose reconnect fails because the board is gone,
//!   stays in the journal; once the board is back, the next command reconnects it.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Reaped, harness_exe};

struct Bench {
    dir: tempfile::TempDir,
    lab: PathBuf,
    lab_text: String,
    twin: Reaped,
}

fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("firmware-fixtures");
    let lab = common::private_lab(dir.path(), common::free_endpoint_ports(), &fixtures);
    let lab_text = std::fs::read_to_string(&lab).unwrap();
    let (twin, _actuator) = common::start_twin(&lab);
    Bench {
        dir,
        lab,
        lab_text,
        twin,
    }
}

impl Bench {
    fn harness(&self, args: &[&str]) -> Output {
        Command::new(harness_exe())
            .args(args)
            .arg("--lab")
            .arg(&self.lab)
            .output()
            .unwrap()
    }

    /// Types a physical fault command on the twin's standard input.
    fn fault(&mut self, command: &str) {
        let stdin = self.twin.0.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        // The twin applies it on its next loop turn.
        std::thread::sleep(Duration::from_millis(300));
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

    fn journal(&self) -> PathBuf {
        self.dir.path().join("locks/t46g.journal")
    }

    /// Whether the phone's web UI answers within `within`, polling.
    fn web_answers(&self, expected: bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let up = TcpStream::connect_timeout(&self.web(), Duration::from_millis(300)).is_ok();
            if up == expected {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn power_off_with_a_device_gone(device: &str) {
    let mut bench = bench();
    let connect = bench.harness(&["network", "t46g", "connect"]);
    assert_eq!(connect.status.code(), Some(0), "{}", text(&connect));
    let on = bench.harness(&["power", "t46g", "on"]);
    assert_eq!(on.status.code(), Some(0), "{}", text(&on));
    assert!(
        bench.web_answers(true, Duration::from_secs(30)),
        "the phone never came up"
    );

    bench.fault(&format!("unplug {device}"));
    let off = bench.harness(&["power", "t46g", "off"]);
    assert_eq!(off.status.code(), Some(0), "{}", text(&off));
    assert!(
        bench.web_answers(false, Duration::from_secs(10)),
        "the phone is still powered with {device} unplugged: {}",
        text(&off)
    );
}

#[test]
fn power_off_goes_out_with_the_network_board_gone() {
    power_off_with_a_device_gone("relay-net");
}

#[test]
fn power_off_goes_out_with_the_actuator_gone() {
    power_off_with_a_device_gone("keys-t46g");
}

#[test]
fn a_failed_reconnect_stays_in_the_journal_until_a_device_confirms_it() {
    let mut bench = bench();
    let pulled = bench.harness(&["network", "t46g", "pull"]);
    assert_eq!(pulled.status.code(), Some(0), "{}", text(&pulled));
    // What a run killed with the cable pulled leaves behind.
    std::fs::write(
        bench.journal(),
        "{\"action\":\"network\",\"connected\":false}\n",
    )
    .unwrap();

    bench.fault("unplug relay-net");
    let first = bench.harness(&["power", "t46g", "off"]);
    assert_eq!(first.status.code(), Some(3), "{}", text(&first));
    let said = text(&first);
    assert!(
        said.contains("left by a crashed or killed process")
            && said.contains("network cable possibly pulled")
            && said.contains("could NOT be made safe"),
        "{said}"
    );
    let left = harness::safety::journal::read(&std::fs::read(bench.journal()).unwrap());
    assert!(
        left.network_pulled,
        "the failed reconnect was forgotten: {left:?}"
    );

    bench.fault("replug relay-net");
    let second = bench.harness(&["power", "t46g", "off"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let said = text(&second);
    assert!(
        said.contains("left unsafe by an earlier owner") && said.contains("cable connected"),
        "{said}"
    );
    assert_eq!(std::fs::read(bench.journal()).unwrap(), b"");
    assert_network_relay(&bench.lab, bench.dir.path(), "relay on");
}

/// `lab check` reads the bench's network relay back (the Numato can).
fn assert_network_relay(lab: &Path, dir: &Path, expected: &str) {
    let out = Command::new(harness_exe())
        .args(["lab", "check", "--lab"])
        .arg(lab)
        .arg("--lock-dir")
        .arg(dir.join("locks"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("t46g") && l.contains("network relay-net"))
        .unwrap_or_else(|| panic!("no network row: {table}"));
    assert!(row.ends_with(expected), "{row}");
}
