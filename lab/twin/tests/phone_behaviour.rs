//! A twin phone driven only through its physical events (power, link, keys) and observed
//! only on the wire: a provisioning HTTP server, a UDP registrar and a syslog collector of
//! the test's own, and the phone's web login. Each rule of BEHAVIOUR.md has a test here.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes::Aes128;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use rand::{Rng, RngCore};
use rsa::{BigUint, Pkcs1v15Encrypt, RsaPublicKey};
use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use yealink_twin::phone::{Key, Model, Phone, PhoneSpec};

const MAC: [u8; 6] = [0x00, 0x15, 0x65, 0x4a, 0xa9, 0x37];
const MAC_HEX: &str = "0015654aa937";
const TIME_SCALE: f64 = 0.002;
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- firmware images

/// A `.rom` in the fixture layout (firmware-fixtures/FORMAT.md), written independently of
/// the phone's parser.
fn rom(model: &str, version: &str, build_date: &str, features: &str) -> Vec<u8> {
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
    let declaration = format!(
        "model = {model}\nversion = {version}\nbuild_date = {build_date}\nintermedia = true\nfeatures = {features}\n"
    );
    out.extend(block(1, declaration.as_bytes()));
    out.extend(block(2, &[0x5A; 256]));
    let sum = Sha256::digest(&out);
    out.extend(block(255, &sum));
    out
}

const CURRENT: &str = "28.83.0.120";
const NEWER: &str = "28.86.0.5";

fn current_rom() -> Vec<u8> {
    rom("T46G", CURRENT, "2021-03-01", "autop-reset")
}

// ---------------------------------------------------------------- what the wire saw

#[derive(Debug, Clone)]
enum Seen {
    Http {
        from: Ipv4Addr,
        path: String,
        user_agent: String,
    },
    Register {
        from: SocketAddr,
        text: String,
    },
    Syslog {
        from: Ipv4Addr,
        line: String,
    },
}

impl Seen {
    fn path(&self) -> Option<&str> {
        match self {
            Seen::Http { path, .. } => Some(path),
            _ => None,
        }
    }
}

type Answers = Arc<Mutex<HashMap<String, (u16, Vec<u8>)>>>;

/// The test's lab: provisioning server, registrar and syslog collector on 127.0.0.1.
struct Lab {
    http: SocketAddr,
    answers: Answers,
    registrar: SocketAddr,
    register_status: Arc<Mutex<u16>>,
    syslog: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    _dir: tempfile::TempDir,
    firmware: PathBuf,
}

