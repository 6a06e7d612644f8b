//! Property tests of what an outsider's bytes reach first: the TFTP server's answer to any
//! datagram on its port, and the SIP registrar's message parser. Neither may panic; the
//! TFTP answer is always a file inside the requesting bench's folder or a TFTP ERROR; the
//! SIP parser's output (and the response rendered from it) grows at most linearly with the
//! datagram.

mod endpoints_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use endpoints_support::*;
use harness::endpoints::sip_message::{SipResponse, header_param, parse_request, uri_user};
use harness::endpoints::tftp::TransferLimits;
use harness::endpoints::tftp::handler::{Answer, RecoveryHandler};
use harness::endpoints::{BenchDirectory, event_bus};
use harness::lab::Model;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Inputs per property: enough to reach every branch, few enough for `cargo test`.
const CASES: u32 = 256;

/// A bench's folder with files, a sub-folder, a symlink staying inside and one leading out.
struct Jail {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    root: PathBuf,
    bench_folder: PathBuf,
}

fn jail() -> Jail {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let folder = root.path().join("t46g");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("T46G.rom"), vec![7u8; 3000]).unwrap();
    std::fs::write(folder.join("sub/T46G.rfs"), b"rfs").unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), folder.join("leak")).unwrap();
    std::os::unix::fs::symlink("T46G.rom", folder.join("alias")).unwrap();
    std::os::unix::fs::symlink(outside.path(), folder.join("out")).unwrap();
    let bench_folder = folder.canonicalize().unwrap();
    Jail {
        root: root.path().to_path_buf(),
        bench_folder,
        _dirs: (root, outside),
    }
}

const PHONE: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 46);
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 250);

fn handler(jail: &Jail) -> RecoveryHandler {
    let lab = lab(vec![bench("t46g", Model::T46G, "00:15:65:00:00:46", PHONE)]);
    RecoveryHandler::new(
        jail.root.clone(),
        Arc::new(BenchDirectory::new(&lab)),
        event_bus(),
        TransferLimits::default(),
    )
}

/// What the answers were, for the report.
#[derive(Default)]
struct Tally {
    served: AtomicUsize,
    refused: AtomicUsize,
    ignored: AtomicUsize,
}

impl Tally {
    fn print(&self, what: &str) {
        eprintln!(
            "{what}: {} served, {} refused with a TFTP error, {} ignored",
            self.served.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.ignored.load(Ordering::Relaxed)
        );
    }
}

/// The property itself: a transfer of a file inside the bench's folder (to the bench
/// only), a well-formed ERROR packet, or silence only for a client's ERROR packet.
fn check_answer(
    handler: &mut RecoveryHandler,
    bench_folder: &Path,
    from: Ipv4Addr,
    datagram: &[u8],
    tally: &Tally,
) -> Result<(), TestCaseError> {
    let peer = SocketAddr::from((from, 40_000));
    let answer = handler.answer(peer, IpAddr::V4(Ipv4Addr::LOCALHOST), datagram);
    match answer {
        Answer::Serve(transfer) => {
            prop_assert_eq!(from, PHONE, "a stranger was served");
            prop_assert!(
                transfer.path().starts_with(bench_folder) && transfer.path() != bench_folder,
                "served {} outside {}",
                transfer.path().display(),
                bench_folder.display()
            );
            prop_assert_eq!(
                datagram.get(..2),
                Some(&[0u8, 1][..]),
                "served without a read request"
            );
            tally.served.fetch_add(1, Ordering::Relaxed);
        }
        Answer::Refuse(packet) => {
            prop_assert!(packet.len() >= 5, "{packet:?}");
            prop_assert_eq!(&packet[..2], &[0u8, 5][..]);
            let code = u16::from_be_bytes([packet[2], packet[3]]);
            prop_assert!(code <= 8, "error code {code}");
            prop_assert_eq!(packet.last(), Some(&0u8));
            prop_assert!(!packet[4..packet.len() - 1].contains(&0));
            tally.refused.fetch_add(1, Ordering::Relaxed);
        }
        Answer::Ignore => {
            prop_assert_eq!(
                datagram.get(..2),
                Some(&[0u8, 5][..]),
                "only an ERROR packet goes unanswered"
            );
            tally.ignored.fetch_add(1, Ordering::Relaxed);
        }
    }
    // `transfer` (if any) is dropped here: its slot is free for the next input.
    prop_assert_eq!(handler.running(), 0);
    Ok(())
}

