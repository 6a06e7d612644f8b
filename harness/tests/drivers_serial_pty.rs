//! The serial drivers on real pseudo-terminals, opened by path through the lab file's types
//! exactly as on a rack: a small device model answers on the master side.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use harness::drivers::power::lcus::{LCUS, LcusFrame};
use harness::drivers::power::numato::NUMATO;
use harness::drivers::{DriverError, open_actuator, open_power_switch};
use harness::lab::{Actuator, ActuatorKind, RelayBoard, RelayKind};
use serialport::{SerialPort, TTYPort};

/// A pseudo-terminal: the device side, and the path the driver opens. The slave end from
/// `pair` stays open for the test's length so the terminal lives until the driver opens it.
struct Pty {
    master: TTYPort,
    path: PathBuf,
    _slave: TTYPort,
}

fn pty() -> Pty {
    let (mut master, slave) = TTYPort::pair().unwrap();
    master.set_timeout(Duration::from_secs(5)).unwrap();
    let path = PathBuf::from(slave.name().unwrap());
    Pty {
        master,
        path,
        _slave: slave,
    }
}

fn board(name: &str, kind: RelayKind, port: PathBuf, channels: u16) -> RelayBoard {
    RelayBoard {
        name: name.into(),
        kind,
        port: Some(port),
        channels,
    }
}

/// Read bytes from the device side until `delimiter`; `None` when the driver side closed.
fn read_line(master: &mut TTYPort, delimiter: u8) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match master.read(&mut byte) {
            Ok(1) => {
                line.push(byte[0]);
                if byte[0] == delimiter {
                    return Some(line);
                }
            }
            _ => return None,
        }
    }
}

#[test]
fn lcus_frames_reach_the_board() {
    let mut pty = pty();
    let relay = board(
        "relay-power",
        RelayKind::new(&LCUS, LcusFrame::default()),
        pty.path.clone(),
        8,
    );
    let mut switch = open_power_switch(&relay).unwrap();
    switch.set(1, true).unwrap();
    switch.set(3, false).unwrap();
    assert_eq!(switch.get(1).unwrap(), None);
    let mut frames = [0u8; 8];
    pty.master.read_exact(&mut frames).unwrap();
    assert_eq!(frames, [0xA0, 0x01, 0x01, 0xA2, 0xA0, 0x03, 0x00, 0xA3]);
    assert!(switch.describe().contains("relay-power"));
}

/// A Numato module: echoes every byte, answers each `\r`-ended command, then the prompt.
fn numato_module(mut master: TTYPort) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut relays = [false; 8];
        while let Some(line) = read_line(&mut master, b'\r') {
            master.write_all(&line).unwrap();
            let text = String::from_utf8(line).unwrap();
            let words: Vec<&str> = text.trim().split(' ').collect();
            let mut output = String::new();
            // An empty line (the resync) gets only the prompt.
            if let ["relay", verb, id] = words.as_slice() {
                let ch = usize::from_str_radix(id, 16).unwrap();
                match *verb {
                    "on" => relays[ch] = true,
                    "off" => relays[ch] = false,
                    "read" => output = format!("\n\r{}", if relays[ch] { "on" } else { "off" }),
                    other => panic!("unexpected Numato command {other}"),
                }
            }
            master
                .write_all(format!("{output}\n\r>").as_bytes())
                .unwrap();
        }
    })
}

#[test]
fn numato_switches_and_reads_back() {
    let pty = pty();
    let module = numato_module(pty.master);
    let relay = board(
        "relay-net",
        RelayKind::new(&NUMATO, ()),
        pty.path.clone(),
        8,
    );
    let mut switch = open_power_switch(&relay).unwrap();
    assert_eq!(switch.get(7).unwrap(), Some(false));
    switch.set(7, true).unwrap();
    assert_eq!(switch.get(7).unwrap(), Some(true));
    switch.set(7, false).unwrap();
    assert_eq!(switch.get(7).unwrap(), Some(false));
    drop(switch);
    drop(pty._slave);
    module.join().unwrap();
}

