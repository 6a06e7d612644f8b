//! The assembled virtual bench, observed as a real rack is: relay and actuator commands go in
//! through the published serial paths, and their effect is seen on the wire (the phone's HTTP
//! requests to a provisioning server, its web port accepting connections).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serialport::SerialPort;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yealink_twin::serial::lcus::encode;
use yealink_twin::{BenchOptions, TwinLab, VirtualBench};

/// Only a broken bench ever waits this long.
const PATIENCE: Duration = Duration::from_secs(20);

/// What the test's provisioning server saw: (path, user agent, network relay closed then).
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// A provisioning server that answers 404 to everything and records each request, with
/// whether the test had closed the network relay before it arrived.
async fn provisioning_server(network_closed: Arc<AtomicBool>) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let record = Arc::clone(&record);
            let network_closed = Arc::clone(&network_closed);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let agent = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("User-Agent: ")
                            .or_else(|| l.strip_prefix("user-agent: "))
                    })
                    .unwrap_or_default()
                    .to_string();
                record
                    .lock()
                    .unwrap()
                    .push((path, agent, network_closed.load(Ordering::SeqCst)));
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (url, seen)
}

/// A loopback subnet of its own, and a web port free on it.
fn phone_address() -> (Ipv4Addr, u16) {
    let ip = Ipv4Addr::new(
        127,
        rand::random::<u8>().max(2),
        rand::random(),
        rand::random::<u8>().clamp(2, 250),
    );
    let port = std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (ip, port)
}

fn lab_text(dir: &Path, ip: Ipv4Addr, web_port: u16, with_network_relay: bool) -> String {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures");
    let network = if with_network_relay {
        "network = { board = \"net\", channel = 0 }"
    } else {
        ""
    };
    format!(
        r#"
[lab]
name = "test"
time_scale = 0.002
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
[[relay_board]]
name = "net"
kind = "numato"
port = "{dir}/serial/by-id/net"
channels = 8
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
mac = "00:15:65:12:34:56"
ip = "{ip}"
web_port = {web_port}
power = {{ board = "power", channel = 3 }}
{network}
actuator = "keys"
keymap = "k"
[twin]
firmware_dir = "{fixtures}"
initial_firmware = "current"
"#,
        dir = dir.display(),
        fixtures = fixtures.display(),
    )
}

fn open(path: &Path) -> Box<dyn SerialPort> {
    serialport::new(path.to_string_lossy(), 9600)
        .timeout(PATIENCE)
        .open()
        .unwrap()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn web_up(ip: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_secs(1)).is_ok()
}

fn numato(port: &mut dyn SerialPort, command: &str) {
    port.write_all(format!("{command}\r").as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\n\r>") {
        port.read_exact(&mut byte).unwrap();
        got.push(byte[0]);
    }
}

fn actuator(port: &mut dyn SerialPort, command: &str) -> String {
    port.write_all(format!("{command}\n").as_bytes()).unwrap();
    loop {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n") {
            port.read_exact(&mut byte).unwrap();
            got.push(byte[0]);
        }
        let line = String::from_utf8(got).unwrap().trim_end().to_string();
        if !line.starts_with("READY") && !line.starts_with("EVT") {
            return line;
        }
    }
}

