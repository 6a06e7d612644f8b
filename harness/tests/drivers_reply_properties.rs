//! The reply parsers of the serial drivers (actuator, Numato, LCUS) fed arbitrary and
//! mutated bytes through a link that answers each write from a script and then falls
//! silent, so every case ends. Each property checks: no panic, no hang, a bounded amount
//! read, and either the value the wire really carried or a typed lab-fault error.
//!
//! The runners print how many inputs ended which way (`cargo test -- --nocapture`).

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::drivers::actuator::serial::SerialActuator;
use harness::drivers::power::lcus::LcusFrame;
use harness::drivers::power::lcus::LcusSwitch;
use harness::drivers::power::numato::NumatoSwitch;
use harness::drivers::transport::{MAX_PENDING_BYTES, SerialLink};
use harness::drivers::{ButtonActuator, DeviceRef, DriverError, PowerSwitch};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per property: enough to reach every branch of the small grammars below, few
/// enough to keep `cargo test` fast.
const CASES: u32 = 256;

/// A device on a script: bytes pending before the host speaks, then one answer per write.
/// Once the script is spent it says nothing (reads time out at once), so no case can hang.
struct ScriptedDevice {
    readable: VecDeque<u8>,
    answers: VecDeque<Vec<u8>>,
    /// The most one read hands over, as a USB serial adapter splits what it receives.
    chunk: usize,
    /// Every byte handed to the driver, shared with the test.
    read_total: Arc<AtomicUsize>,
}

impl ScriptedDevice {
    fn new(before: Vec<u8>, answers: Vec<Vec<u8>>, chunk: usize) -> (Self, Arc<AtomicUsize>) {
        let read_total = Arc::new(AtomicUsize::new(0));
        let device = ScriptedDevice {
            readable: before.into(),
            answers: answers.into(),
            chunk: chunk.max(1),
            read_total: Arc::clone(&read_total),
        };
        (device, read_total)
    }
}

impl SerialLink for ScriptedDevice {
    fn write_all(&mut self, _bytes: &[u8]) -> io::Result<()> {
        if let Some(answer) = self.answers.pop_front() {
            self.readable.extend(answer);
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<usize> {
        if self.readable.is_empty() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "script spent"));
        }
        let n = self.chunk.min(buf.len()).min(self.readable.len());
        for (slot, byte) in buf.iter_mut().zip(self.readable.drain(..n)) {
            *slot = byte;
        }
        self.read_total.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }
}

fn device(table: &'static str) -> DeviceRef {
    DeviceRef {
        table,
        name: "fuzzed".into(),
        port: PathBuf::from("/dev/null"),
    }
}

/// Tallies how the cases of one property ended.
#[derive(Default)]
struct Tally {
    cases: AtomicUsize,
    ok: AtomicUsize,
    typed_error: AtomicUsize,
}

impl Tally {
    fn report(&self, property: &str) {
        eprintln!(
            "{property}: {} inputs, {} right value, {} typed lab-fault error, 0 panics, 0 hangs, 0 wrong values",
            self.cases.load(Ordering::SeqCst),
            self.ok.load(Ordering::SeqCst),
            self.typed_error.load(Ordering::SeqCst),
        );
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

/// An error a garbled, truncated or flooding device may cause: typed, and a lab fault.
fn check_lab_fault(err: &DriverError) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            err,
            DriverError::Timeout { .. }
                | DriverError::Protocol { .. }
                | DriverError::ChannelCount { .. }
                | DriverError::Refused { .. }
        ),
        "unexpected variant: {err:?}"
    );
    if let DriverError::Refused { code, .. } = err {
        // The only refusal a scenario causes; the fuzzed board may send it, and then it is
        // the scenario's error as the protocol says.
        prop_assert!(err.is_lab_fault() == (*code != 5), "{err:?}");
    } else {
        prop_assert!(err.is_lab_fault(), "{err:?}");
    }
    Ok(())
}

// ---- the actuator -------------------------------------------------------------------

const HELLO_LINE: &str = "OK HELLO yealink-actuator 1 channels=8";

/// One line a board might send: valid, stale, unsolicited, or nonsense.
fn actuator_line() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(HELLO_LINE.to_string()),
        Just("OK HELLO yealink-actuator 1 channels=24".to_string()),
        Just("OK HELLO yealink-actuator 2 channels=8".to_string()),
        Just("OK HOLD 1".to_string()),
        Just("OK TAP 1 2000".to_string()),
        (0u16..12).prop_map(|ch| format!("OK QUERY HELD {ch}")),
        Just("OK QUERY HELD -".to_string()),
        Just("OK QUERY HELD 3,1".to_string()),
        (0u16..8).prop_map(|code| format!("ERR {code} some text")),
        Just("READY yealink-actuator 1 channels=8".to_string()),
        Just("EVT AUTORELEASE 1".to_string()),
        Just(String::new()),
        "[ -~]{0,40}",
    ]
    .prop_map(String::into_bytes);
    let end = prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b""[..])];
    (line, end).prop_map(|(mut line, end)| {
        line.extend_from_slice(end);
        line
    })
}

