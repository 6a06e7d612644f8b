//! The reference actuator firmware, compiled with Debian's AVR toolchain and run on simavr
//! (lab/actuator/sim): the harness drives it over a pseudo-terminal exactly as it drives a
//! board on a rack, and the emulator's log of key pins shows what a phone's keys would feel.
//!
//! Opt-in: `cargo test -p harness --features real-parts --test real_parts_actuator`. Needs
//! the Debian packages gcc-avr, avr-libc, arduino-core-avr and libsimavr-dev (a missing one
//! fails the test and names it).

#![cfg(feature = "real-parts")]

mod real_parts_support;

use std::time::{Duration, Instant};

use harness::drivers::actuator::serial::{ACTUATOR_BAUD, SerialActuator};
use harness::drivers::transport::{FramedLink, TtyLink};
use harness::drivers::{ButtonActuator, DriverError};
use harness::lab::{Actuator, ActuatorKind};
use real_parts_support::{
    EmulatedBoard, PinEvent, Speed, conformance_script, pins_high_at_end, presses, wiring,
};

const CHANNELS: u16 = 24;

/// A tap is timed with micros(), whose value steps by 4 µs, so the pin may fall up to 4 µs
/// before the full time has passed.
const TAP_EARLY_US: u64 = 4;
/// After the time is up the release waits for the rest of one pass of the wait loop (the 24
/// hold watchdogs, the serial input) and an interrupt that may fall in it: a few tens of µs,
/// measured 8-54 µs; 0.5 ms leaves room and still tells a tap from a tap too long by a tick.
const TAP_LATE_US: u64 = 500;
/// The hold watchdog counts millis(), read at each 1.024 ms timer tick and corrected by a
/// double step now and then: up to about 2 ms either way.
const WATCHDOG_SLACK_US: u64 = 3_000;
/// The firmware's hold watchdog when the host gives none (PROTOCOL.md, "Safety").
const DEFAULT_HOLD_LIMIT_MS: u64 = 120_000;

fn actuator(board: &EmulatedBoard) -> Actuator {
    Actuator {
        name: "keys-emulated".into(),
        port: Some(board.port.clone()),
        channels: CHANNELS,
        kind: ActuatorKind::Serial,
    }
}

/// The harness's driver on the emulated board, opened by path as on a rack. The emulator may
/// fall behind the wall clock on a loaded machine, so replies get more time than a rack's.
fn open_driver(board: &EmulatedBoard) -> SerialActuator {
    SerialActuator::open(&actuator(board))
        .unwrap_or_else(|e| panic!("{e}"))
        .with_reply_timeout(Duration::from_secs(10))
}

fn pin(channel: u16) -> u8 {
    *wiring()
        .get(&channel)
        .unwrap_or_else(|| panic!("WIRING.md names no pin for channel {channel}"))
}

/// A raw line link to the board, for what the driver never sends (lower case, bad input).
struct Terminal {
    link: FramedLink,
}

