//! `harness history import` on run folders made to hurt: links out of the folder, special
//! files, files that never end, forged run ids, bad fields, paths that climb out. Each is
//! refused with an error naming the folder, the file and the field, and records nothing;
//! the import never hangs and its memory stays bounded. Through the binary, under a
//! deadline and an address-space limit, so a regression fails the test instead of hanging
//! it or exhausting the machine.

mod common;

use std::ffi::{CString, OsStr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::outcome::Outcome;
use harness::report::run_folder::finish;
use harness::report::{CaseReport, RunReport};

/// How long an import may take before the test calls it hung: far above any real import
/// of these small folders, only there so a hang fails instead of blocking the suite.
const HANG_DEADLINE: Duration = Duration::from_secs(120);

/// The address space the importer gets: enough for the binary, its runtime and SQLite,
/// far below what reading `/dev/zero` or a 4 GiB file would take.
const ADDRESS_SPACE_LIMIT: u64 = 1 << 30;

/// A secret outside every run folder, which no import may copy into the history.
const SECRET: &str = "SECRET-OUTSIDE-THE-FOLDER";

/// A complete run folder of `host` with three cases, each with a transcript.
fn real_folder(root: &Path, host: &str, run_id: &str) -> PathBuf {
    let dir = root.join(host).join(run_id);
    let mut report = RunReport::new(dir.clone(), "lab.toml".into());
    report.host = host.into();
    report.started_at = "2026-01-01T03:00:00Z".into();
    report.lab_name = "rack-a".into();
    for scenario in ["tftp-recovery", "factory-reset", "firmware-upgrade"] {
        report.cases.push(CaseReport {
            scenario: scenario.into(),
            model: "T46G".into(),
            bench: "t46g".into(),
            outcome: Outcome::Pass,
            detail: String::new(),
            duration: Duration::from_secs(30),
            transcript: format!("{scenario}: 1. power cycle\n"),
            raw_transcript: "raw\n".into(),
            approval: None,
            firmware_seen: vec!["28.83.0.50".into()],
            attempts: 1,
            transcript_file: None,
            diff_file: None,
        });
    }
    finish(&mut report).unwrap();
    dir
}

/// What a bounded run of the binary gave.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    max_rss_kib: i64,
}

impl Ran {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `harness args...` under [`HANG_DEADLINE`] and [`ADDRESS_SPACE_LIMIT`]; panics when
/// it hangs. Reaped with `wait4` for its peak memory.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also gives its peak memory"
)]
fn harness(args: &[&OsStr]) -> Ran {
    let stdout = tempfile::tempfile().unwrap();
    let stderr = tempfile::tempfile().unwrap();
    let mut command = Command::new(common::harness_exe());
    command
        .args(args)
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap());
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: ADDRESS_SPACE_LIMIT,
                rlim_max: ADDRESS_SPACE_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + HANG_DEADLINE;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value; wait4 writes into both out-parameters.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break (status, usage);
        }
        assert_eq!(reaped, 0, "wait4: {}", std::io::Error::last_os_error());
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`harness {args:?}` hung for {HANG_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |mut file: std::fs::File| {
        use std::io::{Read, Seek};
        let mut text = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut text).unwrap();
        text
    };
    Ran {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: read(stdout),
        stderr: read(stderr),
        max_rss_kib: usage.ru_maxrss,
    }
}

fn import(db: &Path, dirs: &[&Path], replace: bool) -> Ran {
    let mut args: Vec<&OsStr> = vec!["history".as_ref(), "import".as_ref()];
    if replace {
        args.push("--replace".as_ref());
    }
    args.push("--db".as_ref());
    args.push(db.as_os_str());
    args.extend(dirs.iter().map(|d| d.as_os_str()));
    harness(&args)
}

/// Runs recorded, and cases recorded, in the history at `db`.
fn counts(db: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap_or(0)
    };
    (count("runs"), count("cases"))
}

fn leaked(db: &Path) -> bool {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM cases WHERE instr(coalesce(transcript, ''), ?1) > 0",
        [SECRET],
        |r| r.get::<_, i64>(0),
    )
    .unwrap_or(0)
        > 0
}

/// A refused import: exit 2, an error naming the folder and `file` and saying `why`,
/// nothing recorded, the secret nowhere.
fn assert_refused(ran: &Ran, db: &Path, dir: &Path, file: &str, why: &str) {
    let said = ran.text();
    assert_eq!(ran.code, Some(2), "{said}");
    assert!(
        said.contains(&dir.display().to_string()),
        "names the folder: {said}"
    );
    assert!(said.contains(file), "names {file}: {said}");
    assert!(said.contains(why), "says {why}: {said}");
    assert!(
        said.contains("nothing from this folder was recorded"),
        "{said}"
    );
    assert_eq!(counts(db), (0, 0), "nothing recorded: {said}");
    assert!(!leaked(db), "the secret was copied into the history");
}

const FIRST_TRANSCRIPT: &str = "transcripts/tftp-recovery@T46G@t46g.txt";

