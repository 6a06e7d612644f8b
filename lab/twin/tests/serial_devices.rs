//! The virtual serial devices driven as a host drives them: through the published path only,
//! opened with `serialport` like a real adapter.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serialport::SerialPort;
use yealink_twin::serial::actuator::ActuatorBoard;
use yealink_twin::serial::lcus::{LcusBoard, encode};
use yealink_twin::serial::numato::NumatoBoard;
use yealink_twin::serial::{ChangeSink, ChannelChange, DeviceFault, GARBAGE, SerialDevice};

/// Generous: only a broken device ever waits this long.
const TIMEOUT: Duration = Duration::from_secs(5);

fn sink() -> (ChangeSink, Receiver<ChannelChange>) {
    let (tx, rx) = channel();
    let tx = std::sync::Mutex::new(tx);
    (
        Arc::new(move |change| tx.lock().unwrap().send(change).unwrap()),
        rx,
    )
}

fn link_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join("serial/by-id").join(name)
}

fn open(path: &Path, baud: u32) -> Box<dyn SerialPort> {
    serialport::new(path.to_string_lossy(), baud)
        .timeout(TIMEOUT)
        .open()
        .unwrap()
}

fn change(rx: &Receiver<ChannelChange>) -> (u16, bool) {
    let c = rx
        .recv_timeout(TIMEOUT)
        .expect("the device reported no change");
    (c.channel, c.active)
}

/// Reads until `end` has been received; returns everything read.
fn read_until(port: &mut dyn SerialPort, end: &str) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(end.as_bytes()) {
        port.read_exact(&mut byte)
            .unwrap_or_else(|e| panic!("{e} after {:?}", String::from_utf8_lossy(&got)));
        got.push(byte[0]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn line(port: &mut dyn SerialPort) -> String {
    read_until(port, "\r\n")
        .trim_end_matches("\r\n")
        .to_string()
}

fn command(port: &mut dyn SerialPort, text: &str) -> String {
    port.write_all(text.as_bytes()).unwrap();
    port.write_all(b"\n").unwrap();
    line(port)
}

#[test]
fn lcus_frames_switch_relays() {
    let dir = tempfile::tempdir().unwrap();
    let path = link_in(&dir, "usb-1a86_USB_Serial_LCUS-8-if00-port0");
    let (sink, rx) = sink();
    let _board = SerialDevice::start(&path, Box::new(LcusBoard::new(8, sink))).unwrap();
    let mut port = open(&path, 9600);
    port.write_all(&encode(3, true)).unwrap();
    assert_eq!(change(&rx), (3, true));
    // Junk, a frame split across writes, a bad checksum, then a good frame.
    port.write_all(&[0x13, 0x37, 0xA0, 0x03]).unwrap();
    port.flush().unwrap();
    port.write_all(&[0x00, 0xA3]).unwrap();
    assert_eq!(change(&rx), (3, false));
    port.write_all(&[0xA0, 0x05, 0x01, 0x00]).unwrap();
    port.write_all(&encode(9, true)).unwrap();
    port.write_all(&encode(8, true)).unwrap();
    assert_eq!(
        change(&rx),
        (8, true),
        "refused frames must not switch anything"
    );
}

#[test]
fn numato_echoes_prompts_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = link_in(&dir, "usb-Numato_Systems_8_Channel_USB_Relay_Module-if00");
    let (sink, rx) = sink();
    let _board = SerialDevice::start(&path, Box::new(NumatoBoard::new(8, sink))).unwrap();
    let mut port = open(&path, 19200);
    let mut ask = |text: &str| {
        port.write_all(text.as_bytes()).unwrap();
        read_until(&mut *port, "\n\r>")
    };
    assert_eq!(ask("ver\r"), "ver\r\n\r00000008\n\r>");
    assert_eq!(ask("relay on 2\r"), "relay on 2\r\n\r>");
    assert_eq!(change(&rx), (2, true));
    assert_eq!(ask("relay read 2\r"), "relay read 2\r\n\ron\n\r>");
    assert_eq!(ask("relay on 7\r"), "relay on 7\r\n\r>");
    assert_eq!(ask("relay readall\r"), "relay readall\r\n\r84\n\r>");
    assert_eq!(ask("relay off 2\r"), "relay off 2\r\n\r>");
    assert_eq!(ask("relay read 2\r"), "relay read 2\r\n\roff\n\r>");
    assert_eq!(ask("relay on 9\r"), "relay on 9\r\n\r>");
    assert_eq!(ask("relay readall\r"), "relay readall\r\n\r80\n\r>");
    assert_eq!([change(&rx), change(&rx)], [(7, true), (2, false)]);
}

fn actuator(dir: &tempfile::TempDir) -> (SerialDevice, PathBuf, Receiver<ChannelChange>) {
    let path = link_in(dir, "usb-yealink-lab_actuator_keys-if00");
    let (sink, rx) = sink();
    let device = SerialDevice::start(&path, Box::new(ActuatorBoard::new(18, sink))).unwrap();
    (device, path, rx)
}

#[test]
fn actuator_speaks_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (_device, path, rx) = actuator(&dir);
    let port = &mut *open(&path, 115_200);
    assert_eq!(line(port), "READY yealink-actuator 1 channels=18");
    assert_eq!(
        command(port, "HELLO"),
        "OK HELLO yealink-actuator 1 channels=18"
    );
    assert_eq!(command(port, "hold 1"), "OK HOLD 1");
    assert_eq!(change(&rx), (1, true));
    assert_eq!(command(port, "HOLD 2 60000"), "OK HOLD 2 60000");
    assert_eq!(command(port, "QUERY"), "OK QUERY HELD 1,2");
    assert_eq!(command(port, "query 2"), "OK QUERY 2 HELD");
    assert_eq!(command(port, "TAP 5 30"), "OK TAP 5 30");
    assert_eq!(command(port, "TAP 1 30"), "ERR 5 channel busy");
    assert_eq!(command(port, "release 1"), "OK RELEASE 1");
    assert_eq!(command(port, "RELEASEALL"), "OK RELEASEALL");
    assert_eq!(command(port, "QUERY 5"), "OK QUERY 5 RELEASED");
    assert_eq!(command(port, "QUERY"), "OK QUERY HELD -");
    assert_eq!(command(port, "FROB"), "ERR 1 unknown command");
    assert_eq!(command(port, "HOLD 99"), "ERR 2 bad channel");
    assert_eq!(command(port, "TAP 3"), "ERR 3 bad argument");
    let changes: Vec<_> = (0..5).map(|_| change(&rx)).collect();
    assert_eq!(
        changes,
        [(2, true), (5, true), (5, false), (1, false), (2, false)]
    );
}