impl Terminal {
    fn open(board: &EmulatedBoard) -> Terminal {
        let link = TtyLink::open(&board.port, ACTUATOR_BAUD)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", board.port.display()));
        Terminal {
            link: FramedLink::new(Box::new(link)),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.link.write_all(bytes).unwrap();
    }

    /// The next line, unsolicited ones included.
    fn line(&mut self, board: &mut EmulatedBoard, timeout: Duration) -> String {
        match self.link.read_until(b'\n', timeout) {
            Ok(raw) => String::from_utf8_lossy(&raw).into_owned(),
            Err(e) => panic!(
                "no line from the board within {timeout:?}: {e}; {}",
                board.diagnostics()
            ),
        }
    }

    /// The next reply line, skipping `READY` and `EVT` lines as a host does.
    fn reply(&mut self, board: &mut EmulatedBoard, timeout: Duration) -> String {
        loop {
            let line = self.line(board, timeout);
            if !line.starts_with("READY") && !line.starts_with("EVT") {
                return line;
            }
        }
    }

    /// Sends `command` and checks its reply line.
    fn exchange(&mut self, board: &mut EmulatedBoard, command: &str, reply: &str) {
        self.send(format!("{command}\n").as_bytes());
        assert_eq!(
            self.reply(board, Duration::from_secs(5)),
            format!("{reply}\r\n"),
            "`{command}`"
        );
    }
}

#[test]
fn the_emulated_board_answers_the_whole_conformance_script_byte_for_byte() {
    let mut board = EmulatedBoard::start(Speed::Realtime);
    let mut terminal = Terminal::open(&board);
    let script = conformance_script();
    assert!(script.len() >= 28, "the script shrank: {script:?}");
    for (command, reply) in &script {
        terminal.exchange(&mut board, command, reply);
    }
}

/// What the driver does for a script line, when the line has an effect the driver can cause:
/// the driver always sends the canonical form, so `hold 3` and `HOLD 03` become `HOLD 3`, and
/// `HOLD 2 60000` becomes `HOLD 2` (the driver leaves the watchdog at its default; the
/// script ends long before either limit).
#[derive(Debug)]
enum Call {
    Hold(u16),
    Release(u16),
    Tap(u16, u64),
    ReleaseAll,
    Held,
}

fn call_for(command: &str) -> Option<Call> {
    let words: Vec<&str> = command.split(' ').filter(|w| !w.is_empty()).collect();
    let name = words.first()?.to_ascii_uppercase();
    let number = |i: usize| -> Option<u64> {
        let word = words.get(i)?;
        word.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| word.parse().ok())?
    };
    let channel = |i: usize| number(i).and_then(|n| u16::try_from(n).ok());
    match (name.as_str(), words.len()) {
        ("HOLD", 2) => channel(1).map(Call::Hold),
        // A watchdog out of range makes the line an error with no effect.
        ("HOLD", 3) => number(2)
            .filter(|ms| (1..=3_600_000).contains(ms))
            .and(channel(1).map(Call::Hold)),
        ("RELEASE", 2) => channel(1).map(Call::Release),
        ("TAP", 3) => channel(1).zip(number(2)).map(|(c, ms)| Call::Tap(c, ms)),
        ("RELEASEALL", 1) => Some(Call::ReleaseAll),
        ("QUERY", 1) => Some(Call::Held),
        _ => None,
    }
}

#[test]
fn the_harness_driver_runs_the_conformance_script_on_the_emulated_board() {
    let board = EmulatedBoard::start(Speed::Realtime);
    // Opening checks HELLO and the channel count, as on a rack.
    let mut driver = open_driver(&board);
    let mut exchanges = 0;
    for (command, reply) in conformance_script() {
        let Some(call) = call_for(&command) else {
            continue;
        };
        let context = format!("`{command}` -> `{reply}` as {call:?}");
        let result = match &call {
            Call::Hold(c) => driver.hold(*c),
            Call::Release(c) => driver.release(*c),
            Call::Tap(c, ms) => driver.tap(*c, *ms),
            Call::ReleaseAll => driver.release_all(),
            Call::Held => driver.held().map(|held| {
                let list = reply.trim_start_matches("OK QUERY HELD ");
                let expected: Vec<u16> = if list == "-" {
                    vec![]
                } else {
                    list.split(',').map(|w| w.parse().unwrap()).collect()
                };
                assert_eq!(held, expected, "{context}");
            }),
        };
        exchanges += 1;
        if reply.starts_with("OK") {
            result.unwrap_or_else(|e| panic!("{context}: {e}"));
        } else if reply.starts_with("ERR 5 ") {
            // Busy depends on the board's state: only the board can say it.
            match result {
                Err(DriverError::Refused { code: 5, .. }) => {}
                other => panic!("{context}: {other:?}"),
            }
        } else {
            // A bad channel or time: the driver refuses it itself, or the board does.
            assert!(result.is_err(), "{context}");
        }
    }
    assert!(exchanges >= 15, "too few exchanges the driver can make");
    drop(driver);
    let events = board.events();
    assert_eq!(
        pins_high_at_end(&events),
        Vec::<u8>::new(),
        "a key is still pressed after the driver closed: {events:?}"
    );
}