impl Lab {
    async fn new(initial_rom: Vec<u8>) -> Lab {
        let (tx, seen) = mpsc::unbounded_channel();
        let answers: Answers = Arc::default();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(provisioning)
            .with_state((Arc::clone(&answers), tx.clone()));
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });

        let register_status = Arc::new(Mutex::new(200));
        let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let registrar = sip.local_addr().unwrap();
        tokio::spawn(registrar_loop(
            sip,
            Arc::clone(&register_status),
            tx.clone(),
        ));

        let syslog_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let syslog = syslog_socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, from)) = syslog_socket.recv_from(&mut buf).await {
                let SocketAddr::V4(from) = from else { continue };
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                let _ = tx.send(Seen::Syslog {
                    from: *from.ip(),
                    line,
                });
            }
        });

        let dir = tempfile::tempdir().unwrap();
        let firmware = dir.path().join("initial.rom");
        std::fs::write(&firmware, initial_rom).unwrap();
        Lab {
            http,
            answers,
            registrar,
            register_status,
            syslog,
            seen,
            _dir: dir,
            firmware,
        }
    }

    fn serve(&self, path: &str, status: u16, body: impl Into<Vec<u8>>) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, body.into()));
    }

    fn set_register_status(&self, status: u16) {
        *self.register_status.lock().unwrap() = status;
    }

    /// A config file with the account and syslog pointed at this lab.
    fn account_cfg(&self, extra: &str) -> String {
        format!(
            "#!version:1.0.0.1\naccount.1.enable = 1\naccount.1.user_name = 1001\n\
             account.1.sip_server.1.address = 127.0.0.1\naccount.1.sip_server.1.port = {}\n\
             static.syslog.enable = 1\nstatic.syslog.server = 127.0.0.1\nstatic.syslog.server_port = {}\n{extra}",
            self.registrar.port(),
            self.syslog.port()
        )
    }

    fn phone(&self) -> (Phone, PhoneSpec) {
        let mut rng = rand::thread_rng();
        // A random 127.x.y.z per test, so tests never share the phone's 5060 or web port.
        let ip = Ipv4Addr::new(
            127,
            rng.gen_range(2..250),
            rng.gen_range(0..250),
            rng.gen_range(2..250),
        );
        let web_port = {
            let probe = std::net::TcpListener::bind((ip, 0)).unwrap();
            probe.local_addr().unwrap().port()
        };
        let spec = PhoneSpec {
            bench: "test".to_owned(),
            model: Model::T46G,
            mac: MAC,
            ip,
            web_port,
            time_scale: TIME_SCALE,
            dhcp_provisioning_url: Some(format!("http://{}/", self.http)),
            initial_firmware: self.firmware.clone(),
            tftp_server: None,
            dhcp_interface: None,
            usb_image: None,
        };
        (Phone::spawn(spec.clone()).unwrap(), spec)
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("the phone did something on the wire in time")
            .expect("lab running")
    }

    /// Everything seen up to and including the first event matching `until`.
    async fn until(&mut self, until: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await;
            let done = until(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

async fn provisioning(
    State((answers, tx)): State<(Answers, mpsc::UnboundedSender<Seen>)>,
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
    let _ = tx.send(Seen::Http {
        from: *client.ip(),
        path: path.clone(),
        user_agent,
    });
    let answer = answers.lock().unwrap().get(&path).cloned();
    match answer {
        Some((status, body)) => (StatusCode::from_u16(status).unwrap(), body),
        None => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

async fn registrar_loop(
    socket: UdpSocket,
    status: Arc<Mutex<u16>>,
    tx: mpsc::UnboundedSender<Seen>,
) {
    let mut buf = vec![0u8; 8192];
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let header = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or("")
                .to_owned()
        };
        let code = *status.lock().unwrap();
        let reason = if code == 200 { "OK" } else { "Forbidden" };
        let answer = format!(
            "SIP/2.0 {code} {reason}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg\r\nCall-ID: {}\r\nCSeq: {}\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
            header("Via"),
            header("From"),
            header("To"),
            header("Call-ID"),
            header("CSeq"),
        );
        let _ = tx.send(Seen::Register { from, text });
        let _ = socket.send_to(answer.as_bytes(), from).await;
    }
}

fn is_register(seen: &Seen) -> bool {
    matches!(seen, Seen::Register { .. })
}

fn syslog_has(text: &str) -> impl Fn(&Seen) -> bool + '_ {
    move |seen| matches!(seen, Seen::Syslog { line, .. } if line.contains(text))
}

fn paths(seen: &[Seen]) -> Vec<&str> {
    seen.iter().filter_map(Seen::path).collect()
}

fn boot_paths(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}{MAC_HEX}.boot"),
        format!("{prefix}y000000000000.boot"),
        format!("{prefix}y000000000028.cfg"),
        format!("{prefix}{MAC_HEX}.cfg"),
    ]
}

