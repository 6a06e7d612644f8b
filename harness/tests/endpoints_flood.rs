//! The recovery TFTP server under a flood, over real UDP: requests with the largest
//! `timeout` a client may ask, more reads at once than the server runs, writes, and clients
//! that vanish mid-transfer. The server must answer every one (a transfer or a TFTP
//! ERROR), hold a bounded number of file descriptors, release what abandoned transfers
//! held, and keep serving a phone.
//!
//! The tests of this file count the descriptors of the whole test process, so they run one
//! at a time (`ONE_AT_A_TIME`).

mod endpoints_support;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use endpoints_support::*;
use harness::endpoints::tftp::{MAX_TRANSFERS, MAX_TRANSFERS_PER_CLIENT};
use harness::endpoints::{EndpointEvent, Endpoints, TaggedEvent, TftpRequest};
use harness::lab::Model;
use tokio::sync::broadcast;

/// Only bounds a wait for a datagram that would otherwise hang a broken test.
const RECV_GIVE_UP: Duration = Duration::from_secs(3);

/// Only bounds a wait for abandoned transfers to be dropped (at most
/// `(MAX_SEND_RETRIES + 1) * timeout`, 6 s with the default timeout).
const RELEASE_GIVE_UP: Duration = Duration::from_secs(30);

/// Descriptors the process may open besides the server's transfers while a test runs
/// (the runtime's, a log line's, a staged file being copied).
const SLACK_FDS: usize = 16;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Every log line of the process, kept for the assertions on what the server logged.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter("harness=debug")
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .init();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_with(needle: &str) -> Vec<String> {
    let log = log();
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    text.lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

fn request(opcode: u16, fields: &[&str]) -> Vec<u8> {
    let mut bytes = opcode.to_be_bytes().to_vec();
    for field in fields {
        bytes.extend_from_slice(field.as_bytes());
        bytes.push(0);
    }
    bytes
}

fn ack(block: u16) -> Vec<u8> {
    let mut bytes = 4u16.to_be_bytes().to_vec();
    bytes.extend_from_slice(&block.to_be_bytes());
    bytes
}

/// The first answer to a request: a transfer's first packet, or an ERROR.
#[derive(Debug, PartialEq)]
enum First {
    /// DATA or OACK, from the transfer's own port.
    Transfer(SocketAddr),
    /// ERROR code and message.
    Error(u16, String),
}

fn first_answer(socket: &UdpSocket) -> First {
    socket.set_read_timeout(Some(RECV_GIVE_UP)).unwrap();
    let mut buffer = [0u8; 2048];
    let (len, from) = socket
        .recv_from(&mut buffer)
        .expect("the server did not answer");
    match u16::from_be_bytes([buffer[0], buffer[1]]) {
        3 | 6 => First::Transfer(from),
        5 => First::Error(
            u16::from_be_bytes([buffer[2], buffer[3]]),
            String::from_utf8_lossy(buffer[4..len].split(|&b| b == 0).next().unwrap()).into_owned(),
        ),
        other => panic!("unexpected opcode {other}"),
    }
}

/// Reads `name` lock-step with 512-byte blocks, as an RFC 1350 bootloader does.
fn read_whole(server: SocketAddr, from: Ipv4Addr, name: &str) -> Result<Vec<u8>, First> {
    let socket = UdpSocket::bind((from, 0)).unwrap();
    socket.set_read_timeout(Some(RECV_GIVE_UP)).unwrap();
    socket
        .send_to(&request(1, &[name, "octet"]), server)
        .unwrap();
    let mut data = Vec::new();
    let mut buffer = [0u8; 2048];
    loop {
        let (len, source) = socket.recv_from(&mut buffer).expect("server went silent");
        match u16::from_be_bytes([buffer[0], buffer[1]]) {
            3 => {
                let block = u16::from_be_bytes([buffer[2], buffer[3]]);
                data.extend_from_slice(&buffer[4..len]);
                socket.send_to(&ack(block), source).unwrap();
                if len - 4 < 512 {
                    return Ok(data);
                }
            }
            5 => {
                return Err(First::Error(
                    u16::from_be_bytes([buffer[2], buffer[3]]),
                    String::from_utf8_lossy(&buffer[4..len - 1]).into_owned(),
                ));
            }
            other => panic!("unexpected opcode {other}"),
        }
    }
}

fn random_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let data: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// Ten benches on `subnet`, hosts 46 to 55, each with a 100 kB recovery file staged.
async fn ten_staged_benches(subnet: &Subnet, sources: &Path) -> (Endpoints, Vec<Ipv4Addr>) {
    let ips: Vec<Ipv4Addr> = (46..56).map(|host| subnet.ip(host)).collect();
    let benches = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            bench(
                &format!("t46g-{i}"),
                Model::T46G,
                &format!("00:15:65:00:01:{i:02x}"),
                *ip,
            )
        })
        .collect();
    let endpoints = start(&lab(benches)).await;
    let rom = random_file(sources, "image.rom", 100_000);
    for i in 0..ips.len() {
        endpoints
            .stage_recovery(&format!("t46g-{i}"), &[("T46G.rom".into(), rom.clone())])
            .unwrap();
    }
    (endpoints, ips)
}

