//! Properties of the history importer over arbitrary input: any bytes as `summary.json`,
//! mutations of a real summary, and folder layouts mixing files, links, FIFOs and folders.
//! Whatever the input, the import never panics, never hangs (each property runs under a
//! deadline) and never reads outside the folder; it either records the run or returns a
//! clear error naming the folder, and an error records nothing. Each property prints how
//! many inputs it tried and how they ended.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::history::{HistoryError, IfRecorded, import_folder};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rusqlite::Connection;
use serde_json::{Value, json};

/// Inputs per property: enough to reach every branch of the checks, few enough that the
/// suite stays fast (each input makes a folder and a database).
const CASES: u32 = 256;

/// A property that takes longer than this has hung.
const DEADLINE: Duration = Duration::from_secs(300);

/// Text that must never reach the history: it sits outside every folder.
const SECRET: &str = "SECRET-OUTSIDE-THE-FOLDER";

#[derive(Default)]
struct Tally {
    tried: AtomicUsize,
    recorded: AtomicUsize,
    refused: AtomicUsize,
}

impl Tally {
    fn report(&self, property: &str) {
        eprintln!(
            "{property}: {} inputs, {} recorded, {} refused with an error",
            self.tried.load(Ordering::Relaxed),
            self.recorded.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        );
    }
}

/// Runs `property` over the strategy `make` builds, on a thread of its own; a hang past
/// [`DEADLINE`] fails.
fn check<S, M>(
    name: &'static str,
    make: M,
    property: fn(&S::Value, &Tally) -> Result<(), TestCaseError>,
) where
    S: Strategy + 'static,
    M: FnOnce() -> S + Send + 'static,
{
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let strategy = make();
        let tally = Tally::default();
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy, |input| property(&input, &tally));
        tally.report(name);
        let _ = done.send(result.map_err(|e| e.to_string()));
    });
    match finished.recv_timeout(DEADLINE) {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("{name}: {failure}"),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{name} hung"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{name} panicked"),
    }
}

/// Imports `dir` into a new history (in memory: the property is the importer's, not the
/// disk's), and checks the outcome is one of the two allowed: recorded (one run, its fields
/// as the checks promise) or a clear error naming the folder with nothing recorded.
fn import_and_judge(dir: &Path, tally: &Tally) -> Result<bool, TestCaseError> {
    tally.tried.fetch_add(1, Ordering::Relaxed);
    let mut conn = harness::history::open(Path::new(":memory:"))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let result = import_folder(&mut conn, dir, IfRecorded::Refuse);
    let runs: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    match result {
        Ok(_) => {
            tally.recorded.fetch_add(1, Ordering::Relaxed);
            prop_assert_eq!(runs, 1);
            judge_stored(&conn)?;
            Ok(true)
        }
        Err(e) => {
            tally.refused.fetch_add(1, Ordering::Relaxed);
            let message = e.to_string();
            prop_assert!(
                message.contains(&dir.display().to_string()),
                "the error names the folder: {}",
                message
            );
            prop_assert!(!matches!(e, HistoryError::Database(_)), "{}", message);
            prop_assert_eq!(runs, 0, "an error records nothing: {}", message);
            Ok(false)
        }
    }
}

/// What a recorded run must look like whatever the folder said.
fn judge_stored(conn: &Connection) -> Result<(), TestCaseError> {
    let started: String = conn
        .query_row("SELECT started_at FROM runs", [], |r| r.get(0))
        .unwrap();
    prop_assert!(
        harness::history::timestamp::parse_rfc3339(&started).is_ok() && started.ends_with('Z'),
        "stored start {}",
        started
    );
    let mut names = conn
        .prepare("SELECT scenario, model, bench, coalesce(transcript, '') FROM cases")
        .unwrap();
    let rows: Vec<(String, String, String, String)> = names
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (scenario, model, bench, transcript) in rows {
        let safe = harness::report::run_folder::is_safe_name;
        prop_assert!(safe(&scenario) && safe(&model) && (bench.is_empty() || safe(&bench)));
        prop_assert!(!transcript.contains(SECRET), "read outside the folder");
    }
    Ok(())
}