/// A button actuator of `channels` channels per PROTOCOL.md, recording every command.
fn actuator_board(
    mut master: TTYPort,
    channels: u16,
    log: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        // Opening the port resets some boards: the banner may come first.
        master
            .write_all(format!("READY yealink-actuator 1 channels={channels}\r\n").as_bytes())
            .unwrap();
        let mut held: Vec<u16> = Vec::new();
        while let Some(line) = read_line(&mut master, b'\n') {
            let command = String::from_utf8(line).unwrap().trim().to_uppercase();
            log.lock().unwrap().push(command.clone());
            let words: Vec<&str> = command.split(' ').collect();
            let reply = match words.as_slice() {
                ["HELLO"] => format!("OK HELLO yealink-actuator 1 channels={channels}"),
                ["HOLD", ch] => {
                    held.push(ch.parse().unwrap());
                    format!("OK {command}")
                }
                ["RELEASE", ch] => {
                    let ch: u16 = ch.parse().unwrap();
                    held.retain(|h| *h != ch);
                    format!("OK {command}")
                }
                ["TAP", ch, ms] if held.contains(&ch.parse().unwrap()) => {
                    let _ = ms;
                    "ERR 5 channel busy".into()
                }
                ["TAP", _, ms] => {
                    std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
                    format!("OK {command}")
                }
                ["RELEASEALL"] => {
                    held.clear();
                    format!("OK {command}")
                }
                ["QUERY"] if held.is_empty() => "OK QUERY HELD -".into(),
                ["QUERY"] => {
                    held.sort();
                    let list: Vec<String> = held.iter().map(u16::to_string).collect();
                    format!("OK QUERY HELD {}", list.join(","))
                }
                _ => "ERR 1 unknown command".into(),
            };
            master.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
        }
    })
}

fn serial_actuator(name: &str, port: PathBuf, channels: u16) -> Actuator {
    Actuator {
        name: name.into(),
        port: Some(port),
        kind: ActuatorKind::Serial,
        channels,
    }
}

#[test]
fn actuator_presses_and_releases_keys() {
    let pty = pty();
    let log = Arc::new(Mutex::new(Vec::new()));
    let board_thread = actuator_board(pty.master, 4, log.clone());
    let config = serial_actuator("keys-t46g", pty.path.clone(), 4);
    let mut actuator = open_actuator(&config).unwrap();
    actuator.hold(2).unwrap();
    actuator.hold(1).unwrap();
    assert_eq!(actuator.held().unwrap(), vec![1, 2]);
    let err = actuator.tap(2, 5).unwrap_err();
    assert!(matches!(err, DriverError::Refused { code: 5, .. }), "{err}");
    assert!(
        !err.is_lab_fault(),
        "a tap on a held key is the scenario's error"
    );
    actuator.tap(3, 5).unwrap();
    actuator.release(2).unwrap();
    assert_eq!(actuator.held().unwrap(), vec![1]);
    actuator.release_all().unwrap();
    assert_eq!(actuator.held().unwrap(), Vec::<u16>::new());
    drop(actuator);
    drop(pty._slave);
    board_thread.join().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.first().map(String::as_str), Some("HELLO"));
    assert_eq!(log.len(), 10, "{log:?}");
}

#[test]
fn dropping_the_actuator_switches_nothing() {
    let pty = pty();
    let log = Arc::new(Mutex::new(Vec::new()));
    let board_thread = actuator_board(pty.master, 4, log.clone());
    let config = serial_actuator("keys-t46g", pty.path.clone(), 4);
    let mut actuator = open_actuator(&config).unwrap();
    actuator.hold(3).unwrap();
    // Closed with a key held, as `harness lab check` or an unwinding error closes it: the
    // board must receive nothing more.
    drop(actuator);
    drop(pty._slave);
    board_thread.join().unwrap();
    assert_eq!(*log.lock().unwrap(), ["HELLO", "HOLD 3"]);
}

#[test]
fn a_stale_reply_left_by_a_killed_host_does_not_answer_hello() {
    let mut pty = pty();
    // A host killed during `TAP 1 2000` left its answer unread in the port.
    pty.master.write_all(b"OK TAP 1 2000\r\n").unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let board_thread = actuator_board(pty.master, 4, log.clone());
    let config = serial_actuator("keys-t46g", pty.path.clone(), 4);
    let mut actuator = open_actuator(&config).unwrap();
    actuator.hold(1).unwrap();
    assert_eq!(actuator.held().unwrap(), vec![1]);
    drop(actuator);
    drop(pty._slave);
    board_thread.join().unwrap();
    assert_eq!(*log.lock().unwrap(), ["HELLO", "HOLD 1", "QUERY"]);
}

