//! tftpd-hpa as the recovery TFTP server: a recovery package staged as the harness stages it
//! (`<root>/<bench>/<model>.bin|rfs|rom`), served by `in.tftpd` with a remap file that sends
//! each phone to its bench's folder by its address, and fetched with tftp-hpa's client byte for
//! byte, under the names a phone asks for; then a whole TFTP recovery of a twin phone from
//! it: the three files read, checked and flashed, and the phone calling home on the new
//! firmware.
//!
//! Opt-in: `cargo test -p harness --features real-parts --test real_parts_tftpd`. Needs the
//! Debian packages tftpd-hpa and tftp-hpa, and root (in.tftpd changes root into the folder
//! and drops to `nobody`): run as root, or with passwordless sudo.

#![cfg(feature = "real-parts")]

mod real_parts_support;

use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::endpoints::tftp::stage::stage;
use harness::scenario::PackagePart;
use harness::scenario::package::package_name;
use real_parts_support::{Needed, repo_root, require};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yealink_twin::phone::{Key, Model, Phone, PhoneSpec};

const IN_TFTPD: &str = "/usr/sbin/in.tftpd";
const TFTP: &str = "/usr/bin/tftp";

/// `in.tftpd` in the foreground; stopped (SIGTERM, through sudo when used) on drop.
struct Tftpd {
    child: Child,
}

impl Drop for Tftpd {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling our own child, reaped just below.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn as_root(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.args(["-n", program]);
        command
    }
}

