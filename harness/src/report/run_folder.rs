//! The run folder: every transcript (redacted and raw), every diff, `junit.xml`,
//! `summary.json` and `summary.txt`.
//!
//! It is written as the run goes: `summary.json` says `partial` from the start and is
//! rewritten after every finished case, whose transcripts and diff are on disk before the
//! summary names them; only the end of the run writes `complete`. Each file is written to a
//! temporary name and renamed, so a reader (or a crash, or a SIGKILL) never sees half a
//! file, and a run that died leaves a folder that says so with every case it finished.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::outcome::{Outcome, exit_code_for};
use crate::report::{CaseListener, CaseReport, RunReport, RunStatus, console, junit};

/// The summary a run folder is judged by: the history imports it.
pub const SUMMARY_JSON: &str = "summary.json";

/// The longest name (scenario, model, bench, run id) that goes into a file name as it is.
/// Three of them, two `@` and `.raw.txt` stay well under the 255 bytes a file name may
/// have on every file system a lab host uses.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` may be used as a file name, or a part of one, as it is: ASCII letters,
/// digits, `.`, `_`, `@` and `-` only, not starting with `.` (no `..`, no hidden file), not
/// empty, at most [`MAX_NAME_LEN`] bytes. Bench, scenario and model names come from lab and
/// scenario files, and run folders come from other hosts: a name that passes cannot hold a
/// `/`, climb out of a folder, or surprise a shell.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// `name` as a part of a file name: itself when [`is_safe_name`] (so the folders of
/// ordinary runs read as before), otherwise an escaped form. The escape keeps what it can
/// of the name for the reader (each other byte becomes `-`, a leading `.` too, cut to 32
/// bytes) and appends a hash of the whole name, so two different unsafe names do not share
/// a file. An empty name (a case without a bench) stays empty.
pub fn file_name_part(name: &str) -> std::borrow::Cow<'_, str> {
    if name.is_empty() || is_safe_name(name) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut kept: String = name
        .bytes()
        .take(32)
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-') {
                char::from(b)
            } else {
                '-'
            }
        })
        .collect();
    if kept.starts_with('.') {
        kept.replace_range(0..1, "-");
    }
    std::borrow::Cow::Owned(format!("{kept}-x{:016x}", fnv1a(name.as_bytes())))
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike `DefaultHasher`), which the
/// escaped file names need so a folder reads the same on every host.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `<scenario>@<MODEL>@<bench>` with each name passed through [`file_name_part`]: the base
/// of a case's file names in the run folder. Never joined from the raw names.
pub fn case_file_base(case: &CaseReport) -> String {
    format!(
        "{}@{}@{}",
        file_name_part(&case.scenario),
        file_name_part(&case.model),
        file_name_part(&case.bench)
    )
}

/// Checks the folder `harness run --out` names before anything runs: it must be absent or
/// an empty folder (a folder holding an earlier run would mix two runs' transcripts and
/// replace the earlier run in the history), and its name, which becomes the run id, must
/// be a [safe name](is_safe_name). The message is for the console.
pub fn check_out_dir(dir: &Path) -> Result<(), String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_safe_name(&name) {
        return Err(format!(
            "--out {}: the folder's name becomes the run id, so it must be 1 to \
             {MAX_NAME_LEN} of the characters A-Z a-z 0-9 . _ @ - and not start with `.`",
            dir.display()
        ));
    }
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("--out {}: {e}", dir.display())),
        Ok(meta) if !meta.is_dir() => Err(format!(
            "--out {}: exists and is not a folder (give a new or empty folder)",
            dir.display()
        )),
        Ok(_) => match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "--out {}: the folder is not empty (it may hold an earlier run, whose files \
                 would mix with this one's); give a new or empty folder, or leave --out out \
                 for a fresh folder under target/harness-runs/",
                dir.display()
            )),
            Err(e) => Err(format!(
                "--out {}: cannot list the folder: {e}",
                dir.display()
            )),
        },
    }
}

/// Writes `contents` to `path` atomically, and durably: the file is synced before the
/// rename and the folder after it, so a power cut leaves the old file or the new one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let (tmp, mut file) = tempfile_in(dir, path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename lives in the folder's own data; without this a power cut may undo it.
    std::fs::File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })?
    .sync_all()
}

fn tempfile_in(dir: &Path, target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = std::fs::File::create(&tmp)?;
    Ok((tmp, file))
}