/// A summary as a run writes it, naming `transcripts/a.txt`.
fn valid_summary() -> Value {
    json!({
        "run_id": "r1", "host": "lab-a", "started_at": "2026-01-01T03:00:00Z",
        "status": "complete", "lab_name": "rack-a", "duration": 12.5, "exit_code": 1,
        "cases": [
            {"scenario": "a", "model": "T46G", "bench": "t46g", "outcome": "pass",
             "detail": "", "duration": 2.0, "attempts": 1, "firmware_seen": ["28.83.0.50"],
             "transcript_file": "transcripts/a.txt"},
            {"scenario": "b", "model": "T46G", "bench": "t46g", "outcome": "fail",
             "detail": "-boot\n+hang\n", "duration": 3.0, "attempts": 2,
             "firmware_seen": [], "diff_file": "diffs/b.txt"}
        ],
        "bench_health": [{"bench": "t46g", "model": "T46G", "state": "recovered",
                          "lab_faults": 1, "retries": 1, "detail": "relay"}]
    })
}

/// Values a mutation puts in a field: the hostile, the wrong type, the out of range.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "",
            ".",
            "..",
            "../../etc/passwd",
            "/etc/passwd",
            "x/../../../../tmp/PWNED",
            "a b",
            "é",
            "T46G\n",
            "zzzz",
            "9999-12-31T23:59:59Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T03:00:00+01:00",
            "pass",
            "exploded",
            "lab-fault",
            "complete",
            "partial",
            "transcripts",
            "transcripts/a.txt",
            "transcripts/../a.txt",
            "summary.json",
            "healthy",
            "bad",
        ])
        .prop_map(|s| json!(s)),
        "[ -~]{0,40}".prop_map(|s| json!(s)),
        "\\PC{0,20}".prop_map(|s| json!(s)),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{"scenario": "c"}])),
        Just(json!("x".repeat(200))),
    ]
}

/// Where a mutation lands in [`valid_summary`].
const FIELDS: &[&str] = &[
    "/run_id",
    "/host",
    "/started_at",
    "/status",
    "/lab_name",
    "/duration",
    "/exit_code",
    "/approval",
    "/cases",
    "/cases/0",
    "/cases/0/scenario",
    "/cases/0/model",
    "/cases/0/bench",
    "/cases/0/outcome",
    "/cases/0/detail",
    "/cases/0/duration",
    "/cases/0/attempts",
    "/cases/0/firmware_seen",
    "/cases/0/firmware_seen/0",
    "/cases/0/transcript_file",
    "/cases/1/diff_file",
    "/cases/1/outcome",
    "/bench_health",
    "/bench_health/0/bench",
    "/bench_health/0/state",
    "/bench_health/0/lab_faults",
    "/bench_health/0/detail",
];