fn field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b"T46G.rom".to_vec()),
        2 => Just(b"sub/T46G.rfs".to_vec()),
        1 => Just(b"alias".to_vec()),
        1 => Just(b"leak".to_vec()),
        1 => Just(b"out/secret".to_vec()),
        1 => Just(b"../t46g/T46G.rom".to_vec()),
        1 => Just(b"/etc/passwd".to_vec()),
        1 => Just(b"sub".to_vec()),
        1 => Just(b"".to_vec()),
        1 => "[a-zA-Z0-9./\\\\]{0,24}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ]
}

fn option() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let name = prop_oneof![
        Just(b"blksize".to_vec()),
        Just(b"TIMEOUT".to_vec()),
        Just(b"timeout".to_vec()),
        Just(b"tsize".to_vec()),
        Just(b"windowsize".to_vec()),
        "[a-z]{0,10}".prop_map(String::into_bytes),
    ];
    let value = prop_oneof![
        (0u64..300).prop_map(|n| n.to_string().into_bytes()),
        any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        Just(b"99999999999999999999999".to_vec()),
        Just(b"-1".to_vec()),
        "[0-9a-z]{0,6}".prop_map(String::into_bytes),
    ];
    (name, value)
}

/// A request-shaped datagram: an opcode, a name, a mode, options, each field sometimes
/// without its NUL.
fn request_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![6 => Just(1u16), 2 => Just(2u16), 1 => 0u16..8, 1 => any::<u16>()],
        field(),
        prop_oneof![
            4 => Just(b"octet".to_vec()),
            1 => Just(b"NetAscii".to_vec()),
            1 => Just(b"mail".to_vec()),
            1 => "[a-z]{0,8}".prop_map(String::into_bytes),
        ],
        proptest::collection::vec(option(), 0..6),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(opcode, name, mode, options, drop_last_nul)| {
            let mut bytes = opcode.to_be_bytes().to_vec();
            for part in [name, mode]
                .into_iter()
                .chain(options.into_iter().flat_map(|(n, v)| [n, v]))
            {
                bytes.extend_from_slice(&part);
                bytes.push(0);
            }
            if drop_last_nul {
                bytes.pop();
            }
            bytes
        })
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn any_bytes_get_a_file_inside_the_jail_or_a_tftp_error() {
    let jail = jail();
    let handler = std::cell::RefCell::new(handler(&jail));
    let tally = Tally::default();
    let input = (
        prop_oneof![Just(PHONE), Just(STRANGER)],
        proptest::collection::vec(any::<u8>(), 0..600),
    );
    runner()
        .run(&input, |(from, datagram)| {
            check_answer(
                &mut handler.borrow_mut(),
                &jail.bench_folder,
                from,
                &datagram,
                &tally,
            )
        })
        .unwrap();
    tally.print("arbitrary bytes");
}

#[test]
fn request_shaped_bytes_get_a_file_inside_the_jail_or_a_tftp_error() {
    let jail = jail();
    let handler = std::cell::RefCell::new(handler(&jail));
    let tally = Tally::default();
    let input = (
        prop_oneof![4 => Just(PHONE), 1 => Just(STRANGER)],
        request_like(),
    );
    runner()
        .run(&input, |(from, datagram)| {
            check_answer(
                &mut handler.borrow_mut(),
                &jail.bench_folder,
                from,
                &datagram,
                &tally,
            )
        })
        .unwrap();
    tally.print("request-shaped bytes");
    // The generator reaches both outcomes, or the property proves little.
    assert!(tally.served.load(Ordering::Relaxed) > 0);
    assert!(tally.refused.load(Ordering::Relaxed) > 0);
}

const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.46:5060;branch=z9hG4bK1\r\n\
From: <sip:001565000046@127.0.0.1>;tag=a1\r\n\
To: <sip:001565000046@127.0.0.1>\r\n\
Call-ID: 1@127.0.0.46\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:001565000046@127.0.0.46:5060>\r\n\
Expires: 3600\r\n\
User-Agent: Yealink SIP-T46G 28.83.0.120 00:15:65:00:00:46\r\n\
Content-Length: 0\r\n\r\n";

