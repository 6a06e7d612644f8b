//! The rack drivers that speak USB-HID or HTTP, through the public API as the engine uses
//! them: pdudaemon against a real HTTP server on loopback, the USB-HID relay board and the
//! YKUSH hub against scripted HID devices, and keys pressed by relays.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use harness::drivers::actuator::relay::RelayKeyActuator;
use harness::drivers::power::hid_relay::{self, HidRelaySwitch};
use harness::drivers::power::pdudaemon::PdudaemonSwitch;
use harness::drivers::power::ykush::{self, YkushModel, YkushSwitch};
use harness::drivers::usb::{ControlSetup, ScriptedHid, list_usb_devices};
use harness::drivers::{ButtonActuator, DeviceRef, DriverError, PowerSwitch};

fn board(name: &str, port: &str) -> DeviceRef {
    DeviceRef {
        table: "relay_board",
        name: name.into(),
        port: PathBuf::from(port),
    }
}

/// How the test server answers one connection.
enum Answer {
    /// Send these bytes, then close.
    Bytes(&'static str),
    /// Read the request and say nothing until the client gives up.
    Silence,
}

/// An HTTP server on a free loopback port that answers one connection per entry of
/// `answers` and returns the request heads it received.
fn serve(answers: Vec<Answer>) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut heads = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            heads.push(read_head(&mut stream));
            match answer {
                Answer::Bytes(bytes) => stream.write_all(bytes.as_bytes()).unwrap(),
                Answer::Silence => {
                    // Wait for the client to hang up (or the read timeout), then close.
                    let mut rest = Vec::new();
                    let _ = stream.read_to_end(&mut rest);
                }
            }
        }
        heads
    });
    (base_url, server)
}

fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8(head).unwrap()
}

const OK: Answer = Answer::Bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

#[test]
fn pdudaemon_switches_and_reboots_ports_over_http() {
    let (base_url, server) = serve(vec![OK, OK, OK]);
    let mut switch =
        PdudaemonSwitch::new(board("pdu", &base_url), &base_url, "rack-pdu.lab").unwrap();
    switch.set(3, true).unwrap();
    switch.set(3, false).unwrap();
    switch.reboot(4, Some(10)).unwrap();
    assert_eq!(switch.get(3).unwrap(), None, "pdudaemon cannot read back");

    let heads = server.join().unwrap();
    let request_lines: Vec<&str> = heads.iter().map(|h| h.lines().next().unwrap()).collect();
    assert_eq!(
        request_lines,
        [
            "GET /power/control/on?hostname=rack-pdu.lab&port=3 HTTP/1.1",
            "GET /power/control/off?hostname=rack-pdu.lab&port=3 HTTP/1.1",
            "GET /power/control/reboot?hostname=rack-pdu.lab&port=4&delay=10 HTTP/1.1",
        ]
    );
    let host = base_url.trim_start_matches("http://");
    assert!(
        heads[0].contains(&format!("\r\nHost: {host}\r\n")),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains("\r\nConnection: close\r\n"),
        "{}",
        heads[0]
    );
}

#[test]
fn pdudaemon_refusal_names_the_pdu_to_check() {
    let (base_url, server) = serve(vec![Answer::Bytes(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
    )]);
    let mut switch = PdudaemonSwitch::new(board("pdu", &base_url), &base_url, "pdu09").unwrap();
    let err = switch.set(1, true).unwrap_err();
    assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
    assert!(err.is_lab_fault());
    let text = err.to_string();
    assert!(
        text.contains("HTTP 503") && text.contains("`pdu09`"),
        "{text}"
    );
    server.join().unwrap();
}

#[test]
fn pdudaemon_that_is_not_http_is_a_protocol_fault() {
    let (base_url, server) = serve(vec![Answer::Bytes("SSH-2.0-OpenSSH_9.6\r\n")]);
    let mut switch = PdudaemonSwitch::new(board("pdu", &base_url), &base_url, "pdu01").unwrap();
    let err = switch.set(1, false).unwrap_err();
    assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
    server.join().unwrap();
}

#[test]
fn a_silent_pdudaemon_times_out() {
    let (base_url, server) = serve(vec![Answer::Silence]);
    let mut switch = PdudaemonSwitch::new(board("pdu", &base_url), &base_url, "pdu01")
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let err = switch.set(2, true).unwrap_err();
    assert!(matches!(err, DriverError::Timeout { .. }), "{err}");
    assert!(err.is_lab_fault());
    drop(switch);
    server.join().unwrap();
}

#[test]
fn an_unreachable_pdudaemon_says_what_to_check() {
    // A port that was free a moment ago and is closed now: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base_url = format!("http://127.0.0.1:{port}");
    let mut switch = PdudaemonSwitch::new(board("pdu", &base_url), &base_url, "pdu01").unwrap();
    let err = switch.set(1, true).unwrap_err();
    assert!(err.is_lab_fault(), "{err}");
    assert!(
        err.to_string().contains("check that it is running"),
        "{err}"
    );
}

fn relay_state(mask: u8) -> [u8; 8] {
    [b'H', b'U', b'R', b'T', b'M', 0, 0, mask]
}

