//! Property tests of the lab-file and scenario readers: arbitrary bytes, and the committed
//! files of `lab/` and `scenarios/` with lines dropped, tables duplicated, values of another
//! type, unicode and control characters, and huge numbers. Whatever the input, a reader
//! returns either a checked value whose invariants hold or an error whose every line names
//! the file; it never panics and never hangs.
//!
//! Each property runs a fixed number of cases and prints how they ended (run with
//! `--nocapture` to see the counts).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use harness::config_error::ConfigError;
use harness::lab::name::is_safe_name;
use harness::lab::{self, Lab, UsbConfig};
use harness::scenario::Scenario;
use harness::scenario::load as scenario;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per property: enough to reach every mutation of every committed file many times,
/// few enough that the suite stays fast in a debug build.
const CASES: u32 = 200;

/// Far more than any reading takes; past it the reader is taken to hang.
const HANG_LIMIT: Duration = Duration::from_secs(20);

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// The committed lab files, as texts to mutate.
fn lab_files() -> Vec<String> {
    ["lab/virtual.toml", "lab/rack.example.toml"]
        .iter()
        .map(|f| std::fs::read_to_string(repo_file(f)).unwrap())
        .collect()
}

/// The committed scenario files, as texts to mutate.
fn scenario_files() -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_file("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// One change to a file, by line; indices are taken modulo the line count.
#[derive(Debug, Clone)]
enum Mutation {
    DropLine(usize),
    /// Copies the table (header to the next header) that holds the line, right after it.
    DuplicateTable(usize),
    /// Gives the line's value another type.
    Retype(usize, &'static str),
    /// Inserts characters at a character position of the line.
    Insert(usize, usize, &'static str),
    /// Swaps the line's first number for a huge, tiny or special one.
    HugeNumber(usize, &'static str),
}

const OTHER_TYPES: [&str; 10] = [
    "\"text\"",
    "42",
    "-1",
    "1.5",
    "true",
    "[1, \"two\", 3.0]",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
    "[]",
    "\"\"",
];

const CHARACTERS: [&str; 14] = [
    "\u{0}",
    "\u{7}",
    "\t",
    "\r",
    "\n",
    "\u{1b}[31m",
    "é",
    "\u{202e}",
    "\u{feff}",
    "😀",
    "/../",
    "\"",
    "[",
    "=",
];

const NUMBERS: [&str; 9] = [
    "99999999999999999999999",
    "-9223372036854775809",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "1e-300",
    "nan",
    "inf",
    "65536",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = 0..10_000usize;
    prop_oneof![
        line.clone().prop_map(Mutation::DropLine),
        line.clone().prop_map(Mutation::DuplicateTable),
        (line.clone(), prop::sample::select(&OTHER_TYPES[..]))
            .prop_map(|(l, t)| Mutation::Retype(l, t)),
        (
            line.clone(),
            0..200usize,
            prop::sample::select(&CHARACTERS[..])
        )
            .prop_map(|(l, at, c)| Mutation::Insert(l, at, c)),
        (line, prop::sample::select(&NUMBERS[..])).prop_map(|(l, n)| Mutation::HugeNumber(l, n)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for mutation in mutations {
        if lines.is_empty() {
            break;
        }
        let count = lines.len();
        match mutation {
            Mutation::DropLine(at) => {
                lines.remove(at % count);
            }
            Mutation::DuplicateTable(at) => {
                let at = at % count;
                let is_header = |l: &String| l.trim_start().starts_with('[');
                let start = (0..=at).rev().find(|i| is_header(&lines[*i])).unwrap_or(0);
                let end = (start + 1..count)
                    .find(|i| is_header(&lines[*i]))
                    .unwrap_or(count);
                let table: Vec<String> = lines[start..end].to_vec();
                lines.splice(end..end, table);
            }
            Mutation::Retype(at, value) => {
                let line = &mut lines[at % count];
                if let Some(eq) = line.find('=') {
                    line.replace_range(eq + 1.., &format!(" {value}"));
                }
            }
            Mutation::Insert(at, position, characters) => {
                let line = &mut lines[at % count];
                let byte = line
                    .char_indices()
                    .nth(*position % (line.chars().count() + 1))
                    .map_or(line.len(), |(i, _)| i);
                line.insert_str(byte, characters);
            }
            Mutation::HugeNumber(at, number) => {
                let line = &mut lines[at % count];
                if let Some(start) = line.find(|c: char| c.is_ascii_digit()) {
                    let end = line[start..]
                        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .map_or(line.len(), |i| start + i);
                    line.replace_range(start..end, number);
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Runs `read` on its own thread: a hang fails the case instead of the whole suite.
fn within_limit<T: Send + 'static>(
    read: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TestCaseError> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(read());
    });
    match receive.recv_timeout(HANG_LIMIT) {
        Ok(value) => Ok(value),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail("the reader hung")),
        // The thread ended without sending: it panicked (its message is on stderr).
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(TestCaseError::fail("the reader panicked"))
        }
    }
}

/// Every problem names `file`, says something, and points inside the text.
fn clear_error(error: &ConfigError, file: &Path, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!error.problems().is_empty());
    let lines = text.split('\n').count();
    for problem in error.problems() {
        prop_assert_eq!(&problem.file, file);
        prop_assert!(
            !problem.message.trim().is_empty(),
            "empty message: {problem:?}"
        );
        if let Some(position) = problem.position {
            prop_assert!(
                position.line >= 1 && position.line <= lines && position.column >= 1,
                "position outside the text: {problem:?}"
            );
        }
        prop_assert!(problem.to_string().starts_with(&file.display().to_string()));
    }
    Ok(())
}

/// What an accepted lab promises: names that can become file names, and no phone, relay
/// channel, serial port or stick claimed twice.
fn lab_invariants(lab: &Lab) -> Result<(), TestCaseError> {
    prop_assert!((0.001..=10.0).contains(&lab.time_scale));
    prop_assert!(lab.endpoints.provisioning.is_ipv4() && lab.endpoints.sip.is_ipv4());
    let mut ports = BTreeSet::new();
    for board in &lab.relay_boards {
        prop_assert!(is_safe_name(&board.name), "board name {:?}", board.name);
        if let Some(port) = &board.port {
            prop_assert!(
                ports.insert(port.components().collect::<PathBuf>()),
                "port {port:?} twice"
            );
        }
    }
    for actuator in &lab.actuators {
        prop_assert!(
            is_safe_name(&actuator.name),
            "actuator name {:?}",
            actuator.name
        );
        if let Some(port) = &actuator.port {
            prop_assert!(
                ports.insert(port.components().collect::<PathBuf>()),
                "port {port:?} twice"
            );
        }
    }
    let (mut names, mut macs, mut ips, mut relays, mut sticks) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for bench in &lab.benches {
        prop_assert!(is_safe_name(&bench.name), "bench name {:?}", bench.name);
        prop_assert!(names.insert(bench.name.clone()));
        prop_assert!(bench.mac.0[0] & 1 == 0, "group MAC {:?}", bench.mac);
        prop_assert!(macs.insert(bench.mac));
        prop_assert!(
            !(bench.ip.is_unspecified() || bench.ip.is_broadcast() || bench.ip.is_multicast()),
            "group IP {}",
            bench.ip
        );
        prop_assert!(ips.insert(bench.ip));
        prop_assert!(relays.insert((bench.power.board.clone(), bench.power.channel)));
        if let Some(network) = &bench.network {
            prop_assert!(relays.insert((network.board.clone(), network.channel)));
        }
        if let Some(UsbConfig::ImageFile { path } | UsbConfig::BlockDevice { path, .. }) =
            &bench.usb
        {
            prop_assert!(sticks.insert(path.components().collect::<PathBuf>()));
        }
    }
    Ok(())
}

/// What an accepted scenario promises: a name that can become a file name and dial
/// strings the phone keeps whole.
fn scenario_invariants(scenario: &Scenario) -> Result<(), TestCaseError> {
    prop_assert!(is_safe_name(&scenario.name));
    for step in &scenario.steps {
        if let [("dial", digits)] = step.written().as_slice() {
            let digits: String = toml::from_str::<toml::Value>(&format!("d = {digits}"))
                .ok()
                .and_then(|v| v.get("d").and_then(|d| d.as_str()).map(str::to_string))
                .unwrap_or_default();
            prop_assert!(!digits.is_empty() && digits.chars().count() <= 32);
        }
    }
    Ok(())
}

/// How the cases of one property ended.
#[derive(Default)]
struct Tally {
    accepted: usize,
    refused: usize,
}

impl Tally {
    fn report(&self, what: &str) {
        eprintln!(
            "{what}: {} inputs, {} accepted (invariants held), {} clear errors, 0 panics, 0 hangs",
            self.accepted + self.refused,
            self.accepted,
            self.refused
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

/// Reads a lab from `text` at `file`, checking the outcome.
fn check_lab(
    text: String,
    file: &Path,
    tally: &std::cell::RefCell<Tally>,
) -> Result<(), TestCaseError> {
    let owned = file.to_path_buf();
    let read_text = text.clone();
    let result = within_limit(move || lab::parse(&read_text, &owned))?;
    match result {
        Ok(lab) => {
            lab_invariants(&lab)?;
            tally.borrow_mut().accepted += 1;
        }
        Err(error) => {
            clear_error(&error, file, &text)?;
            tally.borrow_mut().refused += 1;
        }
    }
    Ok(())
}

/// Reads a scenario from `text` at `file`, checking the outcome.
fn check_scenario(
    text: String,
    file: &Path,
    tally: &std::cell::RefCell<Tally>,
) -> Result<(), TestCaseError> {
    let owned = file.to_path_buf();
    let read_text = text.clone();
    let result = within_limit(move || scenario::parse(&read_text, &owned))?;
    match result {
        Ok(scenario) => {
            scenario_invariants(&scenario)?;
            tally.borrow_mut().accepted += 1;
        }
        Err(error) => {
            clear_error(&error, file, &text)?;
            tally.borrow_mut().refused += 1;
        }
    }
    Ok(())
}

/// Arbitrary bytes, written to a file and loaded: bytes that are not UTF-8 give the
/// "cannot read" error, the rest go through the whole reader.
fn arbitrary_bytes_of(what: &str, load: fn(&Path) -> Result<(), ConfigError>, file_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(file_name);
    let tally = std::cell::RefCell::new(Tally::default());
    let bytes = prop::collection::vec(any::<u8>(), 0..600);
    // Bytes biased towards TOML's own characters reach past the syntax check more often.
    let tomlish = prop::collection::vec(
        prop::sample::select(b"[]{}=\"'.,#\n abc_019-:".to_vec()),
        0..600,
    );
    runner()
        .run(&prop_oneof![bytes, tomlish], |bytes| {
            std::fs::write(&file, &bytes).unwrap();
            let path = file.clone();
            match within_limit(move || load(&path))? {
                Ok(()) => tally.borrow_mut().accepted += 1,
                Err(error) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    clear_error(&error, &file, &text)?;
                    tally.borrow_mut().refused += 1;
                }
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{what}: {failure}"));
    tally.borrow().report(what);
}

#[test]
fn the_lab_reader_takes_arbitrary_bytes() {
    arbitrary_bytes_of(
        "lab reader, arbitrary bytes",
        |path| lab::load(path).map(|_| ()),
        "lab.toml",
    );
}

#[test]
fn the_scenario_reader_takes_arbitrary_bytes() {
    arbitrary_bytes_of(
        "scenario reader, arbitrary bytes",
        |path| scenario::load_file(path).map(|_| ()),
        "case.toml",
    );
}

#[test]
fn the_lab_reader_takes_mutated_lab_files() {
    let files = lab_files();
    let tally = std::cell::RefCell::new(Tally::default());
    let strategy = (0..files.len(), prop::collection::vec(mutation(), 1..5));
    runner()
        .run(&strategy, |(which, mutations)| {
            let text = apply(&files[which], &mutations);
            check_lab(text, Path::new("lab/mutated.toml"), &tally)
        })
        .unwrap_or_else(|failure| panic!("mutated lab files: {failure}"));
    tally.borrow().report("lab reader, mutated lab files");
}

#[test]
fn the_scenario_reader_takes_mutated_scenarios() {
    let files = scenario_files();
    let tally = std::cell::RefCell::new(Tally::default());
    let strategy = (0..files.len(), prop::collection::vec(mutation(), 1..5));
    runner()
        .run(&strategy, |(which, mutations)| {
            let text = apply(&files[which], &mutations);
            check_scenario(text, Path::new("scenarios/mutated.toml"), &tally)
        })
        .unwrap_or_else(|failure| panic!("mutated scenarios: {failure}"));
    tally.borrow().report("scenario reader, mutated scenarios");
}

/// Unmutated, the committed files load: the mutations above start from valid files.
#[test]
fn the_files_mutated_above_load_as_they_are() {
    for text in lab_files() {
        lab::parse(&text, Path::new("lab.toml")).unwrap_or_else(|e| panic!("{e}"));
    }
    for text in scenario_files() {
        scenario::parse(&text, Path::new("case.toml")).unwrap_or_else(|e| panic!("{e}"));
    }
}