fn secret_file(root: &Path) -> PathBuf {
    let path = root.join("secret.txt");
    std::fs::write(&path, SECRET).unwrap();
    path
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_transcript_linked_to_a_file_outside_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    let secret = secret_file(tmp.path());
    std::fs::remove_file(dir.join(FIRST_TRANSCRIPT)).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join(FIRST_TRANSCRIPT)).unwrap();
    let ran = import(&db, &[&dir], false);
    assert_refused(&ran, &db, &dir, FIRST_TRANSCRIPT, "is a symbolic link");
}

#[test]
fn a_linked_summary_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    let elsewhere = tmp.path().join("summary-elsewhere.json");
    std::fs::rename(dir.join("summary.json"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("summary.json")).unwrap();
    let ran = import(&db, &[&dir], false);
    assert_refused(&ran, &db, &dir, "summary.json", "is a symbolic link");
}

#[test]
fn a_linked_transcripts_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    // A folder outside holding files of the same names, one of them the secret.
    let outside = tmp.path().join("outside");
    std::fs::rename(dir.join("transcripts"), &outside).unwrap();
    std::fs::write(outside.join("tftp-recovery@T46G@t46g.txt"), SECRET).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("transcripts")).unwrap();
    let ran = import(&db, &[&dir], false);
    assert_refused(
        &ran,
        &db,
        &dir,
        FIRST_TRANSCRIPT,
        "`transcripts` on the way is a symbolic link",
    );
}

#[test]
fn a_fifo_transcript_is_refused_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    std::fs::remove_file(dir.join(FIRST_TRANSCRIPT)).unwrap();
    mkfifo(&dir.join(FIRST_TRANSCRIPT));
    let ran = import(&db, &[&dir], false);
    assert_refused(&ran, &db, &dir, FIRST_TRANSCRIPT, "is a FIFO");
}

#[test]
fn a_fifo_summary_is_refused_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = tmp.path().join("r1");
    std::fs::create_dir(&dir).unwrap();
    mkfifo(&dir.join("summary.json"));
    let ran = import(&db, &[&dir], false);
    assert_refused(&ran, &db, &dir, "summary.json", "is a FIFO");
}

#[test]
fn dev_zero_linked_as_a_transcript_is_refused_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    std::fs::remove_file(dir.join(FIRST_TRANSCRIPT)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join(FIRST_TRANSCRIPT)).unwrap();
    let ran = import(&db, &[&dir], false);
    assert_refused(&ran, &db, &dir, FIRST_TRANSCRIPT, "is a symbolic link");
    assert!(ran.max_rss_kib < 256 * 1024, "peak {} KiB", ran.max_rss_kib);
}

#[test]
fn a_huge_transcript_is_refused_by_its_size_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    // Sparse: 4 GiB on paper, nothing on the disk.
    let huge = std::fs::File::create(dir.join(FIRST_TRANSCRIPT)).unwrap();
    huge.set_len(4 << 30).unwrap();
    let ran = import(&db, &[&dir], false);
    assert_refused(
        &ran,
        &db,
        &dir,
        FIRST_TRANSCRIPT,
        "over the cap of 1048576 bytes",
    );
    assert!(ran.max_rss_kib < 256 * 1024, "peak {} KiB", ran.max_rss_kib);
}

#[test]
fn a_huge_summary_is_refused_by_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    let summary = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("summary.json"))
        .unwrap();
    summary.set_len(4 << 30).unwrap();
    let ran = import(&db, &[&dir], false);
    assert_refused(&ran, &db, &dir, "summary.json", "over the cap");
    assert!(ran.max_rss_kib < 256 * 1024, "peak {} KiB", ran.max_rss_kib);
}

#[test]
fn a_folder_where_a_transcript_should_be_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    std::fs::remove_file(dir.join(FIRST_TRANSCRIPT)).unwrap();
    std::fs::create_dir(dir.join(FIRST_TRANSCRIPT)).unwrap();
    let ran = import(&db, &[&dir], false);
    assert_refused(
        &ran,
        &db,
        &dir,
        FIRST_TRANSCRIPT,
        "is a folder, not a regular file",
    );
}

#[test]
fn a_forged_folder_claiming_a_recorded_run_is_refused_unless_replacing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let real = real_folder(tmp.path(), "lab-a", "20260101T030000Z-000");
    let first = import(&db, &[&real], false);
    assert_eq!(first.code, Some(0), "{}", first.text());
    assert_eq!(counts(&db), (1, 3));

    // Elsewhere, a folder claiming the same host and run id with one case.
    let forged = tmp.path().join("forged");
    std::fs::create_dir(&forged).unwrap();
    std::fs::write(
        forged.join("summary.json"),
        r#"{"run_id": "20260101T030000Z-000", "host": "lab-a",
            "started_at": "2026-01-01T03:00:00Z", "status": "complete",
            "cases": [{"scenario": "tftp-recovery", "model": "T46G", "bench": "t46g",
                       "outcome": "pass"}]}"#,
    )
    .unwrap();
    let refused = import(&db, &[&forged], false);
    let said = refused.text();
    assert_eq!(refused.code, Some(2), "{said}");
    assert!(said.contains(&forged.display().to_string()), "{said}");
    assert!(
        said.contains("run 20260101T030000Z-000 of host lab-a is already in the history (3 cases"),
        "{said}"
    );
    assert!(said.contains("--replace"), "says how to replace: {said}");
    assert_eq!(counts(&db), (1, 3), "the real run stands");

    let replaced = import(&db, &[&forged], true);
    assert_eq!(replaced.code, Some(0), "{}", replaced.text());
    assert!(
        replaced
            .stdout
            .contains("replacing the one recorded before"),
        "{}",
        replaced.text()
    );
    assert_eq!(counts(&db), (1, 1), "replaced, never duplicated");
}

