//! Comparing a redacted transcript with its snapshot
//! (`scenarios/snapshots/<scenario>@<MODEL>.snap`), and what a comparison may write.
//!
//! The comparison is the harness's own, not insta's: a run's verdict must not depend on
//! the environment it runs in, and insta reads `INSTA_UPDATE`, `INSTA_FORCE_PASS` and `CI`
//! (and runs `cargo metadata`) at every assertion. The files stay in insta's format
//! (`snap_file`), so `cargo insta review` works on them as well as `harness review`.
//!
//! What a run writes is given by its caller, never read from the environment here: a
//! pending `<name>.snap.new` for a person to review (the default), nothing (under CI, which
//! leaves the checkout as it is), or the `.snap` itself (`harness run --update-snapshots`).
//! The verdict is the same in every case: a difference is a fail.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::expect::snap_file::{self, SnapFile};
use crate::outcome::Outcome;

/// What a comparison may write into the snapshots folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotWrites {
    /// Leave the folder as it is (runs under CI, tests on the checkout's snapshots).
    Nothing,
    /// Write this run's transcript as `<name>.snap.new` beside a differing or missing
    /// snapshot, for `harness review` or `cargo insta review`.
    Pending,
    /// Rewrite a differing or missing snapshot itself (`--update-snapshots`): the change is
    /// then read with `git diff`. The case still reports what it compared.
    Update,
}

/// `--update-snapshots` under CI: a pipeline that rewrites its own expectations can never
/// fail, so it is refused before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateUnderCi {
    /// The value of `CI` that was found.
    pub ci: String,
}

impl fmt::Display for UpdateUnderCi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--update-snapshots is refused under CI (CI={:?}): snapshots are rewritten on a \
             workstation, where the change is read with `git diff` before it is committed",
            self.ci
        )
    }
}

impl std::error::Error for UpdateUnderCi {}

impl SnapshotWrites {
    /// These writes in an environment whose `CI` variable is `ci`: under CI a run writes
    /// nothing into the checkout (insta's convention) and an update is refused.
    pub fn under_ci(self, ci: Option<&str>) -> Result<SnapshotWrites, UpdateUnderCi> {
        if !ci_is_set(ci) {
            return Ok(self);
        }
        match self {
            SnapshotWrites::Update => Err(UpdateUnderCi {
                ci: ci.unwrap_or_default().to_string(),
            }),
            SnapshotWrites::Nothing | SnapshotWrites::Pending => Ok(SnapshotWrites::Nothing),
        }
    }
}

/// Whether a `CI` variable with this value means a CI job: set, and not empty, `0`,
/// `false`, `no` or `off`.
pub fn ci_is_set(value: Option<&str>) -> bool {
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(v) => !matches!(v.as_str(), "" | "0" | "false" | "no" | "off"),
    }
}

/// Where a run's snapshots are, and what it may write there.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    writes: SnapshotWrites,
}

impl SnapshotStore {
    /// `dir` absolute, so the paths in a case's detail can be opened from anywhere.
    pub fn new(dir: PathBuf, writes: SnapshotWrites) -> SnapshotStore {
        SnapshotStore { dir, writes }
    }

    /// Compares `transcript` with the snapshot `name`; on a difference or a missing
    /// snapshot, writes as this store allows. `description` goes into a written header.
    pub fn check(&self, name: &str, description: &str, transcript: &str) -> SnapshotCheck {
        let snapshot = snapshot_file(&self.dir, name);
        let stored = match read(&snapshot) {
            Ok(stored) => stored,
            Err(problem) => return SnapshotCheck::Unreadable { snapshot, problem },
        };
        let run = snap_file::normalize(transcript);
        let diff = match &stored {
            Some(stored) if stored.normalized_body() == run => return SnapshotCheck::Matches,
            Some(stored) => Some(unified_diff(&stored.body, transcript)),
            None => None,
        };
        let written = self.record(&snapshot, description, transcript);
        match diff {
            Some(diff) => SnapshotCheck::Differs {
                snapshot,
                diff,
                written,
            },
            None => SnapshotCheck::Missing { snapshot, written },
        }
    }