fn paths(dir: &Path) -> [PathBuf; 3] {
    ["power", "net", "keys"].map(|name| dir.join("serial/by-id").join(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_and_keys_reach_the_phone_on_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let (ip, web_port) = phone_address();
    let network_closed = Arc::new(AtomicBool::new(false));
    let (url, seen) = provisioning_server(Arc::clone(&network_closed)).await;
    let lab = TwinLab::from_str(&lab_text(dir.path(), ip, web_port, true), dir.path()).unwrap();
    let bench = VirtualBench::start(
        lab,
        BenchOptions {
            provisioning_url: Some(url),
            time_scale: None,
            tftp_server: None,
        },
    )
    .await
    .unwrap();
    let [power_path, net_path, keys_path] = paths(dir.path());
    let description = bench.describe();
    for path in [&power_path, &net_path, &keys_path] {
        assert!(
            std::fs::read_link(path).unwrap().starts_with("/dev/pts"),
            "{}",
            path.display()
        );
        assert!(
            description.contains(&path.display().to_string()),
            "{description}"
        );
    }
    assert!(
        description.contains(&format!("{ip}:{web_port}"))
            && description.contains("00:15:65:12:34:56")
    );

    // Power on with the network relay open, then connect the cable.
    let mut power = open(&power_path);
    power.write_all(&encode(3, true)).unwrap();
    let mut net = open(&net_path);
    network_closed.store(true, Ordering::SeqCst);
    numato(&mut *net, "relay on 0");
    wait_until("the phone fetches its provisioning files", || {
        seen.lock().unwrap().len() >= 4
    })
    .await;
    {
        let seen = seen.lock().unwrap();
        assert!(
            seen.iter().all(|(_, _, closed)| *closed),
            "a phone with its cable relay open reached the network"
        );
        assert!(
            seen.iter()
                .any(|(path, _, _)| path.ends_with("001565123456.cfg")),
            "{seen:?}"
        );
        assert!(
            seen[0].1.starts_with("Yealink SIP-T46G 28.")
                && seen[0].1.ends_with("00:15:65:12:34:56"),
            "{seen:?}"
        );
    }
    wait_until("the web UI listens", || web_up(ip, web_port)).await;

    // Dial **7283 and confirm through the actuator: the phone calls home.
    let mut keys = open(&keys_path);
    for channel in [7, 7, 5, 3, 6, 4, 2] {
        assert_eq!(
            actuator(&mut *keys, &format!("TAP {channel} 20")),
            format!("OK TAP {channel} 20")
        );
    }
    wait_until("the Auto-P call-home arrives", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|(p, ..)| p.contains("/autop/"))
    })
    .await;

    // The cable-pull fault and the network relay both take the phone off the wire.
    bench.pull_cable("t46g", true).unwrap();
    wait_until("a pulled cable closes the web port", || {
        !web_up(ip, web_port)
    })
    .await;
    bench.pull_cable("t46g", false).unwrap();
    wait_until("the web UI is back with the cable", || web_up(ip, web_port)).await;
    numato(&mut *net, "relay off 0");
    wait_until("an open network relay closes the web port", || {
        !web_up(ip, web_port)
    })
    .await;
    numato(&mut *net, "relay on 0");
    wait_until("the web UI is back with the relay", || web_up(ip, web_port)).await;

    // Power off through the relay frame.
    power.write_all(&encode(3, false)).unwrap();
    wait_until("power-off closes the web port", || !web_up(ip, web_port)).await;

    bench.shutdown().await;
    for path in paths(dir.path()) {
        assert!(
            std::fs::symlink_metadata(&path).is_err(),
            "{} must be removed at shutdown",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugging_the_power_board_cuts_power_and_faults_name_devices() {
    let dir = tempfile::tempdir().unwrap();
    let (ip, web_port) = phone_address();
    let (url, seen) = provisioning_server(Arc::new(AtomicBool::new(true))).await;
    let lab = TwinLab::from_str(&lab_text(dir.path(), ip, web_port, false), dir.path()).unwrap();
    let bench = VirtualBench::start(
        lab,
        BenchOptions {
            provisioning_url: Some(url),
            time_scale: Some(0.002),
            tftp_server: None,
        },
    )
    .await
    .unwrap();
    let [power_path, _, _] = paths(dir.path());

    let mut power = open(&power_path);
    power.write_all(&encode(3, true)).unwrap();
    // No network relay on this bench: the cable is always connected.
    wait_until("the phone reaches the provisioning server", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    wait_until("the web UI listens", || web_up(ip, web_port)).await;

    bench.unplug_relay_board("power").unwrap();
    assert!(std::fs::symlink_metadata(&power_path).is_err());
    wait_until("a board without USB power drops its relays", || {
        !web_up(ip, web_port)
    })
    .await;
    bench.replug_relay_board("power").unwrap();
    let mut power = open(&power_path);
    power.write_all(&encode(3, true)).unwrap();
    wait_until("the phone boots again", || web_up(ip, web_port)).await;

    assert!(
        bench
            .unplug_relay_board("nope")
            .unwrap_err()
            .to_string()
            .contains("power, net, keys")
    );
    assert!(
        bench
            .replug_actuator("keys")
            .unwrap_err()
            .to_string()
            .contains("already")
    );
    assert!(
        bench
            .hang_in_boot("t99", true)
            .unwrap_err()
            .to_string()
            .contains("t46g")
    );
    bench.shutdown().await;
}