/// Writes a folder whose summary is `summary` (a JSON text).
fn hand_made(root: &Path, name: &str, summary: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("transcripts")).unwrap();
    std::fs::write(dir.join("summary.json"), summary).unwrap();
    std::fs::write(dir.join("transcripts/a.txt"), "a transcript\n").unwrap();
    dir
}

fn summary_with(started_at: &str, transcript_file: &str) -> String {
    serde_json::json!({
        "run_id": "r1", "host": "lab-a", "started_at": started_at,
        "cases": [{"scenario": "a", "model": "T46G", "bench": "t46g", "outcome": "pass",
                   "transcript_file": transcript_file}]
    })
    .to_string()
}

#[test]
fn a_start_that_is_not_a_timestamp_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    for started_at in [
        "zzzz-not-a-time",
        "9999-12-31T23:59:59Z",
        "2026-02-30T00:00:00Z",
    ] {
        let dir = hand_made(
            tmp.path(),
            "run",
            &summary_with(started_at, "transcripts/a.txt"),
        );
        let ran = import(&db, &[&dir], false);
        assert_refused(&ran, &db, &dir, "summary.json: `started_at`", started_at);
    }
    // The same folder with a real start is recorded: the refusal was the field's.
    let dir = hand_made(
        tmp.path(),
        "run",
        &summary_with("2026-01-01T04:00:00+01:00", "transcripts/a.txt"),
    );
    let ran = import(&db, &[&dir], false);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: String = conn
        .query_row("SELECT started_at FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, "2026-01-01T03:00:00Z", "stored in UTC, so it sorts");
}

#[test]
fn paths_in_the_summary_that_leave_the_folder_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let secret = secret_file(tmp.path());
    for path in [
        "../secret.txt".to_string(),
        "transcripts/../../secret.txt".to_string(),
        secret.display().to_string(),
        "./transcripts/a.txt".to_string(),
    ] {
        let dir = hand_made(
            tmp.path(),
            "run",
            &summary_with("2026-01-01T03:00:00Z", &path),
        );
        let ran = import(&db, &[&dir], false);
        assert_refused(
            &ran,
            &db,
            &dir,
            "summary.json: `cases[0].transcript_file`",
            "leaves the run folder",
        );
    }
}

#[test]
fn a_bench_name_that_is_a_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let summary = serde_json::json!({
        "run_id": "r1", "host": "lab-a", "started_at": "2026-01-01T03:00:00Z",
        "cases": [{"scenario": "a", "model": "T46G", "bench": "x/../../../../tmp/PWNED",
                   "outcome": "pass"}]
    });
    let dir = hand_made(tmp.path(), "run", &summary.to_string());
    let ran = import(&db, &[&dir], false);
    assert_refused(&ran, &db, &dir, "`cases[0].bench`", "is not a name");
}

#[test]
fn a_foreign_database_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("someone-elses.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE runs (x INTEGER); INSERT INTO runs VALUES (1);")
            .unwrap();
    }
    let dir = real_folder(tmp.path(), "lab-a", "r1");
    let ran = import(&db, &[&dir], false);
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stderr.contains("is not a harness history"),
        "{}",
        ran.text()
    );
    assert!(
        ran.stderr.contains(&db.display().to_string()),
        "{}",
        ran.text()
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "nothing added to someone else's database");

    conn.execute_batch("DROP TABLE runs").unwrap();
    conn.execute_batch(harness::history::SCHEMA).unwrap();
    conn.pragma_update(None, "user_version", 9).unwrap();
    drop(conn);
    let ran = import(&db, &[&dir], false);
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.stderr
            .contains("written by a newer harness (schema version 9"),
        "{}",
        ran.text()
    );
    assert_eq!(counts(&db), (0, 0));
}

#[test]
fn a_history_from_before_the_version_was_recorded_is_stamped_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite");
    let old = real_folder(tmp.path(), "lab-a", "r1");
    // The database the earlier harness made: today's tables, user_version 0, one run.
    {
        let mut conn = harness::history::open(&db).unwrap();
        harness::history::record_folder(&mut conn, &old).unwrap();
        conn.pragma_update(None, "user_version", 0).unwrap();
    }
    let new = real_folder(tmp.path(), "lab-a", "r2");
    let ran = import(&db, &[&new], false);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert_eq!(counts(&db), (2, 6), "the earlier run is kept");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, harness::history::version::SCHEMA_VERSION);
}
