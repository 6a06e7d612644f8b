//! Reviewing pending snapshots (`harness review`): each `<name>.snap.new` a run left beside
//! its snapshot is shown as a diff against the snapshot, then accepted (renamed over the
//! `.snap`), rejected (removed) or skipped (left for later). The files are insta's, so
//! `cargo insta review` and this review can take turns on the same folder.
//!
//! Nothing here prints: it returns what to show, and the command decides where it goes.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::expect::snapshot::{self, Unreadable};

/// The suffix of a pending snapshot's file name.
pub const PENDING_SUFFIX: &str = ".snap.new";

/// What a reviewer is asked after each diff.
pub const PROMPT: &str = "accept (a), reject (r), skip (s) or quit (q)? ";

/// One pending snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSnapshot {
    /// `<name>.snap.new`.
    pub new_file: PathBuf,
    /// `<name>.snap`, which may not exist yet.
    pub snapshot: PathBuf,
}

/// A reviewer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Make the pending transcript the snapshot.
    Accept,
    /// Drop the pending transcript; the snapshot stays.
    Reject,
    /// Leave it pending for later.
    Skip,
    /// Stop reviewing; the rest stay pending.
    Quit,
}

impl Answer {
    /// `a`, `r`, `s`, `q` or the whole word, in any case; `None` for anything else.
    pub fn parse(line: &str) -> Option<Answer> {
        match line.trim().to_ascii_lowercase().as_str() {
            "a" | "accept" => Some(Answer::Accept),
            "r" | "reject" => Some(Answer::Reject),
            "s" | "skip" => Some(Answer::Skip),
            "q" | "quit" => Some(Answer::Quit),
            _ => None,
        }
    }
}

/// Why a pending snapshot cannot be shown, accepted or rejected. The files are left as they
/// were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewError {
    /// The folder of snapshots cannot be listed.
    Folder {
        /// The snapshots folder.
        dir: PathBuf,
        /// What the host said.
        error: String,
    },
    /// A file of the pending snapshot cannot be read or is not a snapshot.
    Unreadable {
        /// The file at fault.
        file: PathBuf,
        /// What the host or the snapshot reader said.
        error: String,
    },
    /// The rename (accept) or removal (reject) failed.
    Move {
        /// The pending file that stayed where it was.
        file: PathBuf,
        /// What the host said.
        error: String,
    },
}

impl fmt::Display for ReviewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReviewError::Folder { dir, error } => {
                write!(
                    f,
                    "cannot list the snapshots folder {}: {error}",
                    dir.display()
                )
            }
            ReviewError::Unreadable { file, error } => {
                write!(f, "cannot read {}: {error}", file.display())
            }
            ReviewError::Move { file, error } => write!(f, "{}: {error}", file.display()),
        }
    }
}

impl std::error::Error for ReviewError {}