/// Every event on the bus right now.
fn drain(events: &mut broadcast::Receiver<TaggedEvent>) -> Vec<TaggedEvent> {
    let mut seen = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) => seen.push(event),
            Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => return seen,
        }
    }
}

/// Waits (bounded) until the process holds at most `limit` descriptors.
fn wait_for_fds_at_most(limit: usize) -> usize {
    let deadline = Instant::now() + RELEASE_GIVE_UP;
    loop {
        let now = open_fds();
        if now <= limit || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_long_timeouts_and_of_reads_stays_bounded_and_a_phone_is_still_served() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let subnet = Subnet::random();
    let sources = tempfile::tempdir().unwrap();
    let (endpoints, ips) = ten_staged_benches(&subnet, sources.path()).await;
    let mut events = endpoints.bus.subscribe();
    let server = endpoints.addrs.tftp;
    let expected = std::fs::read(sources.path().join("image.rom")).unwrap();
    // Warm up: the first read creates what the runtime keeps for later ones.
    assert_eq!(
        read_whole(server, ips[0], "T46G.rom").expect("served"),
        expected
    );
    let baseline = open_fds();

    // 1. Two hundred reads asking `timeout 255` (each held a file and a socket for
    //    9 x 255 s before): every one refused with error 8, nothing held.
    let phone = ips[0];
    let long_timeouts = tokio::task::spawn_blocking(move || {
        let sockets: Vec<UdpSocket> = (0..200)
            .map(|_| UdpSocket::bind((phone, 0)).unwrap())
            .collect();
        for socket in &sockets {
            let rrq = request(1, &["T46G.rom", "octet", "timeout", "255", "tsize", "0"]);
            socket.send_to(&rrq, server).unwrap();
        }
        let answers: Vec<First> = sockets.iter().map(first_answer).collect();
        (answers, open_fds() - sockets.len())
    })
    .await
    .unwrap();
    let (answers, fds_during) = long_timeouts;
    for answer in &answers {
        match answer {
            First::Error(8, message) => assert!(message.contains("timeout"), "{message}"),
            other => panic!("a timeout of 255 s was not refused: {other:?}"),
        }
    }
    assert!(
        fds_during <= baseline + SLACK_FDS,
        "{fds_during} descriptors open while refusing long timeouts, {baseline} before"
    );

    // 2. Eight reads from each of ten benches, none ever acknowledged: at most
    //    MAX_TRANSFERS run, at most MAX_TRANSFERS_PER_CLIENT per address, the others are
    //    refused at once with a TFTP error.
    let flooded = tokio::task::spawn_blocking(move || {
        let sockets: Vec<(Ipv4Addr, UdpSocket)> = ips
            .iter()
            .flat_map(|ip| (0..8).map(move |_| (*ip, UdpSocket::bind((*ip, 0)).unwrap())))
            .collect();
        for (_, socket) in &sockets {
            socket
                .send_to(&request(1, &["T46G.rom", "octet"]), server)
                .unwrap();
        }
        let answers: Vec<(Ipv4Addr, First)> = sockets
            .iter()
            .map(|(ip, socket)| (*ip, first_answer(socket)))
            .collect();
        let server_fds = open_fds() - sockets.len();
        (answers, server_fds, sockets)
    })
    .await
    .unwrap();
    let (answers, fds_held, flood_sockets) = flooded;
    let started: Vec<Ipv4Addr> = answers
        .iter()
        .filter(|(_, first)| matches!(first, First::Transfer(_)))
        .map(|(ip, _)| *ip)
        .collect();
    assert_eq!(started.len(), MAX_TRANSFERS, "{answers:?}");
    for ip in &started {
        let of_ip = started.iter().filter(|other| *other == ip).count();
        assert!(
            of_ip <= MAX_TRANSFERS_PER_CLIENT,
            "{of_ip} transfers for {ip}"
        );
    }
    for (ip, first) in &answers {
        if let First::Error(code, message) = first {
            assert_eq!(*code, 0, "{ip}: {message}");
            assert!(message.contains("busy"), "{ip}: {message}");
        }
    }
    // Each running transfer holds one file and one socket; nothing else piles up.
    assert!(
        fds_held <= baseline + 2 * MAX_TRANSFERS + SLACK_FDS,
        "{fds_held} descriptors with {MAX_TRANSFERS} transfers held, {baseline} before"
    );

    // 3. A phone asking now is answered (busy while every slot is taken; served if the
    //    abandoned transfers were already dropped), and served once they are.
    let now = tokio::task::spawn_blocking(move || read_whole(server, phone, "T46G.rom"))
        .await
        .unwrap();
    match &now {
        Err(First::Error(0, message)) => assert!(message.contains("busy"), "{message}"),
        Ok(data) => assert_eq!(*data, expected),
        other => panic!("{other:?}"),
    }
    drop(flood_sockets);
    let after = wait_for_fds_at_most(baseline + 2);
    assert!(
        after <= baseline + 2,
        "abandoned transfers still hold descriptors: {after} open, {baseline} before"
    );
    let served = tokio::task::spawn_blocking(move || read_whole(server, phone, "T46G.rom"))
        .await
        .unwrap()
        .expect("served after the flood");
    assert_eq!(served, expected);

    // A bench refused for want of a slot is told it is the lab's fault, not the phone's.
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(|e| matches!(
            &e.event,
            EndpointEvent::LabFault { server: "TFTP recovery server", why, .. } if why.contains("busy")
        ) && e.bench.is_some()),
        "no lab-fault event for a bench refused as busy"
    );
    // Abandoned transfers are reported aborted.
    assert!(seen.iter().any(|e| matches!(
        &e.event,
        EndpointEvent::Tftp { error: Some(error), .. } if error == "transfer aborted"
    )));
    endpoints.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_request_is_refused_and_reported_as_a_write() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let log = log();
    let subnet = Subnet::random();
    let phone = subnet.ip(46);
    let endpoints = start(&lab(vec![bench(
        "t46g",
        Model::T46G,
        "00:15:65:00:00:46",
        phone,
    )]))
    .await;
    let mut events = endpoints.bus.subscribe();
    let server = endpoints.addrs.tftp;
    let name = format!("upload-{}.bin", rand::random::<u32>());
    let wrq = request(2, &[&name, "octet", "tsize", "1000"]);
    let answer = tokio::task::spawn_blocking(move || {
        let socket = UdpSocket::bind((phone, 0)).unwrap();
        socket.send_to(&wrq, server).unwrap();
        first_answer(&socket)
    })
    .await
    .unwrap();
    assert_eq!(answer, First::Error(2, "Permission denied".into()));

    let event = next_event(&mut events).await;
    match &event.event {
        EndpointEvent::Tftp {
            request,
            file,
            error,
            ..
        } => {
            assert_eq!(*request, TftpRequest::Write);
            assert_eq!(file, &name);
            assert_eq!(error.as_deref(), Some("Permission denied"));
        }
        other => panic!("expected a TFTP event, got {other:?}"),
    }
    let lines = log_lines_with(&name);
    assert!(
        lines.iter().any(|l| l.contains("write request refused")),
        "{lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("read request") || l.contains("TFTP read ")),
        "a write logged as a read: {lines:?}"
    );
    drop(log);
    endpoints.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_ends_its_transfer_and_releases_its_file_and_socket() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let subnet = Subnet::random();
    let phone = subnet.ip(46);
    let endpoints = start(&lab(vec![bench(
        "t46g",
        Model::T46G,
        "00:15:65:00:00:46",
        phone,
    )]))
    .await;
    let sources = tempfile::tempdir().unwrap();
    let rom = random_file(sources.path(), "image.rom", 100_000);
    endpoints
        .stage_recovery("t46g", &[("T46G.rom".into(), rom)])
        .unwrap();
    let mut events = endpoints.bus.subscribe();
    let server = endpoints.addrs.tftp;
    let client = UdpSocket::bind((phone, 0)).unwrap();
    let baseline = open_fds();

    // The client asks the longest timeout granted, takes one block, then gives up with
    // an ERROR: the server must not wait out its retransmissions (6 x 5 s).
    let rrq = request(1, &["T46G.rom", "octet", "timeout", "5"]);
    client.send_to(&rrq, server).unwrap();
    let transfer = match first_answer(&client) {
        First::Transfer(port) => port,
        other => panic!("not served: {other:?}"),
    };
    assert!(
        open_fds() >= baseline + 2,
        "the transfer holds a file and a socket"
    );
    let mut error = vec![0, 5, 0, 0];
    error.extend_from_slice(b"cancelled by the operator\0");
    client.send_to(&error, transfer).unwrap();

    let event = loop {
        let event = next_event(&mut events).await;
        if matches!(event.event, EndpointEvent::Tftp { .. }) {
            break event;
        }
    };
    match &event.event {
        EndpointEvent::Tftp { error, .. } => assert_eq!(
            error.as_deref(),
            Some("transfer aborted: client error 0 cancelled by the operator")
        ),
        _ => unreachable!(),
    }
    let after = wait_for_fds_at_most(baseline);
    assert!(
        after <= baseline,
        "{after} descriptors open, {baseline} before"
    );
    endpoints.shutdown().await;
}
