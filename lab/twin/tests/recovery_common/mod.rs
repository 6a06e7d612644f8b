//! The recovery tests' lab: a provisioning HTTP server and a recovery TFTP server of the
//! test's own on 127.0.0.1, a writer of recovery package files (firmware-fixtures/FORMAT.md
//! plus the `part` line), USB stick images, and a twin phone on a random 127.x.y.z address.
//! The phone is driven only by power and keys, and observed only on these wires.

#![allow(dead_code)] // each test file uses its own part of this lab

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use yealink_twin::phone::{Key, Model, Phone, PhoneSpec};

pub const MAC: [u8; 6] = [0x00, 0x15, 0x65, 0x4a, 0xa9, 0x46];
pub const MAC_HEX: &str = "0015654aa946";
pub const TIME_SCALE: f64 = 0.002;
pub const WAIT: Duration = Duration::from_secs(10);
/// The firmware in flash before the recovery: a 2019 build, so speaker-at-power-on opens
/// the recovery menu (not the Long Press reset).
pub const OLD: &str = "28.83.0.50";
pub const OLD_BUILD: &str = "2019-05-01";
/// The firmware of the recovery package.
pub const NEW: &str = "28.86.0.5";
pub const NEW_BUILD: &str = "2021-03-01";
/// Where the first boot's provisioning moves the phone: proof of settings kept or cleared.
pub const CUSTOM_PATH: &str = "/custom/";

// ---------------------------------------------------------------- package files

