//! The run folder: every transcript (redacted and raw), every diff, `junit.xml`,
//! `summary.json` and `summary.txt`. Each file is written to a temporary name and renamed,
//! so a reader (or a crash) never sees half a file.

use std::io::Write;
use std::path::Path;

use crate::report::{RunReport, console, junit};

/// Writes `contents` to `path` atomically.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir, path)?;
    tmp.1.write_all(contents)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)
}

fn tempfile_in(dir: &Path, target: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = std::fs::File::create(&tmp)?;
    Ok((tmp, file))
}

/// Writes the whole run folder; returns the files written.
pub fn write_run_folder(report: &RunReport) -> std::io::Result<Vec<std::path::PathBuf>> {
    let dir = &report.run_dir;
    let mut written = Vec::new();
    let mut put = |relative: String, contents: &[u8]| -> std::io::Result<()> {
        let path = dir.join(relative);
        write_atomic(&path, contents)?;
        written.push(path);
        Ok(())
    };
    for case in &report.cases {
        let base = format!("{}@{}", case.case_name(), case.bench);
        if !case.transcript.is_empty() {
            put(
                format!("transcripts/{base}.txt"),
                case.transcript.as_bytes(),
            )?;
            put(
                format!("transcripts/{base}.raw.txt"),
                case.raw_transcript.as_bytes(),
            )?;
        }
        if case.outcome != crate::outcome::Outcome::Pass && !case.detail.is_empty() {
            put(format!("diffs/{base}.txt"), case.detail.as_bytes())?;
        }
    }
    put("junit.xml".into(), junit::junit_xml(report).as_bytes())?;
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    put("summary.json".into(), &json)?;
    put("summary.txt".into(), console::summary(report).as_bytes())?;
    Ok(written)
}