    /// Writes this run's transcript where the store allows, after a difference.
    fn record(&self, snapshot: &Path, description: &str, transcript: &str) -> Written {
        let target = match self.writes {
            SnapshotWrites::Nothing => return Written::Nothing,
            SnapshotWrites::Pending => pending_file(snapshot),
            SnapshotWrites::Update => snapshot.to_path_buf(),
        };
        if let Err(e) = write_atomic(&target, snap_file::render(description, transcript)) {
            return Written::Failed {
                file: target,
                error: e.to_string(),
            };
        }
        if self.writes == SnapshotWrites::Pending {
            return Written::Pending(target);
        }
        // A pending file from an earlier run would now offer an outdated change.
        let stale = pending_file(snapshot);
        match std::fs::remove_file(&stale) {
            Ok(()) => {
                tracing::info!(file = %stale.display(), "removed an outdated pending snapshot")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %stale.display(), "cannot remove an outdated pending snapshot: {e}")
            }
        }
        Written::Rewritten(target)
    }
}

/// Compares `transcript` with the snapshot `name` in `snapshots_dir`, writing nothing.
pub fn check(
    snapshots_dir: &Path,
    name: &str,
    description: &str,
    transcript: &str,
) -> SnapshotCheck {
    SnapshotStore::new(snapshots_dir.to_path_buf(), SnapshotWrites::Nothing).check(
        name,
        description,
        transcript,
    )
}

/// The result of one comparison, with what it wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotCheck {
    /// The transcript is the snapshot, byte for byte after redaction.
    Matches,
    /// No snapshot file: the case fails until someone reads and accepts one.
    Missing {
        /// Where the snapshot was looked for.
        snapshot: PathBuf,
        /// The transcript kept for review.
        written: Written,
    },
    /// The transcript differs; `diff` is unified, snapshot (`-`) to this run (`+`).
    Differs {
        /// The snapshot compared with.
        snapshot: PathBuf,
        /// What changed, for the report and the reviewer.
        diff: String,
        /// The transcript kept for review, or the rewritten snapshot.
        written: Written,
    },
    /// The snapshot exists but could not be compared with: never a finding about the
    /// firmware.
    Unreadable {
        /// The snapshot that could not be read.
        snapshot: PathBuf,
        /// Why, which decides between a lab fault and a config error.
        problem: Unreadable,
    },
}

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// The host failed to read it (too many open files, permissions, a disk error): a lab
    /// fault, and the next run may well read it.
    Io(String),
    /// It is not a snapshot file (a folder, not UTF-8, no metadata header): a config error
    /// until someone fixes or removes it.
    NotASnapshot(String),
}

/// What a comparison wrote into the snapshots folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The comparison left the folder as it was.
    Nothing,
    /// This run's transcript as a `.snap.new` to review.
    Pending(PathBuf),
    /// This run's transcript as the `.snap` itself (`--update-snapshots`).
    Rewritten(PathBuf),
    /// Writing failed; the snapshot is untouched, and the case says why.
    Failed {
        /// The file that could not be written.
        file: PathBuf,
        /// What the host said.
        error: String,
    },
}

impl Written {
    /// One paragraph for a case's detail: what is on disk now, and what to do with it.
    fn note(&self) -> String {
        match self {
            Written::Nothing => "nothing was written into the snapshots folder (a run under CI \
                                 leaves it as it is); this run's transcript is in its run folder"
                .to_string(),
            Written::Pending(file) => format!(
                "this run's transcript was written to {}: read it, then accept or reject it \
                 with `harness review` (or `cargo insta review`)",
                file.display()
            ),
            Written::Rewritten(file) => format!(
                "--update-snapshots rewrote {} with this run's transcript: read the change \
                 with `git diff` before committing it",
                file.display()
            ),
            Written::Failed { file, error } => format!(
                "could not write {}: {error}; this run's transcript is in its run folder",
                file.display()
            ),
        }
    }
}