/// One package file in the `.rom` container layout, written independently of the phone.
pub fn image(model: &str, version: &str, build_date: &str, part: &str) -> Vec<u8> {
    fn block(kind: u32, data: &[u8]) -> Vec<u8> {
        let mut out = vec![0xEB, 0x9F, 0x56, 0xC9];
        out.extend(kind.to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(data);
        out
    }
    let mut out = vec![0u8; 0x80];
    out[0..4].copy_from_slice(&[0xAD, 0x24, 0xEC, 0x0B]);
    out[0x04..0x08].copy_from_slice(&28u32.to_be_bytes());
    out[0x08..0x08 + model.len()].copy_from_slice(model.as_bytes());
    out[0x18..0x18 + 10].copy_from_slice(b"Intermedia");
    out[0x28..0x28 + version.len()].copy_from_slice(version.as_bytes());
    out[0x38..0x3C].copy_from_slice(&28u32.to_be_bytes());
    let declaration = format!(
        "part = {part}\nmodel = {model}\nversion = {version}\nbuild_date = {build_date}\nintermedia = true\nfeatures = autop-reset\n"
    );
    out.extend(block(1, declaration.as_bytes()));
    // Filler sized so a file spans several 1428-byte TFTP blocks and ends mid-block.
    let filler: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
    out.extend(block(2, &filler));
    let sum = Sha256::digest(&out);
    out.extend(block(255, &sum));
    out
}

/// The T46G recovery package of `version`: `(file name, bytes)` for .bin, .rfs, .rom.
pub fn package(version: &str, build_date: &str) -> Vec<(String, Vec<u8>)> {
    [("bin", "kernel"), ("rfs", "rootfs"), ("rom", "firmware")]
        .into_iter()
        .map(|(ext, part)| {
            (
                format!("T46G.{ext}"),
                image("T46G", version, build_date, part),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- USB sticks

/// A FAT volume of `size_mib` holding `files` in its root directory.
pub fn fat_volume(size_mib: u64, files: &[(String, Vec<u8>)]) -> (Vec<u8>, fatfs::FatType) {
    let mut disk = Cursor::new(vec![0u8; (size_mib * 1024 * 1024) as usize]);
    fatfs::format_volume(&mut disk, fatfs::FormatVolumeOptions::new()).unwrap();
    disk.set_position(0);
    let fat_type;
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new()).unwrap();
        fat_type = fs.fat_type();
        let root = fs.root_dir();
        for (name, bytes) in files {
            root.create_file(name).unwrap().write_all(bytes).unwrap();
        }
    }
    (disk.into_inner(), fat_type)
}

/// A stick with an MBR whose first partition (type `kind`, from sector 2048) is `volume`.
pub fn mbr_stick(kind: u8, volume: &[u8]) -> Vec<u8> {
    const START_LBA: u32 = 2048;
    let mut stick = vec![0u8; START_LBA as usize * 512];
    let entry = &mut stick[446..462];
    entry[4] = kind;
    entry[8..12].copy_from_slice(&START_LBA.to_le_bytes());
    entry[12..16].copy_from_slice(&((volume.len() / 512) as u32).to_le_bytes());
    stick[510] = 0x55;
    stick[511] = 0xAA;
    stick.extend_from_slice(volume);
    stick
}

/// The first sectors of an NTFS volume: what the phone looks at to refuse it.
pub fn ntfs_volume() -> Vec<u8> {
    let mut volume = vec![0u8; 1024 * 1024];
    volume[0..3].copy_from_slice(&[0xEB, 0x52, 0x90]);
    volume[3..11].copy_from_slice(b"NTFS    ");
    volume[11..13].copy_from_slice(&512u16.to_le_bytes());
    volume[13] = 8;
    volume[510] = 0x55;
    volume[511] = 0xAA;
    volume
}

// ---------------------------------------------------------------- provisioning server

/// An HTTP request the provisioning server saw.
#[derive(Debug, Clone)]
pub struct Http {
    pub from: Ipv4Addr,
    pub path: String,
    pub user_agent: String,
}

type Answers = Arc<Mutex<HashMap<String, Vec<u8>>>>;

async fn provisioning(
    State((answers, tx)): State<(Answers, mpsc::UnboundedSender<Http>)>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> impl IntoResponse {
    let path = request.uri().path().to_owned();
    let user_agent = request
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let SocketAddr::V4(client) = client else {
        panic!("IPv4 client")
    };
    let _ = tx.send(Http {
        from: *client.ip(),
        path: path.clone(),
        user_agent,
    });
    match answers.lock().unwrap().get(&path).cloned() {
        Some(body) => (StatusCode::OK, body),
        None => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

// ---------------------------------------------------------------- TFTP server

/// A read request the TFTP server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrq {
    pub from: Ipv4Addr,
    pub file: String,
    pub mode: String,
    pub options: Vec<(String, String)>,
}

/// What the TFTP server answers for a file.
#[derive(Debug, Clone)]
pub enum TftpAnswer {
    File(Vec<u8>),
    Error(u16, String),
}

type TftpFiles = Arc<Mutex<HashMap<String, TftpAnswer>>>;

fn cstrings(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn error_packet(code: u16, message: &str) -> Vec<u8> {
    let mut out = vec![0, 5];
    out.extend(code.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
    out.push(0);
    out
}

/// RFC 1350 with RFC 2347-2349 option acknowledgement: each request gets its own socket
/// (transfer id); an unanswered packet is sent again up to five times.
async fn tftp_loop(
    socket: UdpSocket,
    files: TftpFiles,
    options: bool,
    tx: mpsc::UnboundedSender<Rrq>,
) {
    let mut buf = vec![0u8; 2048];
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let packet = &buf[..n];
        if packet.len() < 2 || packet[0..2] != [0, 1] {
            continue;
        }
        let fields = cstrings(&packet[2..]);
        let SocketAddr::V4(from_v4) = from else {
            continue;
        };
        let rrq = Rrq {
            from: *from_v4.ip(),
            file: fields[0].clone(),
            mode: fields[1].clone(),
            options: fields[2..]
                .chunks(2)
                .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default()))
                .collect(),
        };
        let _ = tx.send(rrq.clone());
        let answer = files.lock().unwrap().get(&rrq.file).cloned();
        tokio::spawn(transfer(from, rrq, answer, options));
    }
}

async fn transfer(client: SocketAddr, rrq: Rrq, answer: Option<TftpAnswer>, with_options: bool) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let data = match answer {
        None => {
            let _ = socket
                .send_to(&error_packet(1, "File not found"), client)
                .await;
            return;
        }
        Some(TftpAnswer::Error(code, message)) => {
            let _ = socket.send_to(&error_packet(code, &message), client).await;
            return;
        }
        Some(TftpAnswer::File(data)) => data,
    };
    let mut blksize = 512;
    // Exchanges one packet for its ACK; false when the client went away or sent an ERROR.
    let exchange = |packet: Vec<u8>, block: u16| {
        let socket = &socket;
        async move {
            let mut buf = [0u8; 516];
            for _ in 0..6 {
                socket.send_to(&packet, client).await.unwrap();
                let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
                loop {
                    match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
                        Err(_) => break,
                        Ok(Ok((n, from))) if from == client && n >= 4 => {
                            if buf[0..2] == [0, 5] {
                                return false;
                            }
                            if buf[0..2] == [0, 4] && u16::from_be_bytes([buf[2], buf[3]]) == block
                            {
                                return true;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            }
            false
        }
    };
    if with_options && !rrq.options.is_empty() {
        let mut oack = vec![0, 6];
        for (name, value) in &rrq.options {
            let value = match name.as_str() {
                "blksize" => {
                    blksize = value.parse::<usize>().unwrap().min(1468);
                    blksize.to_string()
                }
                "tsize" => data.len().to_string(),
                "timeout" => value.clone(),
                _ => continue,
            };
            oack.extend_from_slice(name.as_bytes());
            oack.push(0);
            oack.extend_from_slice(value.as_bytes());
            oack.push(0);
        }
        if !exchange(oack, 0).await {
            return;
        }
    }
    let mut block: u16 = 1;
    let mut offset = 0;
    loop {
        let end = (offset + blksize).min(data.len());
        let mut packet = vec![0, 3];
        packet.extend(block.to_be_bytes());
        packet.extend_from_slice(&data[offset..end]);
        if !exchange(packet, block).await {
            return;
        }
        if end - offset < blksize {
            return;
        }
        offset = end;
        block = block.wrapping_add(1);
    }
}

// ---------------------------------------------------------------- the lab

/// The test's lab and its one phone.
pub struct Lab {
    pub http: SocketAddr,
    answers: Answers,
    http_seen: mpsc::UnboundedReceiver<Http>,
    pub tftp: SocketAddr,
    pub tftp_files: TftpFiles,
    tftp_seen: mpsc::UnboundedReceiver<Rrq>,
    pub dir: tempfile::TempDir,
    pub phone_ip: Ipv4Addr,
    pub phone: Phone,
    pub stick: PathBuf,
    syslog: UdpSocket,
}

impl Lab {
    /// Starts the servers and a T46G running the old 2019 build, unpowered. `tftp_options`:
    /// whether the TFTP server acknowledges options (else it answers with plain DATA).
    pub async fn new(tftp_options: bool) -> Lab {
        let answers: Answers = Arc::default();
        let (http_tx, http_seen) = mpsc::unbounded_channel();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(provisioning)
            .with_state((Arc::clone(&answers), http_tx));
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });

        let tftp_files: TftpFiles = Arc::default();
        let (tftp_tx, tftp_seen) = mpsc::unbounded_channel();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tftp = socket.local_addr().unwrap();
        tokio::spawn(tftp_loop(
            socket,
            Arc::clone(&tftp_files),
            tftp_options,
            tftp_tx,
        ));

        let dir = tempfile::tempdir().unwrap();
        let firmware = dir.path().join("initial.rom");
        std::fs::write(&firmware, image("T46G", OLD, OLD_BUILD, "firmware")).unwrap();
        let stick = dir.path().join("stick.img");
        let syslog = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let syslog_port = syslog.local_addr().unwrap().port();

        let mut rng = rand::thread_rng();
        // A random 127.x.y.z per test, so tests never share the phone's ports.
        let phone_ip = Ipv4Addr::new(
            127,
            rng.gen_range(2..250),
            rng.gen_range(0..250),
            rng.gen_range(2..250),
        );
        let web_port = {
            let probe = std::net::TcpListener::bind((phone_ip, 0)).unwrap();
            probe.local_addr().unwrap().port()
        };
        let phone = Phone::spawn(PhoneSpec {
            bench: "recovery-test".to_owned(),
            model: Model::T46G,
            mac: MAC,
            ip: phone_ip,
            web_port,
            time_scale: TIME_SCALE,
            dhcp_provisioning_url: Some(format!("http://{http}/")),
            initial_firmware: firmware,
            tftp_server: Some(tftp),
            dhcp_interface: None,
            usb_image: Some(stick.clone()),
        })
        .unwrap();

        // The first boot's MAC file moves the phone to another provisioning URL and sets a
        // password: a factory reset brings it back to the DHCP URL.
        answers.lock().unwrap().insert(
            format!("/{MAC_HEX}.cfg"),
            format!(
                "#!version:1.0.0.1\nstatic.auto_provision.server.url = http://{http}{CUSTOM_PATH}\nstatic.auto_provision.dhcp_option.enable = 0\n\
                 static.security.user_password = admin:s3cret\n\
                 static.syslog.enable = 1\nstatic.syslog.server = 127.0.0.1\nstatic.syslog.server_port = {syslog_port}\n"
            )
            .into_bytes(),
        );
        Lab {
            http,
            answers,
            http_seen,
            tftp,
            tftp_files,
            tftp_seen,
            dir,
            phone_ip,
            phone,
            stick,
            syslog,
        }
    }

    /// Puts the package on the TFTP server.
    pub fn stage_tftp(&self, files: &[(String, Vec<u8>)]) {
        let mut staged = self.tftp_files.lock().unwrap();
        for (name, bytes) in files {
            staged.insert(name.clone(), TftpAnswer::File(bytes.clone()));
        }
    }

    /// Writes the stick image into the phone's USB slot.
    pub fn insert_stick(&self, bytes: &[u8]) {
        std::fs::write(&self.stick, bytes).unwrap();
    }

    pub async fn next_http(&mut self) -> Http {
        tokio::time::timeout(WAIT, self.http_seen.recv())
            .await
            .expect("the phone made an HTTP request in time")
            .expect("server running")
    }

    /// The TFTP requests seen so far.
    pub fn tftp_requests(&mut self) -> Vec<Rrq> {
        let mut seen = Vec::new();
        while let Ok(rrq) = self.tftp_seen.try_recv() {
            seen.push(rrq);
        }
        seen
    }

    /// First boot without keys: provisioning from the DHCP URL moves the phone to
    /// `CUSTOM_PATH`. Ends with the power off, once syslog says the settings are applied.
    pub async fn provision_then_power_off(&mut self) {
        self.phone.set_power(true);
        loop {
            let http = self.next_http().await;
            assert_eq!(http.from, self.phone_ip);
            if http.path == format!("/{MAC_HEX}.cfg") {
                break;
            }
        }
        let mut buf = vec![0u8; 2048];
        tokio::time::timeout(WAIT, async {
            loop {
                let (n, _) = self.syslog.recv_from(&mut buf).await.unwrap();
                if String::from_utf8_lossy(&buf[..n]).contains("provisioning: done") {
                    break;
                }
            }
        })
        .await
        .expect("syslog says provisioning is done");
        self.phone.set_power(false);
    }

    /// Speaker held while the power is applied, then `key` tapped until `done` says the
    /// phone acted on it (keys are ignored until the bootloader shows its menu).
    pub async fn power_on_with_speaker_then_tap(
        &mut self,
        key: Key,
        mut done: impl FnMut(&mut Lab) -> bool,
    ) {
        self.phone.set_key(Key::Speaker, true);
        self.phone.set_power(true);
        self.phone.set_key(Key::Speaker, false);
        tokio::time::timeout(WAIT, async {
            while !done(self) {
                self.phone.set_key(key, true);
                self.phone.set_key(key, false);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the phone acted on the key in time");
    }

    /// Taps `key` after a speaker-held power-on until the phone makes its first HTTP request,
    /// and returns it.
    pub async fn tap_until_http(&mut self, key: Key) -> Http {
        let mut first = None;
        self.power_on_with_speaker_then_tap(key, |lab| {
            if let Ok(http) = lab.http_seen.try_recv() {
                first = Some(http);
            }
            first.is_some()
        })
        .await;
        first.unwrap()
    }
}

/// The User-Agent of this phone running `version`.
pub fn user_agent(version: &str) -> String {
    format!("Yealink SIP-T46G {version} 00:15:65:4a:a9:46")
}

/// The phone recovered: factory settings (the DHCP URL, not the provisioned one) and the
/// package's version.
pub fn assert_recovered(first: &Http) {
    assert_eq!(
        first.path,
        format!("/{MAC_HEX}.boot"),
        "fetch from the DHCP URL"
    );
    assert_eq!(first.user_agent, user_agent(NEW));
}

/// The phone did not flash: its provisioned URL and its old version.
pub fn assert_untouched(first: &Http) {
    assert_eq!(
        first.path,
        format!("{CUSTOM_PATH}{MAC_HEX}.boot"),
        "fetch from the provisioned URL"
    );
    assert_eq!(first.user_agent, user_agent(OLD));
}