/// The pending snapshots of `dir`, by name. Only regular files count: a folder or a link
/// named `*.snap.new` is not something a run wrote.
pub fn pending(dir: &Path) -> Result<Vec<PendingSnapshot>, ReviewError> {
    let folder = |error: std::io::Error| ReviewError::Folder {
        dir: dir.to_path_buf(),
        error: error.to_string(),
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(folder)? {
        let entry = entry.map_err(folder)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(PENDING_SUFFIX) else {
            continue;
        };
        if stem.is_empty() || name.starts_with('.') {
            continue;
        }
        if !entry.file_type().map_err(folder)?.is_file() {
            continue;
        }
        found.push(PendingSnapshot {
            new_file: entry.path(),
            snapshot: dir.join(format!("{stem}.snap")),
        });
    }
    found.sort_by(|a, b| a.new_file.cmp(&b.new_file));
    Ok(found)
}

impl PendingSnapshot {
    /// `<scenario>@<MODEL>`.
    pub fn name(&self) -> String {
        self.snapshot
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// What a reviewer reads before answering: the names, the description, and the diff
    /// from the snapshot (`-`) to the pending one (`+`).
    pub fn show(&self) -> Result<String, ReviewError> {
        let unreadable = |file: &Path, error: String| ReviewError::Unreadable {
            file: file.to_path_buf(),
            error,
        };
        let new = match snapshot::read(&self.new_file) {
            Ok(Some(new)) => new,
            Ok(None) => return Err(unreadable(&self.new_file, "it is gone".into())),
            Err(Unreadable::Io(e) | Unreadable::NotASnapshot(e)) => {
                return Err(unreadable(&self.new_file, e));
            }
        };
        let (old, state) = match snapshot::read(&self.snapshot) {
            Ok(Some(old)) => (old.body, String::new()),
            Ok(None) => (
                String::new(),
                " (none yet: accepting creates it)".to_string(),
            ),
            // Accepting is how a broken snapshot gets replaced: show everything as new.
            Err(Unreadable::NotASnapshot(e)) => (
                String::new(),
                format!(" (not a snapshot: {e}; accepting replaces it)"),
            ),
            Err(Unreadable::Io(e)) => return Err(unreadable(&self.snapshot, e)),
        };
        let mut text = format!("{}\n", self.name());
        if let Some(description) = &new.description {
            text.push_str(&format!("  description: {description}\n"));
        }
        text.push_str(&format!(
            "  snapshot:    {}{state}\n  pending:     {}\n",
            self.snapshot.display(),
            self.new_file.display()
        ));
        let diff = snapshot::labelled_diff(&old, &new.body, "snapshot", "pending");
        if diff.is_empty() {
            text.push_str("  the pending snapshot is the same as the snapshot\n");
        } else {
            text.push_str(&diff);
        }
        Ok(text)
    }

    /// The pending snapshot becomes the snapshot.
    pub fn accept(&self) -> Result<(), ReviewError> {
        std::fs::rename(&self.new_file, &self.snapshot).map_err(|e| ReviewError::Move {
            file: self.new_file.clone(),
            error: format!("cannot rename it to {}: {e}", self.snapshot.display()),
        })
    }

    /// The pending snapshot is thrown away; the snapshot stays as it is.
    pub fn reject(&self) -> Result<(), ReviewError> {
        std::fs::remove_file(&self.new_file).map_err(|e| ReviewError::Move {
            file: self.new_file.clone(),
            error: format!("cannot remove it: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::snap_file;

    fn pending_in(dir: &Path, name: &str, body: &str) -> PathBuf {
        let file = dir.join(format!("{name}.snap.new"));
        std::fs::write(&file, snap_file::render("why", body)).unwrap();
        file
    }

    #[test]
    fn answers() {
        assert_eq!(Answer::parse("a\n"), Some(Answer::Accept));
        assert_eq!(Answer::parse(" Reject "), Some(Answer::Reject));
        assert_eq!(Answer::parse("s"), Some(Answer::Skip));
        assert_eq!(Answer::parse("QUIT"), Some(Answer::Quit));
        assert_eq!(Answer::parse(""), None);
        assert_eq!(Answer::parse("yes"), None);
    }

    #[test]
    fn only_regular_pending_files_are_listed_by_name() {
        let dir = tempfile::tempdir().unwrap();
        pending_in(dir.path(), "b@T46G", "x\n");
        pending_in(dir.path(), "a@T46G", "x\n");
        std::fs::write(dir.path().join("c@T46G.snap"), "kept").unwrap();
        std::fs::create_dir(dir.path().join("d@T46G.snap.new")).unwrap();
        std::fs::write(dir.path().join(".snapshot-1.tmp"), "x").unwrap();
        let names: Vec<String> = pending(dir.path())
            .unwrap()
            .iter()
            .map(PendingSnapshot::name)
            .collect();
        assert_eq!(names, ["a@T46G", "b@T46G"]);
        let missing = pending(&dir.path().join("nowhere")).unwrap_err();
        assert!(missing.to_string().contains("nowhere"), "{missing}");
    }

    #[test]
    fn the_diff_runs_from_the_snapshot_to_the_pending_one() {
        let dir = tempfile::tempdir().unwrap();
        snapshot::write(dir.path(), "x@T46G", "why", "same\nold\n").unwrap();
        pending_in(dir.path(), "x@T46G", "same\nnew\n");
        let item = &pending(dir.path()).unwrap()[0];
        let shown = item.show().unwrap();
        assert!(shown.starts_with("x@T46G\n"), "{shown}");
        assert!(shown.contains("description: why"), "{shown}");
        assert!(shown.contains("-old") && shown.contains("+new"), "{shown}");
        assert!(shown.contains(" same"), "{shown}");
    }

    #[test]
    fn a_new_snapshot_shows_every_line_as_added() {
        let dir = tempfile::tempdir().unwrap();
        pending_in(dir.path(), "x@T46G", "first\n");
        let shown = pending(dir.path()).unwrap()[0].show().unwrap();
        assert!(shown.contains("none yet"), "{shown}");
        assert!(shown.contains("+first"), "{shown}");
    }

    #[test]
    fn a_malformed_pending_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x@T46G.snap.new");
        std::fs::write(&file, "no header\n").unwrap();
        let error = pending(dir.path()).unwrap()[0].show().unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
        assert!(file.exists());
    }

    #[test]
    fn accept_renames_and_reject_removes() {
        let dir = tempfile::tempdir().unwrap();
        snapshot::write(dir.path(), "a@T46G", "why", "old\n").unwrap();
        snapshot::write(dir.path(), "r@T46G", "why", "old\n").unwrap();
        pending_in(dir.path(), "a@T46G", "new\n");
        pending_in(dir.path(), "r@T46G", "new\n");
        let items = pending(dir.path()).unwrap();
        items[0].accept().unwrap();
        items[1].reject().unwrap();
        assert!(pending(dir.path()).unwrap().is_empty());
        let accepted = snapshot::check(dir.path(), "a@T46G", "why", "new\n");
        assert_eq!(accepted, snapshot::SnapshotCheck::Matches);
        let kept = snapshot::check(dir.path(), "r@T46G", "why", "old\n");
        assert_eq!(kept, snapshot::SnapshotCheck::Matches);
        let again = items[1].reject().unwrap_err();
        assert!(again.to_string().contains("cannot remove"), "{again}");
    }
}
