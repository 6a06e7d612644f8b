//! Comparing a redacted transcript with its insta snapshot
//! (`scenarios/snapshots/<scenario>@<MODEL>.snap`).
//!
//! insta does the bookkeeping the team already knows from `cargo insta review`: a mismatch
//! or a missing snapshot writes `<name>.snap.new` beside it (outside CI, or with
//! `INSTA_UPDATE=new`). The harness computes its own unified diff for the report, because
//! insta's is printed to the terminal, where it would tear through the live progress.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The result of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotCheck {
    Matches,
    /// No snapshot yet: the case fails until someone reads and accepts the `.snap.new`.
    Missing {
        pending: PathBuf,
    },
    /// The transcript differs; `diff` is unified, snapshot (`-`) to this run (`+`).
    Differs {
        diff: String,
    },
}

/// The file of a snapshot.
pub fn snapshot_file(snapshots_dir: &Path, name: &str) -> PathBuf {
    snapshots_dir.join(format!("{name}.snap"))
}

/// Compares `transcript` with the snapshot `name` in `snapshots_dir` (absolute).
pub fn check(
    snapshots_dir: &Path,
    name: &str,
    description: &str,
    transcript: &str,
) -> SnapshotCheck {
    silence_snapshot_panics();
    let file = snapshot_file(snapshots_dir, name);
    let stored = std::fs::read_to_string(&file)
        .ok()
        .map(|text| snapshot_body(&text));

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(snapshots_dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(description);
    let result = settings.bind(|| {
        catch_unwind(AssertUnwindSafe(|| {
            insta::assert_snapshot!(name.to_string(), transcript);
        }))
    });
    match (result, stored) {
        (Ok(()), _) => SnapshotCheck::Matches,
        (Err(_), None) => SnapshotCheck::Missing {
            pending: file.with_extension("snap.new"),
        },
        (Err(_), Some(stored)) => SnapshotCheck::Differs {
            diff: unified_diff(&stored, transcript),
        },
    }
}

/// Writes `transcript` as the accepted snapshot `name` in `snapshots_dir`, in the layout
/// insta gives the snapshots `check` compares with (a metadata header naming this file and
/// the description, then the body), for a transcript a person has just watched being
/// recorded (`harness repro --save`). Returns the file written.
pub fn write(
    snapshots_dir: &Path,
    name: &str,
    description: &str,
    transcript: &str,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(snapshots_dir)?;
    let file = snapshot_file(snapshots_dir, name);
    // A JSON string is a YAML double-quoted scalar: any summary reads back unchanged.
    let description = serde_json::to_string(description).map_err(std::io::Error::other)?;
    std::fs::write(
        &file,
        format!(
            "---\nsource: harness/src/expect/snapshot.rs\ndescription: {description}\n---\n{transcript}"
        ),
    )?;
    Ok(file)
}

/// The contents of a `.snap` file after its metadata header.
pub fn snapshot_body(text: &str) -> String {
    let mut parts = text.splitn(3, "---\n");
    match (parts.next(), parts.next(), parts.next()) {
        (Some(""), Some(_header), Some(body)) => body.to_string(),
        _ => text.to_string(),
    }
}

/// A unified diff with three lines of context, labelled for a reader.
pub fn unified_diff(snapshot: &str, run: &str) -> String {
    similar::TextDiff::from_lines(snapshot.trim_end(), run.trim_end())
        .unified_diff()
        .context_radius(3)
        .header("snapshot", "this run")
        .to_string()
}

/// insta reports a mismatch by panicking; the harness catches that per case. Keep the
/// default panic message for every other panic, and print none for snapshot assertions.
fn silence_snapshot_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("snapshot assertion") {
                default_hook(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_both_sides() {
        let diff = unified_diff("a\nb\nc\n", "a\nB\nc\n");
        assert!(diff.contains("-b"), "{diff}");
        assert!(diff.contains("+B"), "{diff}");
    }

    #[test]
    fn body_skips_the_metadata_header() {
        let text = "---\nsource: x\n---\nline 1\nline 2\n";
        assert_eq!(snapshot_body(text), "line 1\nline 2\n");
    }

    #[test]
    fn matching_missing_and_differing_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        // No snapshot: missing (insta refuses; under CI it writes nothing, elsewhere a .snap.new).
        let first = check(dir, "case@T46G", "d", "hello\n");
        assert!(matches!(first, SnapshotCheck::Missing { .. }), "{first:?}");
        std::fs::write(
            snapshot_file(dir, "case@T46G"),
            "---\nsource: x\n---\nhello\n",
        )
        .unwrap();
        assert_eq!(
            check(dir, "case@T46G", "d", "hello\n"),
            SnapshotCheck::Matches
        );
        match check(dir, "case@T46G", "d", "goodbye\n") {
            SnapshotCheck::Differs { diff } => {
                assert!(
                    diff.contains("-hello") && diff.contains("+goodbye"),
                    "{diff}"
                );
            }
            other => panic!("expected a diff, got {other:?}"),
        }
    }

    #[test]
    fn a_written_snapshot_is_read_back_by_insta() {
        let dir = tempfile::tempdir().unwrap();
        let summary = "**7283 then \"Yes\": it calls home";
        let file = write(dir.path(), "case@T46G", summary, "line 1\n\n== end\n").unwrap();
        assert_eq!(file, snapshot_file(dir.path(), "case@T46G"));
        let stored = insta::Snapshot::from_file(&file).unwrap();
        assert_eq!(stored.metadata().description(), Some(summary));
        assert_eq!(
            check(dir.path(), "case@T46G", summary, "line 1\n\n== end\n"),
            SnapshotCheck::Matches
        );
        assert!(matches!(
            check(dir.path(), "case@T46G", summary, "line 2\n"),
            SnapshotCheck::Differs { .. }
        ));
    }
}