#[test]
fn taps_holds_and_release_all_move_the_pins_as_asked() {
    let mut board = EmulatedBoard::start(Speed::Realtime);
    let mut driver = open_driver(&board);
    let taps = [(5u16, 20u64), (6, 250), (7, 1), (24, 1000)];
    for (channel, ms) in taps {
        driver.tap(channel, ms).unwrap();
    }
    // A hold lasts across other commands until its release.
    driver.hold(1).unwrap();
    driver.tap(8, 30).unwrap();
    driver.hold(2).unwrap();
    driver.release(1).unwrap();
    driver.hold(3).unwrap();
    driver.tap(9, 10).unwrap();
    driver.release_all().unwrap();
    assert_eq!(driver.held().unwrap(), Vec::<u16>::new());
    let events = board.wait_for("release of channel 3", Duration::from_secs(10), |e| {
        presses(e, pin(3)).iter().all(|p| p.to_us.is_some()) && !presses(e, pin(3)).is_empty()
    });

    for (channel, ms) in taps.into_iter().chain([(8, 30), (9, 10)]) {
        let pressed = presses(&events, pin(channel));
        assert_eq!(pressed.len(), 1, "channel {channel}: {pressed:?}");
        let width = pressed[0].width_us().unwrap();
        let asked = ms * 1000;
        assert!(
            (asked - TAP_EARLY_US..=asked + TAP_LATE_US).contains(&width),
            "TAP {channel} {ms} held its pin {width} us"
        );
    }
    let one = presses(&events, pin(1));
    let two = presses(&events, pin(2));
    let three = presses(&events, pin(3));
    let tap8 = presses(&events, pin(8))[0];
    let tap9 = presses(&events, pin(9))[0];
    assert_eq!((one.len(), two.len(), three.len()), (1, 1, 1), "{events:?}");
    let (one, two, three) = (one[0], two[0], three[0]);
    // HOLD 1 stayed through TAP 8 and HOLD 2 and ended at RELEASE 1.
    assert!(one.from_us < tap8.from_us && tap8.to_us < Some(two.from_us));
    assert!(two.from_us < one.to_us.unwrap() && one.to_us.unwrap() < three.from_us);
    // HOLD 2 and HOLD 3 stayed through TAP 9 and both ended at RELEASEALL, in one go.
    assert!(three.from_us < tap9.from_us && tap9.to_us < two.to_us);
    let (end2, end3) = (two.to_us.unwrap(), three.to_us.unwrap());
    assert!(
        end2.abs_diff(end3) < 100,
        "RELEASEALL took {end2} and {end3} us"
    );
    // Only the channels asked for ever moved, and none is left pressed.
    let asked: Vec<u8> = [5, 6, 7, 24, 1, 8, 2, 3, 9].map(pin).to_vec();
    for event in &events {
        if let PinEvent::Pin { pin, .. } = event {
            assert!(asked.contains(pin), "pin {pin} moved: {events:?}");
        }
    }
    drop(driver);
    assert_eq!(pins_high_at_end(&board.events()), Vec::<u8>::new());
}

#[test]
fn keys_left_held_by_a_lost_host_are_released_by_the_hold_watchdog() {
    // Fast: two minutes of board time pass in a few seconds.
    let mut board = EmulatedBoard::start(Speed::Fast);
    let mut terminal = Terminal::open(&board);
    // Channel 6 first: its reply must come before channel 4's watchdog fires, which at this
    // speed is a few wall-clock milliseconds after channel 4's reply.
    terminal.exchange(&mut board, "HOLD 6", "OK HOLD 6");
    terminal.exchange(&mut board, "HOLD 4 1500", "OK HOLD 4 1500");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = terminal.line(
            &mut board,
            deadline.saturating_duration_since(Instant::now()),
        );
        if line == "EVT AUTORELEASE 4\r\n" {
            break;
        }
        assert!(line.starts_with("READY"), "unexpected line {line:?}");
    }
    // The host goes away holding channel 6: nobody will ever release it.
    drop(terminal);
    let events = board.wait_for(
        "release of channel 6 by the watchdog",
        Duration::from_secs(120),
        |e| {
            presses(e, pin(6))
                .first()
                .is_some_and(|p| p.to_us.is_some())
        },
    );
    for (channel, limit_ms) in [(4, 1_500), (6, DEFAULT_HOLD_LIMIT_MS)] {
        let pressed = presses(&events, pin(channel));
        assert_eq!(pressed.len(), 1, "channel {channel}: {pressed:?}");
        let width = pressed[0].width_us().unwrap();
        let limit = limit_ms * 1000;
        assert!(
            width.abs_diff(limit) <= WATCHDOG_SLACK_US,
            "channel {channel} was released after {width} us, not {limit}"
        );
    }
    assert_eq!(pins_high_at_end(&events), Vec::<u8>::new());
}