#[test]
fn a_reply_to_a_killed_hosts_tap_that_arrives_after_hello_is_skipped() {
    let Pty {
        mut master,
        path,
        _slave: slave,
    } = pty();
    // The board is still running the killed host's `TAP 1 2000`: it answers that first,
    // then this host's HELLO, then serves as usual.
    let board_thread = std::thread::spawn(move || {
        let hello = read_line(&mut master, b'\n').unwrap();
        assert_eq!(hello, b"HELLO\n");
        master
            .write_all(b"OK TAP 1 2000\r\nOK HELLO yealink-actuator 1 channels=4\r\n")
            .unwrap();
        let query = read_line(&mut master, b'\n').unwrap();
        assert_eq!(query, b"QUERY\n");
        master.write_all(b"OK QUERY HELD -\r\n").unwrap();
        master
    });
    let mut actuator = open_actuator(&serial_actuator("keys-t46g", path, 4)).unwrap();
    assert_eq!(actuator.held().unwrap(), Vec::<u16>::new());
    drop(actuator);
    drop(board_thread.join().unwrap());
    drop(slave);
}

#[test]
fn numato_leftovers_of_an_earlier_program_are_dropped_at_open() {
    let mut pty = pty();
    // Echo and prompts an earlier program never read, and a half answer.
    pty.master
        .write_all(b"relay on 1\r\n\r>relay read 1\r\n\ron\n\r>rel")
        .unwrap();
    let module = numato_module(pty.master);
    let relay = board(
        "relay-net",
        RelayKind::new(&NUMATO, ()),
        pty.path.clone(),
        8,
    );
    let mut switch = open_power_switch(&relay).unwrap();
    assert_eq!(switch.get(1).unwrap(), Some(false));
    switch.set(1, true).unwrap();
    assert_eq!(switch.get(1).unwrap(), Some(true));
    drop(switch);
    drop(pty._slave);
    module.join().unwrap();
}

#[test]
fn actuator_with_other_channel_count_is_refused() {
    let pty = pty();
    let log = Arc::new(Mutex::new(Vec::new()));
    let board_thread = actuator_board(pty.master, 18, log.clone());
    let config = serial_actuator("keys-t42g", pty.path.clone(), 24);
    let err = open_actuator(&config).err().unwrap();
    assert!(
        matches!(
            err,
            DriverError::ChannelCount {
                reported: 18,
                configured: 24,
                ..
            }
        ),
        "{err}"
    );
    drop(pty._slave);
    board_thread.join().unwrap();
}

#[test]
fn a_missing_port_is_a_lab_fault_naming_the_board() {
    let dir = tempfile::tempdir().unwrap();
    let relay = board(
        "relay-power",
        RelayKind::new(&LCUS, LcusFrame::default()),
        dir.path().join("usb-1a86_USB_Serial-if00-port0"),
        8,
    );
    let err = open_power_switch(&relay).err().unwrap();
    assert!(matches!(err, DriverError::Open { .. }), "{err}");
    assert!(err.is_lab_fault());
    let message = err.to_string();
    assert!(message.contains("relay_board `relay-power`"), "{message}");
    assert!(
        message.contains("usb-1a86_USB_Serial-if00-port0"),
        "{message}"
    );
}

#[test]
fn a_port_that_vanishes_mid_run_is_a_lab_fault() {
    let Pty {
        mut master,
        path,
        _slave: slave,
    } = pty();
    // A board that answers HELLO, then is unplugged.
    let board_thread = std::thread::spawn(move || {
        read_line(&mut master, b'\n').unwrap();
        master
            .write_all(b"OK HELLO yealink-actuator 1 channels=4\r\n")
            .unwrap();
        master
    });
    let config = Actuator {
        name: "keys-t40p".into(),
        port: Some(path),
        kind: ActuatorKind::Serial,
        channels: 4,
    };
    let mut actuator = open_actuator(&config).unwrap();
    // Unplugged: both ends of the terminal's device side go away.
    drop(board_thread.join().unwrap());
    drop(slave);
    let err = actuator.hold(1).unwrap_err();
    assert!(matches!(err, DriverError::Io { .. }), "{err}");
    assert!(err.is_lab_fault());
}