/// An answer to a command whose right answer is `right`: lines of the grammar, then
/// (mostly) the right line, or plain random bytes.
fn actuator_answer(right: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let lines = proptest::collection::vec(actuator_line(), 0..3).prop_map(|l| l.concat());
    prop_oneof![
        3 => (lines, proptest::bool::weighted(0.75)).prop_map(move |(mut bytes, with_right)| {
            if with_right {
                bytes.extend_from_slice(right.as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
            bytes
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// The sorted channels of an `OK QUERY HELD` line, as the protocol defines them.
fn held_on_wire(line: &str) -> Option<Vec<u16>> {
    let list = line.strip_prefix("OK QUERY HELD ")?;
    if list == "-" {
        return Some(Vec::new());
    }
    let mut held: Vec<u16> = list
        .split(',')
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    held.sort_unstable();
    Some(held)
}

fn wire_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split(['\r', '\n'])
        .map(str::to_string)
        .collect()
}

#[test]
fn actuator_replies_of_any_shape_give_the_wire_value_or_a_typed_error() {
    let tally = Tally::default();
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..100),
        actuator_answer(HELLO_LINE),
        actuator_answer("OK HOLD 1"),
        actuator_answer("OK QUERY HELD 1"),
        proptest::collection::vec(actuator_answer("OK HELLO"), 0..2),
        1usize..64,
    );
    runner()
        .run(&strategy, |(before, hello, hold, query, extra, chunk)| {
            let mut answers = vec![hello, hold, query];
            answers.extend(extra);
            tally.cases.fetch_add(1, Ordering::SeqCst);
            let transcript: Vec<u8> = answers.concat();
            let lines = wire_lines(&transcript);
            let (link, read_total) = ScriptedDevice::new(before.clone(), answers, chunk);
            let result = SerialActuator::connect(Box::new(link), device("actuator"), 8).and_then(
                |mut actuator| {
                    actuator.hold(1)?;
                    let held = actuator.held()?;
                    Ok(held)
                },
            );
            let budget = before.len() + transcript.len();
            prop_assert!(read_total.load(Ordering::SeqCst) <= budget);
            match result {
                Ok(held) => {
                    prop_assert!(lines.iter().any(|l| l == HELLO_LINE), "{lines:?}");
                    prop_assert!(lines.iter().any(|l| l == "OK HOLD 1"), "{lines:?}");
                    prop_assert!(
                        lines
                            .iter()
                            .any(|l| held_on_wire(l).as_ref() == Some(&held)),
                        "held {held:?} is on no line of {lines:?}"
                    );
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                }
                Err(err) => {
                    check_lab_fault(&err)?;
                    tally.typed_error.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.report("actuator, arbitrary replies");
}

/// One edit of a byte string: never a digit, `,` or `-` written in, so an edit cannot turn
/// one valid value into another (which no parser could notice).
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Replace(usize, u8),
    Insert(usize, u8),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = any::<u8>().prop_filter("no digit, comma, dash or letter", |b| {
        !b.is_ascii_alphanumeric() && *b != b',' && *b != b'-'
    });
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, edit: &Mutation) -> Vec<u8> {
    let len = bytes.len();
    match *edit {
        Mutation::Delete(at) if len > 0 => {
            bytes.remove(at % len);
        }
        Mutation::Replace(at, b) if len > 0 => bytes[at % len] = b,
        Mutation::Insert(at, b) => bytes.insert(at % (len + 1), b),
        Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
        _ => {}
    }
    bytes
}

#[test]
fn actuator_mutated_replies_give_the_right_value_or_a_typed_error() {
    let tally = Tally::default();
    let session: [&[u8]; 3] = [
        b"OK HELLO yealink-actuator 1 channels=8\r\n",
        b"OK HOLD 1\r\n",
        b"OK QUERY HELD 1\r\n",
    ];
    let strategy = (0usize..3, mutation(), 1usize..64);
    runner()
        .run(&strategy, |(which, edit, chunk)| {
            tally.cases.fetch_add(1, Ordering::SeqCst);
            let answers: Vec<Vec<u8>> = session
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    if i == which {
                        mutate(a.to_vec(), &edit)
                    } else {
                        a.to_vec()
                    }
                })
                .collect();
            let (link, _) = ScriptedDevice::new(Vec::new(), answers, chunk);
            let result = SerialActuator::connect(Box::new(link), device("actuator"), 8).and_then(
                |mut actuator| {
                    actuator.hold(1)?;
                    actuator.held()
                },
            );
            match result {
                Ok(held) => {
                    prop_assert_eq!(held, vec![1u16]);
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                }
                Err(err) => {
                    check_lab_fault(&err)?;
                    tally.typed_error.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.report("actuator, mutated replies");
}

#[test]
fn an_actuator_line_without_end_is_capped() {
    let flood = vec![b'O'; 1 << 20];
    let (link, read_total) = ScriptedDevice::new(Vec::new(), vec![flood], 256);
    let err = SerialActuator::connect(Box::new(link), device("actuator"), 8)
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Protocol { .. }), "{err:?}");
    let read = read_total.load(Ordering::SeqCst);
    assert!(
        read <= MAX_PENDING_BYTES + 256,
        "read {read} bytes of a line that never ends"
    );
}

// ---- Numato ---------------------------------------------------------------------------

const READ_ANSWER: &[u8] = b"relay read 2\r\n\roff\n\r>";

fn numato_answer() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\r\n\r>".to_vec()),
        Just(READ_ANSWER.to_vec()),
        Just(b"relay read 2\r\n\ron\n\r>".to_vec()),
        Just(b"relay read 3\r\n\roff\n\r>".to_vec()),
        Just(b">".to_vec()),
        Just(b"\n\r".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

#[test]
fn numato_replies_of_any_shape_give_the_wire_value_or_a_typed_error() {
    let tally = Tally::default();
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..100),
        proptest::collection::vec(numato_answer(), 0..4),
        1usize..64,
    );
    runner()
        .run(&strategy, |(before, answers, chunk)| {
            tally.cases.fetch_add(1, Ordering::SeqCst);
            let transcript = answers.concat();
            let (link, read_total) = ScriptedDevice::new(before.clone(), answers, chunk);
            let result = NumatoSwitch::connect(Box::new(link), device("relay_board"), 8)
                .and_then(|mut switch| switch.get(2));
            prop_assert!(read_total.load(Ordering::SeqCst) <= before.len() + transcript.len());
            match result {
                Ok(state) => {
                    // The value must come from an answer to this very command on the wire.
                    let word: &[u8] = match state {
                        Some(true) => b"on",
                        Some(false) => b"off",
                        None => return Err(TestCaseError::fail("a Numato module reads back")),
                    };
                    let contains =
                        |needle: &[u8]| transcript.windows(needle.len()).any(|w| w == needle);
                    prop_assert!(contains(b"relay read 2\r") && contains(word), "{state:?}");
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                }
                Err(err) => {
                    check_lab_fault(&err)?;
                    tally.typed_error.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.report("Numato, arbitrary replies");
}

#[test]
fn numato_mutated_replies_give_the_right_value_or_a_typed_error() {
    let tally = Tally::default();
    let strategy = (0usize..2, mutation(), 1usize..64);
    runner()
        .run(&strategy, |(which, edit, chunk)| {
            tally.cases.fetch_add(1, Ordering::SeqCst);
            let session = [b"\r\n\r>".to_vec(), READ_ANSWER.to_vec()];
            let answers: Vec<Vec<u8>> = session
                .into_iter()
                .enumerate()
                .map(|(i, a)| if i == which { mutate(a, &edit) } else { a })
                .collect();
            let (link, _) = ScriptedDevice::new(Vec::new(), answers, chunk);
            let result = NumatoSwitch::connect(Box::new(link), device("relay_board"), 8)
                .and_then(|mut switch| switch.get(2));
            match result {
                Ok(state) => {
                    prop_assert_eq!(state, Some(false));
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                }
                Err(err) => {
                    check_lab_fault(&err)?;
                    tally.typed_error.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.report("Numato, mutated replies");
}

#[test]
fn a_numato_answer_without_prompt_is_capped() {
    let flood = vec![b'x'; 1 << 20];
    let (link, read_total) = ScriptedDevice::new(Vec::new(), vec![flood], 256);
    let err = NumatoSwitch::connect(Box::new(link), device("relay_board"), 8)
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Protocol { .. }), "{err:?}");
    assert!(read_total.load(Ordering::SeqCst) <= MAX_PENDING_BYTES + 256);
}

// ---- LCUS -----------------------------------------------------------------------------

#[test]
fn lcus_input_of_any_shape_is_dropped_or_a_typed_error() {
    let tally = Tally::default();
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..6000),
        proptest::collection::vec(any::<u8>(), 0..64),
        1usize..300,
    );
    runner()
        .run(&strategy, |(before, answer, chunk)| {
            tally.cases.fetch_add(1, Ordering::SeqCst);
            // The board "answers" the first frame with noise a real LCUS never sends.
            let (link, read_total) =
                ScriptedDevice::new(before.clone(), vec![answer.clone()], chunk);
            let result = LcusSwitch::new(
                Box::new(link),
                device("relay_board"),
                LcusFrame::default(),
                8,
            )
            .and_then(|mut switch| {
                switch.set(1, true)?;
                switch.set(1, false)?;
                switch.get(1)
            });
            prop_assert!(read_total.load(Ordering::SeqCst) <= before.len() + answer.len());
            match result {
                Ok(state) => {
                    prop_assert_eq!(state, None, "an LCUS board cannot read back");
                    prop_assert!(before.len() <= MAX_PENDING_BYTES);
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                }
                Err(err) => {
                    prop_assert!(matches!(err, DriverError::Protocol { .. }), "{err:?}");
                    prop_assert!(err.is_lab_fault());
                    prop_assert!(before.len() > MAX_PENDING_BYTES);
                    tally.typed_error.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.report("LCUS, arbitrary input");
}