#[test]
fn actuator_survives_bad_bytes_and_overlong_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (_device, path, _rx) = actuator(&dir);
    let port = &mut *open(&path, 115_200);
    assert!(line(port).starts_with("READY "));
    port.write_all(&[0x00, 0xFF, 0xFE, 0x1B, b'\n']).unwrap();
    assert_eq!(line(port), "ERR 1 unknown command");
    port.write_all(&[b'X'; 500]).unwrap();
    port.write_all(b"\r\n").unwrap();
    assert_eq!(line(port), "ERR 4 line too long");
    // A lone `\r` ends a line, as a terminal program sends it.
    port.write_all(b"hello\r").unwrap();
    assert_eq!(line(port), "OK HELLO yealink-actuator 1 channels=18");
    port.write_all(b"\r\n\n").unwrap();
    assert_eq!(
        command(port, "QUERY"),
        "OK QUERY HELD -",
        "empty lines get no reply"
    );
}

#[test]
fn actuator_hold_watchdog_releases_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let (_device, path, rx) = actuator(&dir);
    let port = &mut *open(&path, 115_200);
    assert!(line(port).starts_with("READY "));
    assert_eq!(command(port, "HOLD 3 20"), "OK HOLD 3 20");
    assert_eq!(line(port), "EVT AUTORELEASE 3");
    assert_eq!([change(&rx), change(&rx)], [(3, true), (3, false)]);
    assert_eq!(command(port, "QUERY 3"), "OK QUERY 3 RELEASED");
}

#[test]
fn unplug_fails_host_io_and_replug_returns_at_the_same_path() {
    let dir = tempfile::tempdir().unwrap();
    let (device, path, rx) = actuator(&dir);
    let mut port = open(&path, 115_200);
    assert!(line(&mut *port).starts_with("READY "));
    assert_eq!(command(&mut *port, "HOLD 4"), "OK HOLD 4");
    assert_eq!(change(&rx), (4, true));

    device.unplug().unwrap();
    assert!(
        std::fs::symlink_metadata(&path).is_err(),
        "the path must vanish"
    );
    assert_eq!(
        change(&rx),
        (4, false),
        "a board without power releases its keys"
    );
    let mut buf = [0u8; 16];
    let io = port
        .write_all(b"QUERY\n")
        .and_then(|()| port.read(&mut buf));
    assert!(
        matches!(io, Err(_) | Ok(0)),
        "host I/O on an unplugged port must fail: {io:?}"
    );
    assert!(
        serialport::new(path.to_string_lossy(), 115_200)
            .open()
            .is_err()
    );

    device.replug().unwrap();
    let port = &mut *open(&path, 115_200);
    assert_eq!(line(port), "READY yealink-actuator 1 channels=18");
    assert_eq!(command(port, "QUERY"), "OK QUERY HELD -");
}

/// How long a silent device is listened to before it is taken to say nothing. Only the
/// absence of an answer depends on it, and each fault test then proves the command was
/// never carried out, whatever this wait.
const QUIET_WINDOW: Duration = Duration::from_millis(200);

/// Asserts the port sends nothing within [`QUIET_WINDOW`].
fn assert_silent(port: &mut dyn SerialPort, what: &str) {
    port.set_timeout(QUIET_WINDOW).unwrap();
    let mut buf = [0u8; 64];
    match port.read(&mut buf) {
        Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {}
        other => panic!("{what}: expected silence, got {other:?} {:?}", &buf[..8]),
    }
    port.set_timeout(TIMEOUT).unwrap();
}