impl SnapshotCheck {
    /// The case's outcome and detail. A difference or a missing snapshot is a fail
    /// whatever was written; a snapshot that could not be read is never one.
    pub fn verdict(&self) -> (Outcome, String) {
        match self {
            SnapshotCheck::Matches => (Outcome::Pass, String::new()),
            SnapshotCheck::Missing { snapshot, written } => (
                Outcome::Fail,
                format!(
                    "no snapshot yet: {} does not exist\n{}",
                    snapshot.display(),
                    written.note()
                ),
            ),
            SnapshotCheck::Differs {
                snapshot,
                diff,
                written,
            } => (
                Outcome::Fail,
                format!(
                    "the transcript differs from {}\n{}\n\n{diff}",
                    snapshot.display(),
                    written.note()
                ),
            ),
            SnapshotCheck::Unreadable {
                snapshot,
                problem: Unreadable::Io(error),
            } => (
                Outcome::LabFault,
                format!("cannot read the snapshot {}: {error}", snapshot.display()),
            ),
            SnapshotCheck::Unreadable {
                snapshot,
                problem: Unreadable::NotASnapshot(reason),
            } => (
                Outcome::ConfigError,
                format!("{}: not a snapshot file: {reason}", snapshot.display()),
            ),
        }
    }
}

/// The file of a snapshot.
pub fn snapshot_file(snapshots_dir: &Path, name: &str) -> PathBuf {
    snapshots_dir.join(format!("{name}.snap"))
}

/// The pending file beside a snapshot: `<name>.snap.new`, where `cargo insta` looks too.
pub fn pending_file(snapshot: &Path) -> PathBuf {
    let mut name = snapshot.as_os_str().to_os_string();
    name.push(".new");
    PathBuf::from(name)
}

/// Reads a snapshot (or pending) file; `Ok(None)` when it does not exist. Only a file that
/// is not there is missing: every other failure says why the file could not be used.
pub fn read(file: &Path) -> Result<Option<SnapFile>, Unreadable> {
    use std::io::ErrorKind;
    // Checked before opening: opening a FIFO would wait for a writer.
    let metadata = match std::fs::metadata(file) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == ErrorKind::NotADirectory => {
            return Err(Unreadable::NotASnapshot(format!(
                "a part of its path is not a folder ({e})"
            )));
        }
        Err(e) => return Err(Unreadable::Io(e.to_string())),
    };
    if !metadata.is_file() {
        let kind = if metadata.is_dir() {
            "a folder"
        } else {
            "a special file"
        };
        return Err(Unreadable::NotASnapshot(format!(
            "it is {kind}, not a file"
        )));
    }
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        // Removed between the two calls: as missing as it gets.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Unreadable::Io(e.to_string())),
    };
    SnapFile::parse(&bytes)
        .map(Some)
        .map_err(|e| Unreadable::NotASnapshot(e.to_string()))
}

/// Writes `transcript` as the accepted snapshot `name` in `snapshots_dir`, in insta's
/// layout, for a transcript a person has just watched being recorded
/// (`harness repro --save`). Returns the file written.
pub fn write(
    snapshots_dir: &Path,
    name: &str,
    description: &str,
    transcript: &str,
) -> std::io::Result<PathBuf> {
    let file = snapshot_file(snapshots_dir, name);
    write_atomic(&file, snap_file::render(description, transcript))?;
    Ok(file)
}