async fn screen_shows(phone: &Phone, text: &str) {
    tokio::time::timeout(WAIT, async {
        while !phone.screen().contains(text) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("screen shows {text:?}; it shows {:?}", phone.screen()));
}

fn dial(phone: &Phone, digits: &str) {
    for c in digits.chars() {
        let key = match c {
            '*' => Key::Star,
            '#' => Key::Pound,
            d => Key::Digit(d.to_digit(10).unwrap() as u8),
        };
        phone.set_key(key, true);
        phone.set_key(key, false);
    }
}

fn tap(phone: &Phone, key: Key) {
    phone.set_key(key, true);
    phone.set_key(key, false);
}

// ---------------------------------------------------------------- web login client

/// The servlet login as public phone-management clients perform it; `true` when accepted.
async fn web_login(spec: &PhoneSpec, password: &str) -> bool {
    let base = format!("http://{}:{}", spec.ip, spec.web_port);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = http
        .get(format!(
            "{base}/servlet?m=mod_listener&p=login&q=loginForm&jumpto=status"
        ))
        .send()
        .await
        .expect("the web UI answers");
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie
        .split(';')
        .next()
        .and_then(|c| c.trim().strip_prefix("JSESSIONID="))
        .unwrap()
        .to_owned();
    let page = page.text().await.unwrap();
    let var = |name: &str| {
        let marker = format!("var {name} = \"");
        let start = page.find(&marker).unwrap() + marker.len();
        let len = page[start..].find('"').unwrap();
        page[start..start + len].to_owned()
    };
    let key = RsaPublicKey::new(
        BigUint::parse_bytes(var("g_rsa_n").as_bytes(), 16).unwrap(),
        BigUint::parse_bytes(var("g_rsa_e").as_bytes(), 16).unwrap(),
    )
    .unwrap();
    let mut rng = rand::thread_rng();
    let (mut aes_key, mut aes_iv) = ([0u8; 16], [0u8; 16]);
    rng.fill_bytes(&mut aes_key);
    rng.fill_bytes(&mut aes_iv);
    let mut wrap = |bytes: &[u8; 16]| {
        let sealed = key
            .encrypt(&mut rng, Pkcs1v15Encrypt, hex::encode(bytes).as_bytes())
            .unwrap();
        format!("{:0>256}", hex::encode(sealed))
    };
    let (rsakey, rsaiv) = (wrap(&aes_key), wrap(&aes_iv));
    let mut text = format!(
        "{};{session};{password}",
        rand::thread_rng().gen_range(100_000_000..999_999_999u32)
    )
    .into_bytes();
    while text.len() % 16 != 0 {
        text.push(0);
    }
    let len = text.len();
    cbc::Encryptor::<Aes128>::new(&aes_key.into(), &aes_iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut text, len)
        .unwrap();
    let pwd = base64::engine::general_purpose::STANDARD.encode(&text);
    let answer = http
        .post(format!(
            "{base}/servlet?m=mod_listener&p=login&q=login&Rajax=0.5"
        ))
        .header("cookie", format!("JSESSIONID={session}"))
        .form(&[
            ("username", "admin"),
            ("pwd", pwd.as_str()),
            ("rsakey", &rsakey),
            ("rsaiv", &rsaiv),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    answer.contains("\"authstatus\":\"done\"")
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn power_on_fetches_the_four_files_in_public_order_with_the_user_agent() {
    let mut lab = Lab::new(current_rom()).await;
    let (phone, spec) = lab.phone();
    phone.set_power(true);
    let seen = lab
        .until(|s| s.path() == Some(&format!("/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(paths(&seen), boot_paths("/"));
    for event in &seen {
        let Seen::Http {
            from, user_agent, ..
        } = event
        else {
            panic!("only HTTP: {event:?}")
        };
        assert_eq!(
            *from, spec.ip,
            "every request leaves from the phone's own address"
        );
        assert_eq!(
            user_agent,
            &format!("Yealink SIP-T46G {CURRENT} 00:15:65:4a:a9:37")
        );
    }
    screen_shows(&phone, "No Service").await;
    phone.shutdown();
}

#[tokio::test]
async fn a_phone_on_an_x80_train_asks_for_no_boot_file() {
    let mut lab = Lab::new(rom("T46G", "28.80.0.70", "2017-09-20", "")).await;
    // A boot file is there to be asked for: a train-80 phone does not know them (P2).
    lab.serve(
        &format!("/{MAC_HEX}.boot"),
        200,
        "#!version:1.0.0.1\ninclude:config \"site.cfg\"\n",
    );
    let (phone, _) = lab.phone();
    phone.set_power(true);
    let seen = lab
        .until(|s| s.path() == Some(&format!("/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(
        paths(&seen),
        vec!["/y000000000028.cfg", format!("/{MAC_HEX}.cfg").as_str()]
    );
    phone.shutdown();
}

#[tokio::test]
async fn a_boot_file_includes_replace_the_common_and_mac_cfg() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve(
        &format!("/{MAC_HEX}.boot"),
        200,
        "#!version:1.0.0.1\ninclude:config \"site.cfg\"\ninclude:config \"phone.cfg\"\n",
    );
    lab.serve("/phone.cfg", 200, lab.account_cfg(""));
    let (phone, _) = lab.phone();
    phone.set_power(true);
    let seen = lab.until(is_register).await;
    assert_eq!(
        paths(&seen),
        vec![
            format!("/{MAC_HEX}.boot").as_str(),
            "/site.cfg",
            "/phone.cfg"
        ]
    );
    phone.shutdown();
}

#[tokio::test]
async fn a_provisioned_account_registers_after_syslog_says_provisioning_is_done() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve("/y000000000028.cfg", 200, lab.account_cfg(""));
    let (phone, spec) = lab.phone();
    phone.set_power(true);
    let seen = lab.until(is_register).await;
    let done = seen
        .iter()
        .position(syslog_has("provisioning: done, 1 files applied"))
        .expect("provisioning milestone logged");
    assert_eq!(done, seen.len() - 2, "logged right before the REGISTER");
    let Seen::Syslog { from, line } = &seen[done] else {
        unreachable!()
    };
    assert_eq!(*from, spec.ip);
    assert!(line.starts_with("<134>"), "local0.info: {line}");
    let Some(Seen::Register { from, text }) = seen.last() else {
        unreachable!()
    };
    assert_eq!(*from, SocketAddr::from((spec.ip, 5060)));
    let ip = spec.ip;
    assert!(text.starts_with(&format!(
        "REGISTER sip:127.0.0.1:{} SIP/2.0\r\n",
        lab.registrar.port()
    )));
    for needle in [
        format!("Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK"),
        "Max-Forwards: 70\r\n".to_owned(),
        format!("Contact: <sip:1001@{ip}:5060>\r\n"),
        "CSeq: 1 REGISTER\r\n".to_owned(),
        "Expires: 3600\r\n".to_owned(),
        // R1: the REGISTER's User-Agent carries no MAC, unlike the HTTP one (P4).
        format!("User-Agent: Yealink SIP-T46G {CURRENT}\r\n"),
        "Content-Length: 0\r\n\r\n".to_owned(),
    ] {
        assert!(text.contains(&needle), "REGISTER has {needle:?}:\n{text}");
    }
    assert!(text.contains(";tag=") && text.contains("Call-ID: "));
    lab.until(syslog_has("register: 1001 registered, expires 3600"))
        .await;
    screen_shows(&phone, "Registered").await;
    phone.shutdown();
}

#[tokio::test]
async fn a_newer_firmware_is_flashed_then_the_phone_boots_it_and_skips_it_next_time() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve(
        "/y000000000028.cfg",
        200,
        lab.account_cfg(&format!(
            "static.firmware.url = http://{}/fw/T46-28.86.0.5.rom\n",
            lab.http
        )),
    );
    lab.serve(
        "/fw/T46-28.86.0.5.rom",
        200,
        rom("T46G", NEWER, "2022-01-10", "autop-reset"),
    );
    let (phone, _) = lab.phone();
    phone.set_power(true);
    let seen = lab.until(is_register).await;
    let http = paths(&seen);
    let mut expected = boot_paths("/");
    expected.push("/fw/T46-28.86.0.5.rom".to_owned());
    expected.extend(boot_paths("/"));
    expected.push("/fw/T46-28.86.0.5.rom".to_owned());
    assert_eq!(
        http, expected,
        "flash, reboot, provision again, same version skipped"
    );
    let agents: Vec<&str> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Http { user_agent, .. } => Some(user_agent.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        agents[4].contains(CURRENT) && agents[5].contains(NEWER),
        "{agents:?}"
    );
    assert!(seen.iter().any(syslog_has("firmware: flashing 28.86.0.5")));
    let Some(Seen::Register { text, .. }) = seen.last() else {
        unreachable!()
    };
    assert!(text.contains(NEWER));
    phone.shutdown();
}

#[tokio::test]
async fn a_corrupt_or_foreign_image_keeps_the_running_firmware() {
    for image in [
        {
            let mut bad = rom("T46G", NEWER, "2022-01-10", "");
            let at = bad.len() - 40;
            bad[at] ^= 0xFF; // a payload byte: the checksum no longer matches
            bad
        },
        rom("T48G", NEWER, "2022-01-10", ""),
    ] {
        let mut lab = Lab::new(current_rom()).await;
        lab.serve(
            "/y000000000028.cfg",
            200,
            lab.account_cfg(&format!("firmware.url = http://{}/fw.rom\n", lab.http)),
        );
        lab.serve("/fw.rom", 200, image);
        let (phone, _) = lab.phone();
        phone.set_power(true);
        let seen = lab.until(is_register).await;
        assert_eq!(paths(&seen).len(), 5, "no reboot: {:?}", paths(&seen));
        assert!(seen.iter().any(syslog_has(&format!(
            "firmware: image rejected, keeping {CURRENT}"
        ))));
        let Some(Seen::Register { text, .. }) = seen.last() else {
            unreachable!()
        };
        assert!(text.contains(CURRENT));
        phone.shutdown();
    }
}

#[tokio::test]
async fn refused_registration_then_autop_calls_home_and_resets_the_web_password() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve(
        "/y000000000028.cfg",
        200,
        lab.account_cfg("static.security.user_password = admin:Rnd-8812\n"),
    );
    lab.serve(
        &format!("/autop/{MAC_HEX}.cfg"),
        200,
        "#!version:1.0.0.1\nstatic.security.user_password = admin:admin\n",
    );
    lab.set_register_status(403);
    let (phone, spec) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("register: 1001 refused: 403 Forbidden"))
        .await;
    screen_shows(&phone, "No Service").await;
    assert!(
        !web_login(&spec, "admin").await,
        "the provisioned password is in force"
    );

    dial(&phone, "**7283");
    screen_shows(&phone, "Auto-P now?").await;
    tap(&phone, Key::F4);
    let seen = lab
        .until(syslog_has("autop: call-home done, 1 files applied"))
        .await;
    assert_eq!(paths(&seen), boot_paths("/autop/"));
    assert!(
        !seen.iter().any(is_register),
        "no new REGISTER after the call-home"
    );
    assert!(
        web_login(&spec, "admin").await,
        "admin/admin accepted after the call-home"
    );
    assert!(!phone.screen().contains("failed"), "no visible change");
    phone.shutdown();
}

#[tokio::test]
async fn a_server_refusing_the_call_home_changes_nothing() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve(
        "/y000000000028.cfg",
        200,
        lab.account_cfg("static.security.user_password = admin:Rnd-1\n"),
    );
    lab.set_register_status(403);
    let (phone, spec) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("refused: 403")).await;
    dial(&phone, "**7283");
    tap(&phone, Key::Ok);
    let seen = lab
        .until(syslog_has("autop: call-home done, 0 files applied"))
        .await;
    assert_eq!(paths(&seen), boot_paths("/autop/"));
    assert!(web_login(&spec, "Rnd-1").await);
    phone.shutdown();
}

#[tokio::test]
async fn a_registered_phone_offers_no_autop_popup() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve("/y000000000028.cfg", 200, lab.account_cfg(""));
    let (phone, _) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("registered")).await;
    screen_shows(&phone, "Registered").await;
    dial(&phone, "**7283");
    screen_shows(&phone, "Registered\n**7283").await;
    assert!(!phone.screen().contains("Auto-P"), "{}", phone.screen());
    tap(&phone, Key::F4);
    tap(&phone, Key::Cancel);
    // The cable cycle is the next thing on the wire: a REGISTER, with no call-home before it.
    screen_shows(&phone, "Registered").await;
    phone.set_link(false);
    phone.set_link(true);
    let seen = lab.until(is_register).await;
    assert!(paths(&seen).is_empty(), "{seen:?}");
    phone.shutdown();
}

