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
    let base = case.file_base();
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

/// Writes the whole folder of a finished run (see [`finish`]) without changing `report`;
/// returns the files written.
pub fn write_run_folder(report: &RunReport) -> std::io::Result<Vec<PathBuf>> {
    finish(&mut report.clone())
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
                case = %case.file_base(),
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
    fn a_folder_that_cannot_be_made_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, "not a folder").unwrap();
        let report = RunReport::new(blocker.join("run"), "lab.toml".into());
        assert!(RunFolder::create(&report).is_err());
    }
}