#[derive(Debug, Clone)]
enum Mutation {
    Set(&'static str, Value),
    Remove(&'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (prop::sample::select(FIELDS), hostile_value()).prop_map(|(f, v)| Mutation::Set(f, v)),
        1 => prop::sample::select(FIELDS).prop_map(Mutation::Remove),
    ]
}

fn apply(summary: &mut Value, mutation: &Mutation) {
    let (path, value) = match mutation {
        Mutation::Set(path, value) => (*path, Some(value.clone())),
        Mutation::Remove(path) => (*path, None),
    };
    let (parent, key) = path.rsplit_once('/').unwrap();
    let Some(parent) = summary.pointer_mut(if parent.is_empty() { "" } else { parent }) else {
        return;
    };
    match (parent, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.into(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => {
            if let Some(slot) = key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = v;
            }
        }
        (Value::Array(items), None) => {
            if let Ok(i) = key.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// A folder with the files [`valid_summary`] names, and `summary` as its summary.
fn folder_with(root: &Path, summary: &[u8]) -> std::path::PathBuf {
    let dir = root.join("run");
    std::fs::create_dir_all(dir.join("transcripts")).unwrap();
    std::fs::create_dir_all(dir.join("diffs")).unwrap();
    std::fs::write(dir.join("transcripts/a.txt"), "a transcript\n").unwrap();
    std::fs::write(dir.join("diffs/b.txt"), "-boot\n+hang\n").unwrap();
    std::fs::write(dir.join("summary.json"), summary).unwrap();
    dir
}

#[test]
fn any_bytes_as_a_summary_are_recorded_or_refused_clearly() {
    let strategy = || {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            // Bytes around a real summary: a truncation or a splice of it.
            (0..1024usize, prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(cut, noise)| {
                let mut text = serde_json::to_vec(&valid_summary()).unwrap();
                text.truncate(cut);
                text.extend(noise);
                text
            }),
        ]
    };
    check("any bytes as summary.json", strategy, |bytes, tally| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = folder_with(tmp.path(), bytes);
        import_and_judge(&dir, tally)?;
        Ok(())
    });
}

#[test]
fn mutated_summaries_are_recorded_or_refused_clearly() {
    let strategy = || prop::collection::vec(mutation(), 1..4);
    check("mutated summaries", strategy, |mutations, tally| {
        let mut summary = valid_summary();
        for m in mutations {
            apply(&mut summary, m);
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = folder_with(tmp.path(), &serde_json::to_vec(&summary).unwrap());
        import_and_judge(&dir, tally)?;
        Ok(())
    });
}

/// What stands where the summary names a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File,
    Empty,
    /// A sparse regular file over the transcript cap.
    Huge,
    LinkToSecret,
    LinkToDevZero,
    LinkToSibling,
    Fifo,
    Folder,
    Missing,
}

/// What stands where the transcript's folder should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    Folder,
    LinkToFolderOutside,
    File,
    Fifo,
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn make_entry(path: &Path, entry: Entry, secret: &Path) {
    match entry {
        Entry::File => std::fs::write(path, "a transcript\n").unwrap(),
        Entry::Empty => std::fs::write(path, "").unwrap(),
        Entry::Huge => std::fs::File::create(path)
            .unwrap()
            .set_len(2 << 20)
            .unwrap(),
        Entry::LinkToSecret => std::os::unix::fs::symlink(secret, path).unwrap(),
        Entry::LinkToDevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Entry::LinkToSibling => {
            let sibling = path.with_extension("sibling");
            std::fs::write(&sibling, "sibling\n").unwrap();
            std::os::unix::fs::symlink(&sibling, path).unwrap();
        }
        Entry::Fifo => mkfifo(path),
        Entry::Folder => std::fs::create_dir(path).unwrap(),
        Entry::Missing => {}
    }
}

#[test]
fn folder_layouts_are_recorded_only_when_every_named_file_is_a_plain_file() {
    let strategy = || {
        // Plain files weighted up, so layouts that must be recorded come up often too.
        let entry = prop::sample::select(vec![
            Entry::File,
            Entry::File,
            Entry::File,
            Entry::File,
            Entry::Empty,
            Entry::Huge,
            Entry::LinkToSecret,
            Entry::LinkToDevZero,
            Entry::LinkToSibling,
            Entry::Fifo,
            Entry::Folder,
            Entry::Missing,
        ]);
        let parent = prop::sample::select(vec![
            Parent::Folder,
            Parent::Folder,
            Parent::LinkToFolderOutside,
            Parent::File,
            Parent::Fifo,
        ]);
        (parent, prop::collection::vec(entry, 1..5))
    };
    check("folder layouts", strategy, |(parent, entries), tally| {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("secret.txt");
        std::fs::write(&secret, SECRET).unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        let transcripts = dir.join("transcripts");
        let outside = tmp.path().join("outside");
        match parent {
            Parent::Folder => std::fs::create_dir(&transcripts).unwrap(),
            Parent::LinkToFolderOutside => {
                std::fs::create_dir(&outside).unwrap();
                std::os::unix::fs::symlink(&outside, &transcripts).unwrap();
            }
            Parent::File => std::fs::write(&transcripts, "not a folder").unwrap(),
            Parent::Fifo => mkfifo(&transcripts),
        }
        let mut cases = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let name = format!("c{i}.txt");
            if matches!(parent, Parent::Folder | Parent::LinkToFolderOutside) {
                // Through the link the files land outside: the secret among them.
                let holder = if *parent == Parent::Folder {
                    &transcripts
                } else {
                    &outside
                };
                make_entry(&holder.join(&name), *entry, &secret);
                if *parent == Parent::LinkToFolderOutside && *entry == Entry::File {
                    std::fs::write(holder.join(&name), SECRET).unwrap();
                }
            }
            cases.push(json!({"scenario": format!("s{i}"), "model": "T46G",
                              "bench": "t46g", "outcome": "pass",
                              "transcript_file": format!("transcripts/{name}")}));
        }
        let summary = json!({"run_id": "r1", "host": "lab-a",
                             "started_at": "2026-01-01T03:00:00Z", "cases": cases});
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
        let recorded = import_and_judge(&dir, tally)?;
        let plain = *parent == Parent::Folder
            && entries
                .iter()
                .all(|e| matches!(e, Entry::File | Entry::Empty));
        prop_assert_eq!(recorded, plain, "{:?} {:?}", parent, entries);
        Ok(())
    });
}