#[tokio::test]
async fn firmware_without_the_feature_treats_the_code_as_digits() {
    let mut lab = Lab::new(rom("T46G", "28.82.0.10", "2018-11-20", "")).await;
    lab.set_register_status(403);
    lab.serve("/y000000000028.cfg", 200, lab.account_cfg(""));
    let (phone, _) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("refused: 403")).await;
    screen_shows(&phone, "No Service").await;
    dial(&phone, "**7283");
    screen_shows(&phone, "No Service\n**7283").await;
    assert!(!phone.screen().contains("Auto-P"));
    phone.shutdown();
}

#[tokio::test]
async fn autop_without_a_link_fails_with_nothing_on_the_wire() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve("/y000000000028.cfg", 200, lab.account_cfg(""));
    lab.set_register_status(403);
    let (phone, _) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("refused: 403")).await;
    phone.set_link(false);
    screen_shows(&phone, "No Service").await;
    dial(&phone, "**7283");
    screen_shows(&phone, "Auto-P now?").await;
    tap(&phone, Key::F4);
    screen_shows(&phone, "Configuration update failed").await;
    // Cable back: DHCP, then REGISTER again; no provisioning and no call-home happened.
    phone.set_link(true);
    let seen = lab.until(is_register).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    phone.shutdown();
}

