//! The recovery TFTP server over real UDP, read by a client written here (RFC 1350, option
//! negotiation per RFC 2347/2348/2349, windows per RFC 7440) from sockets bound to the
//! benches' addresses.

mod endpoints_support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use endpoints_support::*;
use harness::endpoints::{EndpointEvent, Endpoints, TaggedEvent, TftpRequest};
use harness::lab::Model;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

/// Only bounds a wait for a datagram that would otherwise hang a broken test.
const RECV_GIVE_UP: Duration = Duration::from_secs(3);

/// How the test client reads one file.
#[derive(Clone, Default)]
struct Ask {
    /// Options sent in the RRQ, in order.
    options: Vec<(&'static str, String)>,
    /// After this block arrives (before it is acknowledged), report on `paused` and wait
    /// for `resume`: keeps the transfer open while the test does other things.
    pause_after_block: Option<u16>,
}

/// What the test client got: the file, or the server's TFTP error.
#[derive(Debug)]
struct Got {
    data: Vec<u8>,
    /// Options of the OACK (empty when the server answered with data).
    oack: Vec<(String, String)>,
}

#[derive(Debug, PartialEq)]
struct TftpError {
    code: u16,
    message: String,
}

fn packet(opcode: u16, fields: &[&str]) -> Vec<u8> {
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

fn error_of(datagram: &[u8]) -> Option<TftpError> {
    (datagram.len() >= 4 && datagram[..2] == [0, 5]).then(|| TftpError {
        code: u16::from_be_bytes([datagram[2], datagram[3]]),
        message: String::from_utf8_lossy(datagram[4..].split(|&b| b == 0).next().unwrap())
            .into_owned(),
    })
}

/// Reads `name` from `server` as the phone at `from`. Lock-step unless the server grants a
/// `windowsize`; one ACK per window, and after a gap one ACK of the last block held.
fn read_file(
    server: SocketAddr,
    from: Ipv4Addr,
    name: &str,
    ask: &Ask,
    pause: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
) -> Result<Got, TftpError> {
    let socket = UdpSocket::bind((from, 0)).expect("bind the client to the bench address");
    socket.set_read_timeout(Some(RECV_GIVE_UP)).unwrap();
    let mut fields = vec![name, "octet"];
    for (option, value) in &ask.options {
        fields.push(option);
        fields.push(value);
    }
    socket.send_to(&packet(1, &fields), server).unwrap();

    let mut block_size = 512usize;
    let mut window = 1u16;
    let mut oack = Vec::new();
    let mut data = Vec::new();
    let mut last = 0u16;
    let mut in_window = 0u16;
    let mut gap_acked = false;
    let mut peer = None;
    let mut buffer = vec![0u8; 65_536];
    loop {
        let (len, source) = socket
            .recv_from(&mut buffer)
            .expect("the server went silent during a transfer");
        // The transfer's port is the first answer's; anything else is a stray.
        if *peer.get_or_insert(source) != source {
            continue;
        }
        let datagram = &buffer[..len];
        if let Some(error) = error_of(datagram) {
            return Err(error);
        }
        match u16::from_be_bytes([datagram[0], datagram[1]]) {
            6 => {
                let fields: Vec<String> = datagram[2..len - 1]
                    .split(|&b| b == 0)
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                for pair in fields.chunks(2) {
                    match pair[0].as_str() {
                        "blksize" => block_size = pair[1].parse().unwrap(),
                        "windowsize" => window = pair[1].parse().unwrap(),
                        _ => {}
                    }
                    oack.push((pair[0].clone(), pair[1].clone()));
                }
                socket.send_to(&ack(0), source).unwrap();
            }
            3 => {
                let block = u16::from_be_bytes([datagram[2], datagram[3]]);
                if block != last.wrapping_add(1) {
                    if !gap_acked {
                        socket.send_to(&ack(last), source).unwrap();
                        gap_acked = true;
                        in_window = 0;
                    }
                    continue;
                }
                let payload = &datagram[4..];
                assert!(payload.len() <= block_size, "block {block} is too large");
                data.extend_from_slice(payload);
                last = block;
                gap_acked = false;
                in_window += 1;
                if Some(block) == ask.pause_after_block
                    && let Some((paused, resume)) = &pause
                {
                    paused.send(()).unwrap();
                    resume.recv().unwrap();
                }
                let end = payload.len() < block_size;
                if end || in_window == window {
                    socket.send_to(&ack(block), source).unwrap();
                    in_window = 0;
                }
                if end {
                    return Ok(Got { data, oack });
                }
            }
            other => panic!("unexpected TFTP opcode {other}"),
        }
    }
}

/// Sends one request packet and returns the server's answer, which must be an error.
fn refused(server: SocketAddr, from: Ipv4Addr, request: &[u8]) -> TftpError {
    let socket = UdpSocket::bind((from, 0)).unwrap();
    socket.set_read_timeout(Some(RECV_GIVE_UP)).unwrap();
    socket.send_to(request, server).unwrap();
    let mut buffer = [0u8; 1024];
    let (len, _) = socket
        .recv_from(&mut buffer)
        .expect("no answer to the request");
    error_of(&buffer[..len]).unwrap_or_else(|| panic!("not an error: {:?}", &buffer[..len]))
}

fn random_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let data: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

fn tftp_fields(event: &TaggedEvent) -> (Option<&str>, &str, u64, Option<&str>) {
    match &event.event {
        EndpointEvent::Tftp {
            file, bytes, error, ..
        } => (event.bench.as_deref(), file, *bytes, error.as_deref()),
        other => panic!("expected a TFTP event, got {other:?}"),
    }
}

async fn tftp_event(events: &mut broadcast::Receiver<TaggedEvent>) -> TaggedEvent {
    loop {
        let event = next_event(events).await;
        if matches!(event.event, EndpointEvent::Tftp { .. }) {
            return event;
        }
    }
}

fn one_bench_lab(ip: Ipv4Addr) -> harness::lab::Lab {
    lab(vec![bench("t46g", Model::T46G, "00:15:65:00:00:46", ip)])
}

async fn started(lab: &harness::lab::Lab) -> Endpoints {
    start(lab).await
}

const THREE_MB: usize = 3 * 1024 * 1024 + 123;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_file_is_served_intact_lock_step_large_blocks_and_windowed() {
    let subnet = Subnet::random();
    let phone = subnet.ip(46);
    let lab = one_bench_lab(phone);
    let endpoints = started(&lab).await;
    let mut events = endpoints.bus.subscribe();
    let sources = tempfile::tempdir().unwrap();
    let rom = random_file(sources.path(), "image.rom", THREE_MB);
    let expected = sha256(&std::fs::read(&rom).unwrap());
    endpoints
        .stage_recovery("t46g", &[("T46G.rom".into(), rom.clone())])
        .unwrap();
    let server = endpoints.addrs.tftp;

    let asks = [
        // RFC 1350: no options, 512-byte blocks, one ACK per block.
        Ask::default(),
        Ask {
            options: vec![("blksize", "1428".into()), ("tsize", "0".into())],
            ..Ask::default()
        },
        Ask {
            options: vec![
                ("blksize", "1428".into()),
                ("tsize", "0".into()),
                ("timeout", "1".into()),
                ("windowsize", "16".into()),
            ],
            ..Ask::default()
        },
    ];
    let fetched: Vec<Got> = tokio::task::spawn_blocking(move || {
        asks.iter()
            .map(|ask| read_file(server, phone, "T46G.rom", ask, None).expect("served"))
            .collect()
    })
    .await
    .unwrap();

    for got in &fetched {
        assert_eq!(got.data.len(), THREE_MB);
        assert_eq!(sha256(&got.data), expected);
    }
    assert!(
        fetched[0].oack.is_empty(),
        "no options asked, none acknowledged"
    );
    let size = THREE_MB.to_string();
    assert_eq!(
        fetched[1].oack,
        [
            ("blksize".into(), "1428".into()),
            ("tsize".into(), size.clone())
        ]
    );
    assert!(
        fetched[2]
            .oack
            .contains(&("windowsize".into(), "16".into()))
    );
    assert!(fetched[2].oack.contains(&("tsize".into(), size)));

    for _ in 0..3 {
        let event = tftp_event(&mut events).await;
        assert_eq!(event.event.client().ip(), phone);
        assert_eq!(
            tftp_fields(&event),
            (Some("t46g"), "T46G.rom", THREE_MB as u64, None)
        );
    }
    endpoints.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_while_a_long_transfer_runs() {
    let subnet = Subnet::random();
    let phone = subnet.ip(46);
    let lab = one_bench_lab(phone);
    let endpoints = started(&lab).await;
    let mut events = endpoints.bus.subscribe();
    let sources = tempfile::tempdir().unwrap();
    let rom = random_file(sources.path(), "image.rom", THREE_MB);
    let expected = sha256(&std::fs::read(&rom).unwrap());
    let outside = random_file(sources.path(), "secret", 64);
    endpoints
        .stage_recovery("t46g", &[("T46G.rom".into(), rom.clone())])
        .unwrap();
    // Planted after staging, as a careless operator or a hostile process might.
    std::os::unix::fs::symlink(&outside, endpoints.tftp_root().join("t46g/leak")).unwrap();
    let server = endpoints.addrs.tftp;

    // The long transfer starts first and stays open (block 100 not acknowledged) while
    // the hostile requests are made.
    let (paused_tx, paused) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel();
    let long = std::thread::spawn(move || {
        let ask = Ask {
            options: vec![("blksize", "512".into()), ("tsize", "0".into())],
            pause_after_block: Some(100),
        };
        read_file(
            server,
            phone,
            "T46G.rom",
            &ask,
            Some((paused_tx, resume_rx)),
        )
    });
    paused
        .recv_timeout(RECV_GIVE_UP)
        .expect("the long transfer did not start");

    let hostile = tokio::task::spawn_blocking(move || {
        [
            refused(server, phone, &packet(1, &["../x", "octet"])),
            refused(server, phone, &packet(1, &["/etc/passwd", "octet"])),
            refused(server, phone, &packet(1, &["leak", "octet"])),
            refused(server, phone, &packet(2, &["T46G.rom", "octet"])),
            refused(server, phone, &packet(1, &["T46G.bin", "octet"])),
        ]
    })
    .await
    .unwrap();
    let codes: Vec<u16> = hostile.iter().map(|e| e.code).collect();
    assert_eq!(codes, [2, 2, 2, 2, 1], "{hostile:?}");

    resume.send(()).unwrap();
    let got = long.join().unwrap().expect("the long transfer was served");
    assert_eq!(sha256(&got.data), expected);

    // Still serving afterwards.
    let again = tokio::task::spawn_blocking(move || {
        read_file(server, phone, "T46G.rom", &Ask::default(), None)
    })
    .await
    .unwrap()
    .expect("served after the refusals");
    assert_eq!(sha256(&again.data), expected);

    let mut seen = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..7 {
        let event = tftp_event(&mut events).await;
        if let EndpointEvent::Tftp { request, .. } = &event.event {
            requests.push(*request);
        }
        let (bench, file, bytes, error) = tftp_fields(&event);
        seen.push((
            bench.map(str::to_owned),
            file.to_owned(),
            bytes,
            error.map(str::to_owned),
        ));
    }
    let t46g = Some("t46g".to_owned());
    let denied = Some("Permission denied".to_owned());
    let expected_events = [
        (t46g.clone(), "../x".to_owned(), 0, denied.clone()),
        (t46g.clone(), "/etc/passwd".to_owned(), 0, denied.clone()),
        (t46g.clone(), "leak".to_owned(), 0, denied),
        (
            t46g.clone(),
            "T46G.rom".to_owned(),
            0,
            Some("Permission denied".to_owned()),
        ),
        (
            t46g.clone(),
            "T46G.bin".to_owned(),
            0,
            Some("File not found".to_owned()),
        ),
        (t46g.clone(), "T46G.rom".to_owned(), THREE_MB as u64, None),
        (t46g, "T46G.rom".to_owned(), THREE_MB as u64, None),
    ];
    assert_eq!(seen, expected_events);
    // The write request is reported as one, not as a refused read.
    let (read, write) = (TftpRequest::Read, TftpRequest::Write);
    assert_eq!(requests, [read, read, read, write, read, read, read]);
    endpoints.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bench_reads_its_own_folder_and_a_stranger_gets_file_not_found() {
    let subnet = Subnet::random();
    let (first_ip, second_ip, stranger_ip) = (subnet.ip(46), subnet.ip(47), subnet.ip(250));
    let lab = lab(vec![
        bench("t46g-a", Model::T46G, "00:15:65:00:00:46", first_ip),
        bench("t46g-b", Model::T46G, "00:15:65:00:00:47", second_ip),
    ]);
    let endpoints = started(&lab).await;
    let mut events = endpoints.bus.subscribe();
    let sources = tempfile::tempdir().unwrap();
    let old = random_file(sources.path(), "old.rom", 5000);
    let new = random_file(sources.path(), "new.rom", 7000);
    endpoints
        .stage_recovery("t46g-a", &[("T46G.rom".into(), old.clone())])
        .unwrap();
    endpoints
        .stage_recovery("t46g-b", &[("T46G.rom".into(), new.clone())])
        .unwrap();
    let server = endpoints.addrs.tftp;

    let (a, b, stranger) = tokio::task::spawn_blocking(move || {
        (
            read_file(server, first_ip, "T46G.rom", &Ask::default(), None),
            read_file(server, second_ip, "T46G.rom", &Ask::default(), None),
            read_file(server, stranger_ip, "T46G.rom", &Ask::default(), None),
        )
    })
    .await
    .unwrap();
    assert_eq!(a.unwrap().data, std::fs::read(&old).unwrap());
    assert_eq!(b.unwrap().data, std::fs::read(&new).unwrap());
    assert_eq!(stranger.unwrap_err().code, 1);

    // A transfer's event comes when the server has its last ACK, which may be after the
    // stranger's refusal: the three are compared in no particular order.
    let mut seen: Vec<TaggedEvent> = [
        tftp_event(&mut events).await,
        tftp_event(&mut events).await,
        tftp_event(&mut events).await,
    ]
    .into();
    seen.sort_by_key(|e| e.event.client().ip());
    assert_eq!(
        tftp_fields(&seen[0]),
        (Some("t46g-a"), "T46G.rom", 5000, None)
    );
    assert_eq!(
        tftp_fields(&seen[1]),
        (Some("t46g-b"), "T46G.rom", 7000, None)
    );
    assert_eq!(
        tftp_fields(&seen[2]),
        (None, "T46G.rom", 0, Some("File not found"))
    );
    assert_eq!(seen[2].event.client().ip(), stranger_ip);
    endpoints.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cut_by_shutdown_is_reported_aborted_and_the_root_removed() {
    let subnet = Subnet::random();
    let phone = subnet.ip(46);
    let lab = one_bench_lab(phone);
    let endpoints = started(&lab).await;
    let mut events = endpoints.bus.subscribe();
    let sources = tempfile::tempdir().unwrap();
    let rom = random_file(sources.path(), "image.rom", 100_000);
    endpoints
        .stage_recovery("t46g", &[("T46G.rom".into(), rom)])
        .unwrap();
    let root = endpoints.tftp_root().to_path_buf();
    let server = endpoints.addrs.tftp;

    // Reads two blocks and then stops acknowledging: the server holds the transfer open.
    let client = UdpSocket::bind((phone, 0)).unwrap();
    client.set_read_timeout(Some(RECV_GIVE_UP)).unwrap();
    client
        .send_to(&packet(1, &["T46G.rom", "octet"]), server)
        .unwrap();
    let mut buffer = [0u8; 1024];
    for block in 1..=2u16 {
        let (len, source) = client.recv_from(&mut buffer).unwrap();
        assert_eq!(buffer[..4], [0, 3, 0, block as u8], "{len} bytes");
        if block == 1 {
            client.send_to(&ack(1), source).unwrap();
        }
    }

    endpoints.shutdown().await;
    let event = tftp_event(&mut events).await;
    let (bench, file, bytes, error) = tftp_fields(&event);
    assert_eq!(
        (bench, file, error),
        (Some("t46g"), "T46G.rom", Some("transfer aborted"))
    );
    assert!(bytes > 0 && bytes < 100_000, "{bytes} bytes read");
    assert!(!root.exists(), "the TFTP root outlived the endpoints");
}