/// A free UDP port on `address` (released just before in.tftpd binds it).
fn free_port(address: &str) -> u16 {
    UdpSocket::bind((address, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The remap rules that serve each phone its bench's folder: a name with a folder in it or
/// starting with a dot is refused (a phone asks for bare names), the request is prefixed with
/// the client's address, then the address is replaced by the bench's folder. A client that is
/// no bench keeps the address prefix and finds nothing.
fn remap_rules(benches: &[(&str, &str)]) -> String {
    let mut rules = String::from("a /\na ^\\.\nr ^ \\i/\n");
    for (ip, bench) in benches {
        rules.push_str(&format!("r ^{}/ {bench}/\n", ip.replace('.', "\\.")));
    }
    rules
}

fn fetch(port: u16, name: &str, to: &Path) -> (bool, String) {
    let output = Command::new(TFTP)
        .args([
            "-m",
            "binary",
            "127.0.0.1",
            &port.to_string(),
            "-c",
            "get",
            name,
        ])
        .arg(to)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // tftp-hpa's exit status says nothing of a refused transfer: its message does.
    (output.status.success() && !said.contains("Error"), said)
}

fn require_tftp_packages() {
    require(&[
        Needed {
            path: IN_TFTPD,
            package: "tftpd-hpa",
        },
        Needed {
            path: TFTP,
            package: "tftp-hpa",
        },
    ]);
}

/// Starts `in.tftpd` serving `root` on `127.0.0.1:<port>` with the remap rules of
/// `benches`; in.tftpd serves as `nobody`, so the folders and files are made readable to all.
fn start_tftpd(root: &Path, benches: &[(&str, &str)], port: u16) -> (Tftpd, tempfile::TempDir) {
    for entry in walk(root) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let outside = tempfile::tempdir().unwrap();
    let map = outside.path().join("remap");
    std::fs::write(&map, remap_rules(benches)).unwrap();
    std::fs::set_permissions(&map, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = outside.path().join("tftpd.stderr");
    let child = as_root(IN_TFTPD)
        .arg("-L")
        .arg("-s")
        .arg(root)
        .arg("-a")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-m")
        .arg(&map)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    (Tftpd { child }, outside)
}

/// `root` and everything under it.
fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut all = vec![root.to_path_buf()];
    let mut at = 0;
    while at < all.len() {
        if all[at].is_dir() {
            for entry in std::fs::read_dir(&all[at]).unwrap() {
                all.push(entry.unwrap().path());
            }
        }
        at += 1;
    }
    all
}

/// A twin phone's whole TFTP recovery from tftpd-hpa: speaker held at power-on, `1` in the
/// recovery menu, the package (the fixtures' `below-min` generation, staged by the harness)
/// read from in.tftpd, checked and flashed; after its reboots the phone calls home with the
/// package's version in its User-Agent.
#[test]
fn a_twin_phone_recovers_from_a_package_tftpd_hpa_serves() {
    require_tftp_packages();
    let lab = harness::lab::load(&repo_root().join("lab/virtual.toml")).unwrap();
    let bench = lab
        .benches
        .iter()
        .find(|b| b.model.to_string() == "T46G")
        .expect("virtual.toml has a T46G");
    let fixtures = repo_root().join("firmware-fixtures/T46G");
    let (old, new) = ("28.83.0.120", "28.82.0.20");
    let staged: Vec<(String, std::path::PathBuf)> = [
        (PackagePart::Bin, "bin"),
        (PackagePart::Rfs, "rfs"),
        (PackagePart::Rom, "rom"),
    ]
    .into_iter()
    .map(|(part, ext)| {
        (
            package_name(bench.model, part),
            fixtures.join(format!("T46-{new}.{ext}")),
        )
    })
    .collect();
    let root = tempfile::tempdir().unwrap();
    stage(root.path(), &bench.name, &staged).unwrap();

    // The phone on an address of its own: the remap rules send it to the bench's folder.
    let phone_ip = std::net::Ipv4Addr::new(127, 0, 77, (std::process::id() % 200 + 20) as u8);
    let port = free_port("127.0.0.1");
    let (mut server, outside) =
        start_tftpd(root.path(), &[(&phone_ip.to_string(), &bench.name)], port);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let called_home = runtime.block_on(async {
        // The provisioning server: records each request's first line and User-Agent, 404s.
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http.local_addr().unwrap();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = http.accept().await else {
                    return;
                };
                let seen_tx = seen_tx.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = seen_tx.send(String::from_utf8_lossy(&request).into_owned());
                    let _ = stream
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        let web_port = std::net::TcpListener::bind((phone_ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let phone = Phone::spawn(PhoneSpec {
            bench: bench.name.clone(),
            model: Model::T46G,
            mac: bench.mac.0,
            ip: phone_ip,
            web_port,
            time_scale: 0.01,
            dhcp_provisioning_url: Some(format!("http://{http_addr}/")),
            initial_firmware: fixtures.join(format!("T46-{old}.rom")),
            tftp_server: Some(([127, 0, 0, 1], port).into()),
            dhcp_interface: None,
            usb_image: None,
        })
        .unwrap();
        phone.set_key(Key::Speaker, true);
        phone.set_power(true);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while !phone.screen().starts_with("Recovery:") {
            assert!(tokio::time::Instant::now() < deadline, "no recovery menu: {}", phone.screen());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        phone.set_key(Key::Speaker, false);
        let one = Key::parse("1").unwrap();
        phone.set_key(one, true);
        phone.set_key(one, false);
        let agent = format!("Yealink SIP-T46G {new} ");
        let found = tokio::time::timeout(std::time::Duration::from_secs(120), async {
            while let Some(request) = seen.recv().await {
                if request.contains(&agent) {
                    return Some(request);
                }
            }
            None
        })
        .await;
        let screen = phone.screen();
        phone.shutdown();
        (found, screen)
    });
    let (found, screen) = called_home;
    let request = found
        .unwrap_or_else(|_| {
            panic!(
                "no call-home on {new} within 120 s; the phone shows {screen:?}; in.tftpd: {:?} {}",
                server.child.try_wait(),
                std::fs::read_to_string(outside.path().join("tftpd.stderr")).unwrap_or_default()
            )
        })
        .expect("the provisioning server runs");
    let mac_hex: String = bench.mac.0.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        request.starts_with(&format!("GET /{mac_hex}.boot ")),
        "the first request of the new firmware's boot: {request}"
    );
    drop(server);
}

#[test]
fn tftpd_hpa_serves_a_package_staged_by_the_harness_byte_for_byte() {
    require_tftp_packages();
    let lab = harness::lab::load(&repo_root().join("lab/virtual.toml")).unwrap();
    let bench = lab
        .benches
        .iter()
        .find(|b| b.model.to_string() == "T46G")
        .expect("virtual.toml has a T46G");

    // The package: three files of bytes that do not repeat block after block, the .rom of a
    // real one's size (7-27 MB).
    let sources = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (part, size)) in [
        (PackagePart::Bin, 70_000usize),
        (PackagePart::Rfs, 1_000_000),
        (PackagePart::Rom, 8_000_000),
    ]
    .into_iter()
    .enumerate()
    {
        let bytes: Vec<u8> = (0..size)
            .map(|n| {
                ((n as u64)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(i as u64)
                    >> 7) as u8
            })
            .collect();
        let source = sources.path().join(format!("source-{i}"));
        std::fs::write(&source, &bytes).unwrap();
        files.push((package_name(bench.model, part), source, bytes));
    }
    let root = tempfile::tempdir().unwrap();
    let staged: Vec<(String, std::path::PathBuf)> = files
        .iter()
        .map(|(name, source, _)| (name.clone(), source.clone()))
        .collect();
    stage(root.path(), &bench.name, &staged).unwrap();
    // in.tftpd serves as `nobody`: the folders must be readable to all.
    for path in [root.path().to_path_buf(), root.path().join(&bench.name)] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (name, _, _) in &files {
        let path = root.path().join(&bench.name).join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // The test's client talks from 127.0.0.1: that is the bench's address here.
    let outside = tempfile::tempdir().unwrap();
    let map = outside.path().join("remap");
    std::fs::write(&map, remap_rules(&[("127.0.0.1", &bench.name)])).unwrap();
    std::fs::set_permissions(&map, std::fs::Permissions::from_mode(0o644)).unwrap();

    let port = free_port("127.0.0.1");
    let stderr = root.path().join("tftpd.stderr");
    let child = as_root(IN_TFTPD)
        .arg("-L")
        .arg("-s")
        .arg(root.path())
        .arg("-a")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-m")
        .arg(&map)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut server = Tftpd { child };

    let downloads = tempfile::tempdir().unwrap();
    for (name, _, bytes) in &files {
        let to = downloads.path().join(name);
        // in.tftpd may still be binding: a refused first request is retried for a while.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (ok, said) = fetch(port, name, &to);
            if ok {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "in.tftpd exited ({status}); it needs root or passwordless sudo: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "tftp get {name}: {said}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let fetched = std::fs::read(&to).unwrap();
        assert_eq!(fetched.len(), bytes.len(), "{name}: size");
        assert!(fetched == *bytes, "{name}: the bytes differ");
    }
    // Nothing but the bench's own files: no other folder, no way up, no dot names.
    for name in [
        format!("../{}/{}", bench.name, files[0].0),
        format!("{}/{}", bench.name, files[0].0),
        "..".to_string(),
        ".".to_string(),
    ] {
        let (ok, said) = fetch(port, &name, &downloads.path().join("refused"));
        assert!(!ok, "served {name:?}: {said}");
    }
    drop(server);
}