#[tokio::test]
async fn settings_survive_a_power_cycle() {
    let mut lab = Lab::new(current_rom()).await;
    let cfg = lab.account_cfg(&format!(
        "static.auto_provision.server.url = http://{}/site\nstatic.auto_provision.dhcp_option.enable = 0\n\
         static.security.user_password = admin:Kept-42\n",
        lab.http
    ));
    lab.serve("/y000000000028.cfg", 200, cfg);
    let (phone, spec) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("provisioning: done")).await;
    phone.set_power(false);
    phone.set_power(true);
    let seen = lab
        .until(|s| s.path() == Some(&format!("/site/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(paths(&seen), boot_paths("/site/"));
    screen_shows(&phone, "No Service").await;
    assert!(web_login(&spec, "Kept-42").await);
    phone.shutdown();
}

/// P1, P9: a URL written by provisioning is in force only while DHCP options are off;
/// otherwise option 66 comes first, and the syslog line before each round names the source.
#[tokio::test]
async fn option_66_comes_before_the_url_in_flash_unless_the_config_turns_dhcp_options_off() {
    let mut lab = Lab::new(current_rom()).await;
    let cfg = lab.account_cfg(&format!(
        "static.auto_provision.server.url = http://{}/site/\n",
        lab.http
    ));
    lab.serve("/y000000000028.cfg", 200, cfg);
    let (phone, _) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("provisioning: done")).await;
    phone.set_power(false);
    // DHCP options still on: the next boot asks option 66's server, not /site/.
    phone.set_power(true);
    let seen = lab
        .until(|s| s.path() == Some(&format!("/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(paths(&seen), boot_paths("/"));
    let source = syslog_has("provisioning: URL from DHCP option 66");
    assert!(seen.iter().any(&source), "{seen:?}");
    lab.until(syslog_has("provisioning: done")).await;
    phone.set_power(false);
    // Now the config turns DHCP options off: the URL in flash is in force.
    let cfg = lab.account_cfg(&format!(
        "static.auto_provision.server.url = http://{}/site/\nstatic.auto_provision.dhcp_option.enable = 0\n",
        lab.http
    ));
    lab.serve("/y000000000028.cfg", 200, cfg);
    phone.set_power(true);
    lab.until(syslog_has("provisioning: done")).await;
    phone.set_power(false);
    phone.set_power(true);
    let seen = lab
        .until(|s| s.path() == Some(&format!("/site/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(paths(&seen), boot_paths("/site/"));
    let source = syslog_has("provisioning: URL from phone flash");
    assert!(seen.iter().any(&source), "{seen:?}");
    phone.shutdown();
}

/// P10: a URL of a protocol the twin does not speak is refused aloud, with no request,
/// and the boot goes on to REGISTER.
#[tokio::test]
async fn a_url_the_twin_cannot_fetch_is_refused_aloud_and_the_boot_goes_on() {
    let mut lab = Lab::new(current_rom()).await;
    let cfg = lab.account_cfg(
        "static.auto_provision.server.url = tftp://127.0.0.1/\n\
         static.auto_provision.dhcp_option.enable = 0\n",
    );
    lab.serve("/y000000000028.cfg", 200, cfg);
    let (phone, _) = lab.phone();
    phone.set_power(true);
    lab.until(is_register).await;
    phone.set_power(false);
    phone.set_power(true);
    let seen = lab.until(is_register).await;
    let refused = syslog_has(
        "provisioning: TFTP URL from phone flash not supported, no round: tftp://127.0.0.1/",
    );
    assert!(seen.iter().any(&refused), "{seen:?}");
    assert!(paths(&seen).is_empty(), "no HTTP request: {seen:?}");
    phone.shutdown();
}

/// Provisions a password and a provisioning URL, then powers on again with the speaker key
/// held.
async fn long_press(build_date: &str) -> (Lab, Phone, PhoneSpec) {
    let mut lab = Lab::new(rom("T46G", CURRENT, build_date, "autop-reset")).await;
    let cfg = lab.account_cfg(&format!(
        "static.auto_provision.server.url = http://{}/site/\nstatic.auto_provision.dhcp_option.enable = 0\n\
         static.security.user_password = admin:Kept-42\n",
        lab.http
    ));
    lab.serve("/y000000000028.cfg", 200, cfg);
    let (phone, spec) = lab.phone();
    phone.set_power(true);
    lab.until(syslog_has("provisioning: done")).await;
    // From now on the lab's root answers nothing: only a reset phone would ask it.
    lab.serve("/y000000000028.cfg", 404, "");
    phone.set_power(false);
    phone.set_key(Key::Speaker, true);
    phone.set_power(true);
    (lab, phone, spec)
}

#[tokio::test]
async fn long_press_on_a_2017_build_factory_resets() {
    let (mut lab, phone, spec) = long_press("2017-09-20").await;
    phone.set_key(Key::Speaker, false);
    // Back on DHCP option 66: the root of the lab server, not /site/.
    let seen = lab
        .until(|s| s.path() == Some(&format!("/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(paths(&seen), boot_paths("/"));
    screen_shows(&phone, "No Service").await;
    assert!(web_login(&spec, "admin").await);
    phone.shutdown();
}

#[tokio::test]
async fn long_press_on_a_2019_build_shows_the_recovery_menu_and_keeps_settings() {
    let (mut lab, phone, spec) = long_press("2019-06-01").await;
    screen_shows(&phone, "Recovery: 1 TFTP / 2 USB").await;
    phone.set_key(Key::Speaker, false);
    tap(&phone, Key::Cancel);
    let seen = lab
        .until(|s| s.path() == Some(&format!("/site/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(paths(&seen), boot_paths("/site/"));
    screen_shows(&phone, "No Service").await;
    assert!(web_login(&spec, "Kept-42").await);
    phone.shutdown();
}

#[tokio::test]
async fn a_cable_pulled_at_power_on_delays_the_boot_until_it_is_back() {
    let mut lab = Lab::new(current_rom()).await;
    lab.serve("/y000000000028.cfg", 200, lab.account_cfg(""));
    let (phone, _) = lab.phone();
    phone.set_link(false);
    phone.set_power(true);
    screen_shows(&phone, "No Service").await;
    phone.set_link(true);
    let seen = lab.until(is_register).await;
    assert_eq!(paths(&seen), boot_paths("/"));
    phone.shutdown();
}

#[tokio::test]
async fn a_cleared_hang_boots_normally_after_a_power_cycle() {
    let mut lab = Lab::new(current_rom()).await;
    let (phone, _) = lab.phone();
    phone.hang_in_boot(true);
    phone.set_power(true);
    screen_shows(&phone, "Booting").await;
    phone.set_power(false);
    phone.hang_in_boot(false);
    phone.set_power(true);
    let seen = lab
        .until(|s| s.path() == Some(&format!("/{MAC_HEX}.cfg")))
        .await;
    assert_eq!(
        paths(&seen),
        boot_paths("/"),
        "one boot's requests, none from the hung one"
    );
    phone.shutdown();
}
