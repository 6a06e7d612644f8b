//! The harness's actuator driver speaks lab/actuator/conformance.txt: every exchange of the
//! script that the driver can cause is replayed against it, byte for byte, and the driver
//! must send exactly the script's line and make sense of exactly the script's answer.

use std::path::Path;

use harness::drivers::ButtonActuator;
use harness::drivers::DeviceRef;
use harness::drivers::actuator::serial::SerialActuator;
use harness::drivers::transport::ScriptedLink;
use harness::lab::{Actuator, ActuatorKind};

fn script() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/actuator/conformance.txt"),
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
    pairs
}

/// What the driver does for a script line, if the driver can send that line at all (it
/// never sends lower case, extra spaces, bad channels or overlong lines).
enum Call {
    Hold(u16),
    Release(u16),
    Tap(u16, u64),
    ReleaseAll,
    Held,
}

fn in_range(call: &Call) -> bool {
    let channel = |c: u16| (1..=24).contains(&c);
    match call {
        Call::Hold(c) | Call::Release(c) => channel(*c),
        Call::Tap(c, ms) => channel(*c) && (1..=60_000).contains(ms),
        Call::ReleaseAll | Call::Held => true,
    }
}

fn call_for(command: &str) -> Option<Call> {
    let words: Vec<&str> = command.split(' ').collect();
    let number = |i: usize| {
        words
            .get(i)
            .and_then(|w| w.parse::<u64>().ok())
            .filter(|_| !words[i].starts_with('0'))
    };
    match words.as_slice() {
        ["HOLD", _] => number(1).map(|c| Call::Hold(c as u16)),
        ["RELEASE", _] => number(1).map(|c| Call::Release(c as u16)),
        ["TAP", _, _] => number(1)
            .zip(number(2))
            .map(|(c, ms)| Call::Tap(c as u16, ms)),
        ["RELEASEALL"] => Some(Call::ReleaseAll),
        ["QUERY"] => Some(Call::Held),
        _ => None,
    }
}

#[test]
fn the_driver_follows_the_conformance_script() {
    let actuator = Actuator {
        name: "keys".into(),
        port: Some("/dev/null".into()),
        channels: 24,
        kind: ActuatorKind::Serial,
    };
    let pairs = script();
    let (hello, hello_reply) = &pairs[0];
    assert_eq!(hello, "HELLO");
    let mut link = ScriptedLink::new()
        .expect(format!("{hello}\n"))
        .reply(format!("{hello_reply}\r\n"));
    let mut calls = Vec::new();
    for (command, reply) in &pairs[1..] {
        let Some(call) = call_for(command) else {
            continue;
        };
        // A channel or time the driver knows to be out of range never reaches the wire:
        // it is refused before anything is sent (nothing is scripted for it).
        if in_range(&call) {
            link = link
                .expect(format!("{command}\n"))
                .reply(format!("{reply}\r\n"));
        }
        calls.push((call, reply.clone(), command.clone()));
    }
    assert!(calls.len() >= 12, "too few exchanges the driver can make");
    // Nothing follows: dropping the driver sends nothing (a write past the script's end
    // fails the test).
    let mut driver =
        SerialActuator::connect(link.boxed(), DeviceRef::actuator(&actuator), 24).unwrap();
    for (call, reply, command) in calls {
        let ok = reply.starts_with("OK");
        match call {
            Call::Hold(c) => assert_eq!(driver.hold(c).is_ok(), ok, "`{command}` -> `{reply}`"),
            Call::Release(c) => {
                assert_eq!(driver.release(c).is_ok(), ok, "`{command}` -> `{reply}`")
            }
            Call::Tap(c, ms) => {
                assert_eq!(driver.tap(c, ms).is_ok(), ok, "`{command}` -> `{reply}`")
            }
            Call::ReleaseAll => {
                assert_eq!(driver.release_all().is_ok(), ok, "`{command}` -> `{reply}`")
            }
            Call::Held => {
                let held = driver.held().unwrap();
                let words = reply.trim_start_matches("OK QUERY HELD ");
                let expected: Vec<u16> = if words == "-" {
                    vec![]
                } else {
                    words.split(',').map(|w| w.parse().unwrap()).collect()
                };
                assert_eq!(held, expected, "`{command}` -> `{reply}`");
            }
        }
    }
}