#[test]
fn hid_relay_board_as_a_power_switch() {
    let get = ControlSetup::get_feature_report(0, 0);
    let set = ControlSetup::set_feature_report(0, 0);
    let hid = ScriptedHid::new()
        .expect_control_in(get, relay_state(0))
        .expect_control_out(set, [0xFF, 4, 0, 0, 0, 0, 0, 0])
        .expect_control_in(get, relay_state(0b1000))
        .expect_control_in(get, relay_state(0b1000));
    let mut switch: Box<dyn PowerSwitch> =
        Box::new(HidRelaySwitch::connect(hid.boxed(), board("relay-hid", "usb:HURTM"), 4).unwrap());
    switch.set(4, true).unwrap();
    assert_eq!(switch.get(4).unwrap(), Some(true));
    assert!(
        switch.describe().contains("serial HURTM"),
        "{}",
        switch.describe()
    );
}

#[test]
fn ykush_powers_the_usb_stick_port() {
    let mut on = vec![0u8; 64];
    on[..2].copy_from_slice(&[0x01, 0x11]);
    let hid = ScriptedHid::new()
        .expect_interrupt_out(ykush::encode_set(1, true))
        .interrupt_in(&on)
        .expect_interrupt_out(ykush::encode_query(1))
        .interrupt_in(&on);
    let mut switch: Box<dyn PowerSwitch> = Box::new(YkushSwitch::connect(
        hid.boxed(),
        board("stick-power", "usb:YK"),
        YkushModel::Ykush3,
        None,
    ));
    switch.set(1, true).unwrap();
    assert_eq!(switch.get(1).unwrap(), Some(true));
}

#[test]
fn an_unplugged_ykush_is_a_lab_fault() {
    let hid = ScriptedHid::new().fail(io::ErrorKind::NotConnected);
    let mut switch = YkushSwitch::connect(
        hid.boxed(),
        board("stick-power", "usb:YK"),
        YkushModel::Ykush,
        None,
    );
    let err = switch.set(2, false).unwrap_err();
    assert!(matches!(err, DriverError::Io { .. }), "{err}");
    assert!(err.is_lab_fault());
}

#[test]
fn keys_pressed_by_a_usb_hid_relay_board() {
    let get = ControlSetup::get_feature_report(0, 0);
    let set = ControlSetup::set_feature_report(0, 0);
    // Keymap channel 1 is relay 2, channel 2 is relay 1.
    let hid = ScriptedHid::new()
        .expect_control_in(get, relay_state(0))
        // hold 1: relay 2 closes.
        .expect_control_out(set, hid_relay::encode_set(2, true))
        .expect_control_in(get, relay_state(0b10))
        // tap 2: relay 1 closes and opens again.
        .expect_control_out(set, hid_relay::encode_set(1, true))
        .expect_control_in(get, relay_state(0b11))
        .expect_control_out(set, hid_relay::encode_set(1, false))
        .expect_control_in(get, relay_state(0b10))
        // held: read back from the board, relay by relay (channel 1's, then channel 2's).
        .expect_control_in(get, relay_state(0b10))
        .expect_control_in(get, relay_state(0b10))
        // release_all: every mapped relay opens.
        .expect_control_out(set, hid_relay::encode_set(2, false))
        .expect_control_in(get, relay_state(0))
        .expect_control_out(set, hid_relay::encode_set(1, false))
        .expect_control_in(get, relay_state(0))
        // held again: both read back open.
        .expect_control_in(get, relay_state(0))
        .expect_control_in(get, relay_state(0));
    let relays = HidRelaySwitch::connect(hid.boxed(), board("relay-keys", "usb:HURTM"), 2).unwrap();
    let keys_ref = DeviceRef {
        table: "actuator",
        name: "keys-relay".into(),
        port: PathBuf::from("usb:HURTM"),
    };
    let mut keys: Box<dyn ButtonActuator> =
        Box::new(RelayKeyActuator::new(Box::new(relays), keys_ref, vec![2, 1]).unwrap());
    keys.hold(1).unwrap();
    keys.tap(2, 1).unwrap();
    assert_eq!(keys.held().unwrap(), [1]);
    keys.release_all().unwrap();
    assert!(keys.held().unwrap().is_empty());
    // The script ends here: a transfer on drop would fail the test.
    drop(keys);
}

#[test]
fn opening_usb_boards_that_are_not_plugged_in_fails_cleanly() {
    // No board has these serial numbers (relay serials are 5 characters), with or without a
    // USB bus on this machine.
    let err = HidRelaySwitch::open(board("relay-hid", "usb"), Some("NO-SUCH-BOARD"), 2)
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Open { .. }), "{err}");
    assert!(err.is_lab_fault());
    assert!(err.to_string().contains("relay_board `relay-hid`"), "{err}");

    let err = YkushSwitch::open(board("stick-power", "usb"), Some("NO-SUCH-HUB-0000"))
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Open { .. }), "{err}");
}

#[test]
fn listing_usb_devices_never_fails_for_lack_of_a_bus() {
    let devices = list_usb_devices().unwrap();
    if !std::path::Path::new("/dev/bus/usb").exists() {
        assert!(devices.is_empty(), "{devices:?}");
    }
}