/// Parses `datagram` and uses everything the registrar would: no panic, and what comes out
/// is at most linear in what went in.
fn check_sip(datagram: &[u8], parsed: &AtomicUsize) -> Result<(), TestCaseError> {
    let Ok(request) = parse_request(datagram) else {
        return Ok(());
    };
    parsed.fetch_add(1, Ordering::Relaxed);
    let kept: usize = request.method.len()
        + request.uri.len()
        + request
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
        + request.bad_lines.iter().map(String::len).sum::<usize>();
    // Compact names grow to full ones (`v` to `Via`): at most 3 bytes for 1, plus
    // `Content-Length` for `l`, so a generous linear bound.
    prop_assert!(
        kept <= 14 * datagram.len() + 64,
        "{kept} bytes kept of {}",
        datagram.len()
    );
    prop_assert!(request.headers.len() + request.bad_lines.len() <= datagram.len() + 1);
    let _ = request.defect();
    let _ = request.can_be_answered();
    let _ = request.expires_s();
    for (_, value) in &request.headers {
        let _ = uri_user(value);
        let _ = header_param(value, "tag");
        let _ = header_param(value, "expires");
    }
    let rendered = SipResponse::new(200, "OK")
        .with("Expires", "60")
        .render(&request, "tag1", "harness");
    prop_assert!(
        rendered.len() <= 16 * datagram.len() + 256,
        "{} bytes rendered from {}",
        rendered.len(),
        datagram.len()
    );
    Ok(())
}

#[test]
fn the_sip_parser_takes_any_bytes() {
    let parsed = AtomicUsize::new(0);
    let input = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        // Text, to get past the UTF-8 check.
        "REGISTER sip:x SIP/2\\.0\r\n[a-zA-Z:;<>@ \t\r\n=.-]{0,300}".prop_map(String::into_bytes),
    ];
    runner()
        .run(&input, |datagram| check_sip(&datagram, &parsed))
        .unwrap();
    eprintln!(
        "SIP, arbitrary bytes: {CASES} inputs, {} parsed as requests",
        parsed.load(Ordering::Relaxed)
    );
}

/// One mutation of a valid REGISTER.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    RepeatLine(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b"\r\n".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b":".to_vec()),
                Just(b"\r\n ".to_vec()),
                Just(b"\r\nv: SIP/2.0/UDP x\r\n".to_vec()),
                Just(b"\r\nl: 99999999999999999999\r\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..16),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete(at, len)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..50).prop_map(|(line, times)| Mutation::RepeatLine(line, times)),
    ]
}

fn mutate(mut message: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = message.len().max(1);
        match mutation {
            Mutation::Flip(at, byte) => {
                if !message.is_empty() {
                    message[at % len] = *byte;
                }
            }
            Mutation::Insert(at, bytes) => {
                let at = at % (message.len() + 1);
                message.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete(at, count) => {
                let at = at % len;
                let end = (at + count).min(message.len());
                message.drain(at.min(end)..end);
            }
            Mutation::Truncate(at) => message.truncate(at % len),
            Mutation::RepeatLine(line, times) => {
                let text = String::from_utf8_lossy(&message).into_owned();
                let lines: Vec<&str> = text.split("\r\n").collect();
                let chosen = lines[line % lines.len()];
                let mut out = String::new();
                for (i, l) in lines.iter().enumerate() {
                    out.push_str(l);
                    out.push_str("\r\n");
                    if i == line % lines.len() {
                        for _ in 0..*times {
                            out.push_str(chosen);
                            out.push_str("\r\n");
                        }
                    }
                }
                message = out.into_bytes();
            }
        }
    }
    message
}

#[test]
fn the_sip_parser_takes_mutated_registers() {
    let parsed = AtomicUsize::new(0);
    let input = proptest::collection::vec(mutation(), 1..5);
    runner()
        .run(&input, |mutations| {
            let datagram = mutate(REGISTER.as_bytes().to_vec(), &mutations);
            check_sip(&datagram, &parsed)
        })
        .unwrap();
    eprintln!(
        "SIP, mutated REGISTERs: {CASES} inputs, {} parsed as requests",
        parsed.load(Ordering::Relaxed)
    );
    // Most mutations keep the request line: the property is exercised past it.
    assert!(parsed.load(Ordering::Relaxed) > 0);
}