/// Writes through a temporary file of a random name renamed over `path`: a reader (another
/// bench of the same model, `cargo insta review`) sees the old file or the new one, never
/// half of one, and the temporary name is never a `.snap.new` a review would pick up.
fn write_atomic(path: &Path, contents: String) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix(".snapshot-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(contents.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The body of a snapshot file's text; the whole text when it has no metadata header.
pub fn snapshot_body(text: &str) -> String {
    SnapFile::parse(text.as_bytes()).map_or_else(|_| text.to_string(), |file| file.body)
}

/// A unified diff with three lines of context, from the snapshot (`-`) to this run (`+`).
pub fn unified_diff(snapshot: &str, run: &str) -> String {
    labelled_diff(snapshot, run, "snapshot", "this run")
}

/// A unified diff with three lines of context between two bodies, compared as insta
/// compares them; empty when they match.
pub fn labelled_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    // Whole lines on both sides: no "no newline at end of file" for the last one.
    let lines = |text: &str| {
        let text = snap_file::normalize(text);
        if text.is_empty() { text } else { text + "\n" }
    };
    similar::TextDiff::from_lines(lines(old).as_str(), lines(new).as_str())
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "case@T46G";

    fn store(dir: &Path, writes: SnapshotWrites) -> SnapshotStore {
        SnapshotStore::new(dir.to_path_buf(), writes)
    }

    fn accepted(dir: &Path, body: &str) -> PathBuf {
        write(dir, NAME, "d", body).unwrap()
    }

    #[test]
    fn diff_shows_both_sides() {
        let diff = unified_diff("a\nb\nc\n", "a\nB\nc\n");
        assert!(diff.contains("-b"), "{diff}");
        assert!(diff.contains("+B"), "{diff}");
        let last = unified_diff("a\nb", "a\nc\n\n");
        assert!(!last.contains("No newline"), "{last}");
        assert_eq!(unified_diff("a\n", "a\r\n\n"), "");
    }

    #[test]
    fn a_match_passes_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = accepted(dir.path(), "hello\n");
        let before = std::fs::read(&snapshot).unwrap();
        for writes in [
            SnapshotWrites::Nothing,
            SnapshotWrites::Pending,
            SnapshotWrites::Update,
        ] {
            // Trailing blank lines and CRLF do not count, as with insta.
            let check = store(dir.path(), writes).check(NAME, "d", "hello\r\n\n");
            assert_eq!(check, SnapshotCheck::Matches);
            assert_eq!(check.verdict(), (Outcome::Pass, String::new()));
        }
        assert_eq!(std::fs::read(&snapshot).unwrap(), before);
        assert!(!pending_file(&snapshot).exists());
    }

    #[test]
    fn a_difference_fails_whatever_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = accepted(dir.path(), "hello\n");
        let nothing = store(dir.path(), SnapshotWrites::Nothing).check(NAME, "d", "goodbye\n");
        let SnapshotCheck::Differs { diff, written, .. } = &nothing else {
            panic!("expected a diff, got {nothing:?}");
        };
        assert!(
            diff.contains("-hello") && diff.contains("+goodbye"),
            "{diff}"
        );
        assert_eq!(*written, Written::Nothing);
        let (outcome, detail) = nothing.verdict();
        assert_eq!(outcome, Outcome::Fail);
        assert!(detail.contains("nothing was written"), "{detail}");
        assert!(detail.contains("+goodbye"), "{detail}");
        assert!(!pending_file(&snapshot).exists());
    }

    #[test]
    fn a_difference_leaves_a_pending_file_insta_reads() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = accepted(dir.path(), "hello\n");
        let check = store(dir.path(), SnapshotWrites::Pending).check(NAME, "why", "goodbye\n");
        let pending = pending_file(&snapshot);
        assert_eq!(
            check,
            SnapshotCheck::Differs {
                snapshot: snapshot.clone(),
                diff: unified_diff("hello\n", "goodbye\n"),
                written: Written::Pending(pending.clone()),
            }
        );
        let (outcome, detail) = check.verdict();
        assert_eq!(outcome, Outcome::Fail);
        assert!(detail.contains(&pending.display().to_string()), "{detail}");
        assert!(detail.contains("`harness review`"), "{detail}");
        assert!(!detail.contains("INSTA"), "{detail}");
        let new = insta::Snapshot::from_file(&pending).unwrap();
        assert_eq!(new.metadata().description(), Some("why"));
        assert_eq!(
            new.contents().as_text().unwrap().to_string(),
            "goodbye".to_string()
        );
        assert_eq!(
            read(&snapshot).unwrap().unwrap().normalized_body(),
            "hello",
            "the snapshot itself is untouched"
        );
    }

    #[test]
    fn a_missing_snapshot_fails_and_may_leave_a_pending_file() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = snapshot_file(dir.path(), NAME);
        let nothing = store(dir.path(), SnapshotWrites::Nothing).check(NAME, "d", "hello\n");
        assert_eq!(
            nothing,
            SnapshotCheck::Missing {
                snapshot: snapshot.clone(),
                written: Written::Nothing
            }
        );
        assert_eq!(nothing.verdict().0, Outcome::Fail);
        assert!(!snapshot.exists() && !pending_file(&snapshot).exists());

        let pending = store(dir.path(), SnapshotWrites::Pending).check(NAME, "d", "hello\n");
        assert_eq!(
            pending,
            SnapshotCheck::Missing {
                snapshot: snapshot.clone(),
                written: Written::Pending(pending_file(&snapshot))
            }
        );
        let (outcome, detail) = pending.verdict();
        assert_eq!(outcome, Outcome::Fail);
        assert!(detail.starts_with("no snapshot yet"), "{detail}");
        assert!(!snapshot.exists(), "only the pending file is written");
    }

    #[test]
    fn an_update_rewrites_the_snapshot_and_still_fails() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = accepted(dir.path(), "hello\n");
        // An outdated pending file from an earlier run goes with the update.
        std::fs::write(pending_file(&snapshot), snap_file::render("d", "old\n")).unwrap();
        let check = store(dir.path(), SnapshotWrites::Update).check(NAME, "d", "goodbye\n");
        assert!(
            matches!(&check, SnapshotCheck::Differs { written: Written::Rewritten(f), .. } if *f == snapshot),
            "{check:?}"
        );
        let (outcome, detail) = check.verdict();
        assert_eq!(outcome, Outcome::Fail);
        assert!(detail.contains("git diff"), "{detail}");
        assert!(!pending_file(&snapshot).exists());
        assert_eq!(
            store(dir.path(), SnapshotWrites::Nothing).check(NAME, "d", "goodbye\n"),
            SnapshotCheck::Matches
        );

        let other = "new@T46G";
        let missing = store(dir.path(), SnapshotWrites::Update).check(other, "d", "first\n");
        assert_eq!(missing.verdict().0, Outcome::Fail);
        assert_eq!(
            check_nothing(dir.path(), other, "first\n"),
            SnapshotCheck::Matches
        );
    }

    fn check_nothing(dir: &Path, name: &str, transcript: &str) -> SnapshotCheck {
        check(dir, name, "d", transcript)
    }

    #[test]
    fn a_folder_in_place_of_the_snapshot_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = snapshot_file(dir.path(), NAME);
        std::fs::create_dir(&snapshot).unwrap();
        let check = store(dir.path(), SnapshotWrites::Pending).check(NAME, "d", "hello\n");
        assert!(
            matches!(
                &check,
                SnapshotCheck::Unreadable {
                    problem: Unreadable::NotASnapshot(_),
                    ..
                }
            ),
            "{check:?}"
        );
        let (outcome, detail) = check.verdict();
        assert_eq!(outcome, Outcome::ConfigError);
        assert!(detail.contains(&snapshot.display().to_string()), "{detail}");
        assert!(
            !pending_file(&snapshot).exists(),
            "nothing compared, nothing written"
        );
    }

    #[test]
    fn a_file_that_is_not_a_snapshot_is_a_config_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = snapshot_file(dir.path(), NAME);
        for (bytes, says) in [
            (
                &b"---\nsource: x\n---\nhel\xfflo\n"[..],
                "line 4: not UTF-8",
            ),
            (&b"hello\n"[..], "line 1: expected `---`"),
            (
                &b"---\nsource: x\nhello\n"[..],
                "line 3: expected `key: value`",
            ),
        ] {
            std::fs::write(&snapshot, bytes).unwrap();
            let check = store(dir.path(), SnapshotWrites::Update).check(NAME, "d", "hello\n");
            let (outcome, detail) = check.verdict();
            assert_eq!(outcome, Outcome::ConfigError, "{detail}");
            assert!(detail.contains(&snapshot.display().to_string()), "{detail}");
            assert!(detail.contains(says), "{detail}");
            assert_eq!(std::fs::read(&snapshot).unwrap(), bytes, "never rewritten");
        }
    }

    fn assert_lab_fault(check: &SnapshotCheck) {
        assert!(
            matches!(
                check,
                SnapshotCheck::Unreadable {
                    problem: Unreadable::Io(_),
                    ..
                }
            ),
            "{check:?}"
        );
        let (outcome, detail) = check.verdict();
        assert_eq!(outcome, Outcome::LabFault, "{detail}");
        assert!(detail.starts_with("cannot read the snapshot"), "{detail}");
    }

    #[test]
    fn a_snapshot_the_disk_cannot_read_is_a_lab_fault() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = snapshot_file(dir.path(), NAME);
        // A regular file whose first read fails with EIO, for root as for anyone.
        std::os::unix::fs::symlink("/proc/self/mem", &snapshot).unwrap();
        let check = store(dir.path(), SnapshotWrites::Pending).check(NAME, "d", "hello\n");
        assert_lab_fault(&check);
        assert!(
            !pending_file(&snapshot).exists(),
            "nothing compared, nothing written"
        );
    }

    /// Set in the child process of the test below: the snapshots folder to check.
    const EMFILE_CHILD: &str = "HARNESS_TEST_EMFILE_SNAPSHOTS";

    #[test]
    fn a_host_out_of_file_descriptors_is_a_lab_fault() {
        if let Ok(dir) = std::env::var(EMFILE_CHILD) {
            // The child: every descriptor below the limit is taken, so opening fails with
            // EMFILE while `stat` still works, as on a host at its limit.
            let store = store(Path::new(&dir), SnapshotWrites::Pending);
            let check = with_no_descriptor_left(|| store.check(NAME, "d", "hello\n"));
            println!("child check: {check:?}");
            assert_lab_fault(&check);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        accepted(dir.path(), "hello\n");
        // The limit is per process: lowering it here would break the tests running beside.
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "expect::snapshot::tests::a_host_out_of_file_descriptors_is_a_lab_fault",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(EMFILE_CHILD, dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success() && stdout.contains("child check: Unreadable"),
            "{stdout}{}",
            String::from_utf8_lossy(&child.stderr)
        );
        assert!(!pending_file(&snapshot_file(dir.path(), NAME)).exists());
    }

    fn with_no_descriptor_left(f: impl FnOnce() -> SnapshotCheck) -> SnapshotCheck {
        use std::os::fd::AsRawFd;
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        let lowest_free = std::fs::File::open("/dev/null").unwrap().as_raw_fd();
        let tight = libc::rlimit {
            rlim_cur: lowest_free as libc::rlim_t,
            rlim_max: old.rlim_max,
        };
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &tight) }, 0);
        let check = f();
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
        check
    }

    #[test]
    fn ci_decides_what_is_written_never_the_verdict() {
        assert!(!ci_is_set(None));
        for off in ["", "0", "false", "FALSE", "no", "off"] {
            assert!(!ci_is_set(Some(off)), "{off:?}");
        }
        for on in ["true", "1", "yes", "gitlab"] {
            assert!(ci_is_set(Some(on)), "{on:?}");
        }
        assert_eq!(
            SnapshotWrites::Pending.under_ci(Some("true")),
            Ok(SnapshotWrites::Nothing)
        );
        assert_eq!(
            SnapshotWrites::Pending.under_ci(Some("false")),
            Ok(SnapshotWrites::Pending)
        );
        assert_eq!(
            SnapshotWrites::Update.under_ci(None),
            Ok(SnapshotWrites::Update)
        );
        let refused = SnapshotWrites::Update.under_ci(Some("true")).unwrap_err();
        assert!(
            refused.to_string().contains("--update-snapshots"),
            "{refused}"
        );
    }

    #[test]
    fn a_written_snapshot_is_read_back_by_insta() {
        let dir = tempfile::tempdir().unwrap();
        let summary = "**7283 then \"Yes\": it calls home";
        let file = write(dir.path(), NAME, summary, "line 1\n\n== end\n").unwrap();
        assert_eq!(file, snapshot_file(dir.path(), NAME));
        let stored = insta::Snapshot::from_file(&file).unwrap();
        assert_eq!(stored.metadata().description(), Some(summary));
        assert_eq!(
            stored.contents().as_text().unwrap().to_string(),
            "line 1\n\n== end"
        );
        assert_eq!(
            check(dir.path(), NAME, summary, "line 1\n\n== end\n"),
            SnapshotCheck::Matches
        );
        assert!(matches!(
            check(dir.path(), NAME, summary, "line 2\n"),
            SnapshotCheck::Differs { .. }
        ));
    }

    #[test]
    fn the_committed_snapshots_read_as_insta_reads_them() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/snapshots");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "snap") {
                continue;
            }
            let ours = read(&path).unwrap().unwrap();
            let theirs = insta::Snapshot::from_file(&path).unwrap();
            assert_eq!(
                ours.normalized_body(),
                theirs.contents().as_text().unwrap().to_string(),
                "{}",
                path.display()
            );
            assert_eq!(
                ours.description.as_deref(),
                theirs.metadata().description(),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen > 0, "no snapshot in {}", dir.display());
    }
}