#[test]
fn a_reset_releases_every_key_and_the_board_says_so() {
    let mut board = EmulatedBoard::start(Speed::Realtime);
    let mut terminal = Terminal::open(&board);
    for channel in [1, 2, 3, 12] {
        terminal.exchange(
            &mut board,
            &format!("HOLD {channel}"),
            &format!("OK HOLD {channel}"),
        );
    }
    board.reset();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = terminal.line(
            &mut board,
            deadline.saturating_duration_since(Instant::now()),
        );
        if line == "READY yealink-actuator 1 channels=24\r\n" {
            break;
        }
    }
    terminal.exchange(&mut board, "QUERY", "OK QUERY HELD -");
    let events = board.wait_for("a reset", Duration::from_secs(5), |e| {
        e.iter().any(|e| matches!(e, PinEvent::Reset { .. }))
    });
    let reset_at = events
        .iter()
        .find_map(|e| match e {
            PinEvent::Reset { at_us } => Some(*at_us),
            _ => None,
        })
        .unwrap();
    for channel in [1, 2, 3, 12] {
        let pressed = presses(&events, pin(channel));
        assert_eq!(pressed.len(), 1, "channel {channel}: {pressed:?}");
        assert_eq!(
            pressed[0].to_us,
            Some(reset_at),
            "channel {channel} not released by the reset: {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .filter(|e| e.at_us() > reset_at)
            .all(|e| !matches!(e, PinEvent::Pin { high: true, .. })),
        "a key was pressed after the reset: {events:?}"
    );
    assert_eq!(pins_high_at_end(&events), Vec::<u8>::new());
}

#[test]
fn commands_sent_during_a_tap_run_afterwards_in_order() {
    let mut board = EmulatedBoard::start(Speed::Realtime);
    let mut terminal = Terminal::open(&board);
    // 172 bytes while the board is busy: more than the 63 its serial driver buffers.
    let mut burst = b"TAP 5 200\n".to_vec();
    for _ in 0..20 {
        burst.extend_from_slice(b"QUERY 5\n");
    }
    burst.extend_from_slice(b"HOLD 7\n");
    terminal.send(&burst);
    let timeout = Duration::from_secs(5);
    assert_eq!(terminal.reply(&mut board, timeout), "OK TAP 5 200\r\n");
    for i in 0..20 {
        assert_eq!(
            terminal.reply(&mut board, timeout),
            "OK QUERY 5 RELEASED\r\n",
            "query {i}"
        );
    }
    assert_eq!(terminal.reply(&mut board, timeout), "OK HOLD 7\r\n");
    terminal.exchange(&mut board, "RELEASEALL", "OK RELEASEALL");
}

#[test]
fn the_wiring_table_names_one_distinct_pin_per_channel() {
    let map = wiring();
    assert_eq!(map.len(), usize::from(CHANNELS), "{map:?}");
    let mut pins: Vec<u8> = map.values().copied().collect();
    pins.sort_unstable();
    pins.dedup();
    assert_eq!(pins.len(), usize::from(CHANNELS), "{map:?}");
    assert_eq!(map[&1], 22);
    assert_eq!(map[&24], 45);
}
