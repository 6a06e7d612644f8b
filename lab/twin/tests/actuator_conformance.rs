//! The virtual actuator answers lab/actuator/conformance.txt line for line, through its
//! published serial port, as a host would see it.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use yealink_twin::serial::SerialDevice;
use yealink_twin::serial::actuator::ActuatorBoard;

fn script() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../actuator/conformance.txt"),
    )
    .unwrap();
    let mut pairs = Vec::new();
    let mut sent = None;
    for line in text.lines() {
        if let Some(command) = line.strip_prefix("> ") {
            sent = Some(command.to_string());
        } else if let Some(reply) = line.strip_prefix("< ") {
            pairs.push((
                sent.take().expect("a reply follows a command"),
                reply.to_string(),
            ));
        }
    }
    assert!(pairs.len() > 20, "the script was not read");
    pairs
}

fn reply_line(port: &mut dyn serialport::SerialPort) -> String {
    loop {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n") {
            port.read_exact(&mut byte)
                .expect("the actuator answered nothing");
            got.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&got).trim_end().to_string();
        // Unsolicited lines are not replies.
        if !line.starts_with("READY") && !line.starts_with("EVT") {
            return line;
        }
    }
}

#[test]
fn the_virtual_actuator_follows_the_conformance_script() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("serial/by-id/usb-yealink-lab_actuator-if00");
    let sink: yealink_twin::serial::ChangeSink = Arc::new(|_| {});
    let _device = SerialDevice::start(&path, Box::new(ActuatorBoard::new(24, sink))).unwrap();
    let mut port = serialport::new(path.to_string_lossy(), 115_200)
        .timeout(Duration::from_secs(5))
        .open()
        .unwrap();
    for (command, expected) in script() {
        port.write_all(command.as_bytes()).unwrap();
        port.write_all(b"\n").unwrap();
        assert_eq!(reply_line(port.as_mut()), expected, "after `{command}`");
    }
}