/// Writes a case's transcripts (when it has one) and its diff or reason (when it did not
/// pass), and records their paths, relative to the run folder, in the case.
pub fn write_case_files(dir: &Path, case: &mut CaseReport) -> std::io::Result<Vec<PathBuf>> {
    let base = case_file_base(case);
    let mut written = Vec::new();
    if !case.transcript.is_empty() {
        let relative = format!("transcripts/{base}.txt");
        let path = dir.join(&relative);
        write_atomic(&path, case.transcript.as_bytes())?;
        written.push(path);
        let raw = dir.join(format!("transcripts/{base}.raw.txt"));
        write_atomic(&raw, case.raw_transcript.as_bytes())?;
        written.push(raw);
        case.transcript_file = Some(relative);
    }
    if case.outcome != Outcome::Pass && !case.detail.is_empty() {
        let relative = format!("diffs/{base}.txt");
        let path = dir.join(&relative);
        write_atomic(&path, case.detail.as_bytes())?;
        written.push(path);
        case.diff_file = Some(relative);
    }
    Ok(written)
}

fn write_summary_json(report: &RunReport) -> std::io::Result<PathBuf> {
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    let path = report.run_dir.join(SUMMARY_JSON);
    write_atomic(&path, &json)?;
    Ok(path)
}

/// Ends a run's folder: every case's files (paths recorded in `report`), `junit.xml`,
/// `summary.txt`, and last `summary.json` with `status: complete`, so a folder that says
/// complete has everything. Returns the files written.
pub fn finish(report: &mut RunReport) -> std::io::Result<Vec<PathBuf>> {
    report.status = RunStatus::Complete;
    let dir = report.run_dir.clone();
    let mut written = Vec::new();
    for case in &mut report.cases {
        written.extend(write_case_files(&dir, case)?);
    }
    let mut put = |name: &str, contents: &[u8]| -> std::io::Result<()> {
        let path = dir.join(name);
        write_atomic(&path, contents)?;
        written.push(path);
        Ok(())
    };
    put("junit.xml", junit::junit_xml(report).as_bytes())?;
    put("summary.txt", console::summary(report).as_bytes())?;
    put(
        "report.html",
        crate::report::html::render(report).as_bytes(),
    )?;
    written.push(write_summary_json(report)?);
    Ok(written)
}

/// A run folder being written while its run goes on. Attached to the live progress, it
/// writes each finished case's files at once and rewrites the partial `summary.json`.
pub struct RunFolder {
    started: Instant,
    /// What the folder says so far: the run's header and the cases finished, without their
    /// transcripts (those are on disk already; the summary does not carry them).
    state: Mutex<RunReport>,
}

impl RunFolder {
    /// Creates the folder of `report` (its `run_dir`) and writes a partial `summary.json`
    /// with the cases already known (those decided before anything ran).
    pub fn create(report: &RunReport) -> std::io::Result<RunFolder> {
        std::fs::create_dir_all(&report.run_dir)?;
        let mut state = report.clone();
        state.status = RunStatus::Partial;
        for case in &mut state.cases {
            write_case_files(&report.run_dir, case)?;
            forget_transcripts(case);
        }
        state.exit_code = exit_code_for(state.cases.iter().map(|c| c.outcome));
        write_summary_json(&state)?;
        Ok(RunFolder {
            started: Instant::now(),
            state: Mutex::new(state),
        })
    }

    /// Writes a finished case's files and the partial summary that names them.
    pub fn add_case(&self, case: &CaseReport) -> std::io::Result<()> {
        let mut case = case.clone();
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        write_case_files(&state.run_dir, &mut case)?;
        forget_transcripts(&mut case);
        state.cases.push(case);
        state.duration = self.started.elapsed();
        state.exit_code = exit_code_for(state.cases.iter().map(|c| c.outcome));
        write_summary_json(&state).map(drop)
    }
}

fn forget_transcripts(case: &mut CaseReport) {
    case.transcript = String::new();
    case.raw_transcript = String::new();
}

