//! The standalone twin binary as an operator runs it: signals stop it at once whatever its
//! standard input is doing, a line that never ends costs no memory, and fault commands
//! typed on standard input reach the devices.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// Only a broken twin ever takes this long to start, answer or stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// A bench of its own: temporary serial paths, a free loopback web port.
fn write_lab(dir: &Path) -> PathBuf {
    let ip = Ipv4Addr::new(
        127,
        rand::random::<u8>().max(2),
        rand::random(),
        rand::random::<u8>().clamp(2, 250),
    );
    let web_port = std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures");
    let text = format!(
        r#"
[lab]
name = "standalone"
time_scale = 0.01

[endpoints]
provisioning = "127.0.0.1:0"
foreign_provisioning = "127.0.0.1:0"
tftp = "127.0.0.1:0"
sip = "127.0.0.1:0"
syslog = "127.0.0.1:0"

[[relay_board]]
name = "power"
kind = "lcus"
port = "{dir}/serial/by-id/power"
channels = 4

[keymap.k]
speaker = 1
ok = 2
"2" = 3
"3" = 4
"7" = 5
"8" = 6
star = 7
cancel = 8
f1 = 9
f2 = 10
f3 = 11
f4 = 12
"0" = 13
"1" = 14
"4" = 15
"5" = 16
"6" = 17
"9" = 18
pound = 19

[[actuator]]
name = "keys"
port = "{dir}/serial/by-id/keys"
channels = 24

[[bench]]
name = "t46g"
model = "T46G"
mac = "00:15:65:12:34:57"
ip = "{ip}"
web_port = {web_port}
power = {{ board = "power", channel = 1 }}
actuator = "keys"
keymap = "k"

[twin]
firmware_dir = "{fixtures}"
initial_firmware = "current"
"#,
        dir = dir.display(),
        fixtures = fixtures.display(),
    );
    let path = dir.join("lab.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running twin: its standard input, and its standard output line by line.
struct Twin {
    child: Child,
    stdin: ChildStdin,
    stdout: Receiver<String>,
}

impl Twin {
    fn start(lab: &Path) -> Twin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_yealink-twin"))
            .arg("--lab")
            .arg(lab)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut twin = Twin {
            child,
            stdin,
            stdout: rx,
        };
        twin.wait_for_line(|l| l.starts_with("type `help`"));
        twin
    }

    /// The next output line that `wanted` accepts; the lines before it are returned too.
    fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("the twin never printed the expected line; it printed {seen:?}"),
            }
        }
    }

    fn send(&mut self, text: &str) {
        self.stdin.write_all(text.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the twin to exit; panics if it is still running after `PATIENCE`.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the twin did not stop on the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn ctrl_c_stops_the_twin_while_a_line_is_half_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut twin = Twin::start(&write_lab(dir.path()));
    // A command and half of the next one, no Enter, standard input left open: once the
    // command is answered the twin has read the half line and waits for the rest.
    twin.send("help\nunpl");
    twin.wait_for_line(|l| l.starts_with("commands ("));
    twin.signal(libc::SIGINT);
    assert!(twin.wait_exit().success());
    assert!(
        !dir.path().join("serial/by-id/keys").exists(),
        "the bench was shut down: its serial paths are gone"
    );
}

#[test]
fn sigterm_stops_the_twin_while_it_waits_for_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut twin = Twin::start(&write_lab(dir.path()));
    twin.send("describe\n");
    twin.wait_for_line(|l| l.starts_with("DHCP option 66"));
    twin.signal(libc::SIGTERM);
    assert!(twin.wait_exit().success());
}

#[test]
fn a_line_that_never_ends_costs_no_memory_and_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut twin = Twin::start(&write_lab(dir.path()));
    let before = twin.resident_kib();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..160 {
        twin.stdin.write_all(&chunk).unwrap();
    }
    twin.stdin.flush().unwrap();
    // A pipe holds at most a little; the twin has read nearly all 10 MiB by now.
    let after = twin.resident_kib();
    assert!(
        after < before + 4 * 1024,
        "resident memory grew from {before} KiB to {after} KiB reading one line"
    );
    twin.send("\nhelp\n");
    let refusal = twin.wait_for_line(|l| l.starts_with("error: a command line"));
    assert_eq!(
        refusal,
        "error: a command line of 10485760 bytes is longer than 1024; skipped"
    );
    twin.wait_for_line(|l| l.starts_with("commands ("));
    twin.signal(libc::SIGTERM);
    assert!(twin.wait_exit().success());
}

#[test]
fn fault_commands_on_stdin_silence_and_heal_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let mut twin = Twin::start(&write_lab(dir.path()));
    let path = dir.path().join("serial/by-id/keys");
    let mut port = serialport::new(path.to_string_lossy(), 115_200)
        .timeout(PATIENCE)
        .open()
        .unwrap();
    let read_line = |port: &mut Box<dyn serialport::SerialPort>| {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            port.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).into_owned()
    };
    // The banner of the board's power-up waits in the port.
    assert!(read_line(&mut port).starts_with("READY "));

    twin.send("silent keys\n");
    assert_eq!(
        twin.wait_for_line(|l| l.starts_with("ok:") || l.starts_with("error:")),
        "ok: silent keys"
    );
    port.write_all(b"HELLO\n").unwrap();
    port.set_timeout(Duration::from_millis(200)).unwrap();
    let mut buf = [0u8; 256];
    let got = port.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::TimedOut),
        "a silent actuator answered: {got:?}"
    );

    twin.send("heal keys\n");
    assert_eq!(
        twin.wait_for_line(|l| l.starts_with("ok:") || l.starts_with("error:")),
        "ok: heal keys"
    );
    port.set_timeout(PATIENCE).unwrap();
    port.write_all(b"HELLO\n").unwrap();
    assert_eq!(
        read_line(&mut port),
        "OK HELLO yealink-actuator 1 channels=24\r\n"
    );

    twin.send("garbage nosuchdevice\n");
    let reply = twin.wait_for_line(|l| l.starts_with("ok:") || l.starts_with("error:"));
    assert!(
        reply.contains("nosuchdevice") && reply.contains("keys"),
        "{reply}"
    );
    twin.signal(libc::SIGTERM);
    assert!(twin.wait_exit().success());
}