fn assert_no_change(rx: &Receiver<ChannelChange>, what: &str) {
    if let Ok(change) = rx.recv_timeout(QUIET_WINDOW) {
        panic!("{what}: a faulty board switched {change:?}");
    }
}

fn read_exactly(port: &mut dyn SerialPort, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    port.read_exact(&mut got).unwrap();
    got
}

#[test]
fn lcus_silent_and_garbage_switch_nothing_until_healed() {
    let dir = tempfile::tempdir().unwrap();
    let path = link_in(&dir, "usb-1a86_USB_Serial_LCUS-8-if00-port0");
    let (sink, rx) = sink();
    let board = SerialDevice::start(&path, Box::new(LcusBoard::new(8, sink))).unwrap();
    let mut port = open(&path, 9600);

    board.set_fault(DeviceFault::Silent);
    assert_eq!(board.fault(), DeviceFault::Silent);
    port.write_all(&encode(1, true)).unwrap();
    assert_no_change(&rx, "silent LCUS");
    assert_silent(&mut *port, "silent LCUS");

    board.set_fault(DeviceFault::Garbage);
    port.write_all(&encode(2, true)).unwrap();
    assert_eq!(read_exactly(&mut *port, GARBAGE.len()), GARBAGE);
    assert_no_change(&rx, "babbling LCUS");

    board.set_fault(DeviceFault::Healthy);
    port.write_all(&encode(3, true)).unwrap();
    assert_eq!(
        change(&rx),
        (3, true),
        "only the frame sent after healing acts"
    );
    assert_silent(&mut *port, "a healthy LCUS board never answers");
}

#[test]
fn numato_silent_and_garbage_answer_no_command_until_healed() {
    let dir = tempfile::tempdir().unwrap();
    let path = link_in(&dir, "usb-Numato_Systems_8_Channel_USB_Relay_Module-if00");
    let (sink, rx) = sink();
    let board = SerialDevice::start(&path, Box::new(NumatoBoard::new(8, sink))).unwrap();
    let mut port = open(&path, 19200);

    board.set_fault(DeviceFault::Silent);
    port.write_all(b"relay on 1\r").unwrap();
    assert_silent(&mut *port, "silent Numato (not even the echo)");
    assert_no_change(&rx, "silent Numato");

    board.set_fault(DeviceFault::Garbage);
    port.write_all(b"relay on 2\r").unwrap();
    assert_eq!(read_exactly(&mut *port, GARBAGE.len()), GARBAGE);
    assert_no_change(&rx, "babbling Numato");

    board.set_fault(DeviceFault::Healthy);
    port.write_all(b"relay readall\r").unwrap();
    assert_eq!(
        read_until(&mut *port, "\n\r>"),
        "relay readall\r\n\r00\n\r>",
        "no relay was switched by a command sent while faulty"
    );
}

#[test]
fn actuator_silent_and_garbage_press_nothing_until_healed() {
    let dir = tempfile::tempdir().unwrap();
    let (device, path, rx) = actuator(&dir);
    let port = &mut *open(&path, 115_200);
    assert!(line(port).starts_with("READY "));

    device.set_fault(DeviceFault::Silent);
    port.write_all(b"HOLD 1\n").unwrap();
    assert_silent(port, "silent actuator");
    assert_no_change(&rx, "silent actuator");

    device.set_fault(DeviceFault::Garbage);
    port.write_all(b"HOLD 2\n").unwrap();
    assert_eq!(read_exactly(port, GARBAGE.len()), GARBAGE);
    port.write_all(b"HELLO\n").unwrap();
    assert_eq!(
        read_exactly(port, GARBAGE.len()),
        GARBAGE,
        "every command gets garbage"
    );
    assert_no_change(&rx, "babbling actuator");

    device.set_fault(DeviceFault::Healthy);
    assert_eq!(
        command(port, "QUERY"),
        "OK QUERY HELD -",
        "the first line after healing answers the first command after healing"
    );
    assert_eq!(command(port, "HOLD 3"), "OK HOLD 3");
    assert_eq!(change(&rx), (3, true));
    // Stopping the device (before the receiver goes) drops the held key.
    drop(device);
    assert_eq!(change(&rx), (3, false));
}

#[test]
fn a_fault_outlives_a_replug_and_silences_the_banner() {
    let dir = tempfile::tempdir().unwrap();
    let (device, path, _rx) = actuator(&dir);
    device.set_fault(DeviceFault::Silent);
    device.unplug().unwrap();
    device.replug().unwrap();
    assert_eq!(device.fault(), DeviceFault::Silent);
    let port = &mut *open(&path, 115_200);
    port.write_all(b"HELLO\n").unwrap();
    assert_silent(port, "silent actuator after a replug (no READY, no answer)");
    device.set_fault(DeviceFault::Healthy);
    assert_eq!(
        command(port, "HELLO"),
        "OK HELLO yealink-actuator 1 channels=18"
    );
}