impl CaseListener for RunFolder {
    fn case_done(&self, case: &CaseReport) {
        if let Err(e) = self.add_case(case) {
            // The run goes on: its end writes the whole folder again.
            tracing::warn!(
                case = %case_file_base(case),
                "cannot write the case into the run folder as the run goes (check the disk \
                 and the folder's permissions): {e}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn case(scenario: &str, outcome: Outcome, detail: &str, transcript: &str) -> CaseReport {
        CaseReport {
            scenario: scenario.into(),
            model: "T46G".into(),
            bench: "t46g".into(),
            outcome,
            detail: detail.into(),
            duration: Duration::from_millis(1500),
            transcript: transcript.into(),
            raw_transcript: format!("raw {transcript}"),
            approval: None,
            firmware_seen: vec!["28.83.0.50".into()],
            attempts: 1,
            transcript_file: None,
            diff_file: None,
        }
    }

    fn summary(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(SUMMARY_JSON)).unwrap()).unwrap()
    }

    #[test]
    fn the_folder_says_partial_until_finished_and_names_each_case_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let mut report = RunReport::new(dir.clone(), "lab.toml".into());
        report.lab_name = "virtual".into();
        report.cases.push(CaseReport {
            bench: String::new(),
            ..case("unbenched", Outcome::Skipped, "no bench with a T46G", "")
        });
        let folder = RunFolder::create(&report).unwrap();
        let first = summary(&dir);
        assert_eq!(first["status"], "partial");
        assert_eq!(first["cases"].as_array().unwrap().len(), 1);
        assert_eq!(first["cases"][0]["diff_file"], "diffs/unbenched@T46G@.txt");

        let passed = case("a", Outcome::Pass, "", "boot\n");
        folder.case_done(&passed);
        let failed = case("b", Outcome::Fail, "-boot\n+hang\n", "hang\n");
        folder.case_done(&failed);
        let partial = summary(&dir);
        assert_eq!(partial["status"], "partial");
        assert_eq!(partial["exit_code"], 1);
        let cases = partial["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[1]["transcript_file"], "transcripts/a@T46G@t46g.txt");
        assert!(cases[1].get("diff_file").is_none(), "a pass has no diff");
        assert_eq!(cases[2]["diff_file"], "diffs/b@T46G@t46g.txt");
        assert_eq!(
            std::fs::read_to_string(dir.join("transcripts/b@T46G@t46g.raw.txt")).unwrap(),
            "raw hang\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("diffs/b@T46G@t46g.txt")).unwrap(),
            "-boot\n+hang\n"
        );

        report.cases.push(passed);
        report.cases.push(failed);
        finish(&mut report).unwrap();
        assert_eq!(
            report.cases[2].diff_file.as_deref(),
            Some("diffs/b@T46G@t46g.txt")
        );
        let complete = summary(&dir);
        assert_eq!(complete["status"], "complete");
        assert!(dir.join("junit.xml").is_file());
        assert!(dir.join("summary.txt").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn safe_names_pass_as_they_are_and_others_are_escaped_apart() {
        for safe in ["tftp-recovery", "T46G", "t46g", "bench_2", "a@b", "x.y"] {
            assert!(is_safe_name(safe), "{safe}");
            assert_eq!(file_name_part(safe), safe);
        }
        assert_eq!(file_name_part(""), "", "a case without a bench");
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for unsafe_name in [
            "..", ".", ".hidden", "a/b", "../../x", "a b", "é", "a\0b", &long,
        ] {
            assert!(!is_safe_name(unsafe_name), "{unsafe_name}");
            let part = file_name_part(unsafe_name);
            assert!(is_safe_name(&part), "{unsafe_name} -> {part}");
        }
        assert_ne!(
            file_name_part("a/b"),
            file_name_part("a b"),
            "distinct names stay apart"
        );
        assert_eq!(file_name_part("a/b"), file_name_part("a/b"), "and stable");
    }

    #[test]
    fn the_out_folder_must_be_new_or_empty_with_a_safe_name() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(check_out_dir(&tmp.path().join("absent")).is_ok());
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(check_out_dir(&empty).is_ok());
        std::fs::write(empty.join("x"), "").unwrap();
        assert!(check_out_dir(&empty).unwrap_err().contains("not empty"));
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(check_out_dir(&file).unwrap_err().contains("not a folder"));
        assert!(
            check_out_dir(&tmp.path().join("a b"))
                .unwrap_err()
                .contains("run id")
        );
        assert!(check_out_dir(Path::new("/")).is_err());
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, "not a folder").unwrap();
        let report = RunReport::new(blocker.join("run"), "lab.toml".into());
        assert!(RunFolder::create(&report).is_err());
    }
}
