//! Whether a bench is in service, kept beside its lease in the lock folder so that every
//! process of the host (and `harness lab status`) sees the same answer:
//!
//! - `<bench>.service`: the bench is out of service, `disabled` by a person (`harness lab
//!   disable`) or `bad` after a failed health check, with the reason, who and when. A bad
//!   bench stays bad across runs until `harness lab enable`, or until it passes an explicit
//!   `harness lab check --bench`;
//! - `<bench>.wait.<pid>`: a process waiting for the bench's lease, so that its holder and
//!   anyone looking can see the queue. A waiter that died is ignored (its pid is gone).
//!
//! Bench names come from the command line or a lab file and become file names here: only
//! names of letters, digits, `-`, `_` and `.` (not leading) are accepted, so no name can
//! reach outside the folder.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::lock::{host_name, pid_exists};

/// Why a bench is out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutOfService {
    /// Taken out by a person until they enable it again.
    Disabled,
    /// Failed a health check; back once enabled or once it passes `lab check --bench`.
    Bad,
}

/// The record of a bench out of service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMark {
    /// Disabled or bad.
    pub state: OutOfService,
    /// Why, in the words of the person or the health check.
    pub reason: String,
    /// Who: the user who disabled it, or `health check` and the run's pid.
    pub by: String,
    /// The host it was marked on.
    pub host: String,
    /// When (seconds since the Unix epoch).
    pub since_unix_s: u64,
    /// Hand commands that used the bench anyway (`--force`), latest last, at most
    /// [`MAX_FORCED_NOTES`].
    #[serde(default)]
    pub forced: Vec<String>,
}

/// How many `--force` notes a service record keeps.
pub const MAX_FORCED_NOTES: usize = 10;

impl ServiceMark {
    /// The reason a run or hand command gives for leaving the bench alone.
    pub fn skip_reason(&self, bench: &str) -> String {
        let when = crate::report::utc_stamp(self.since_unix_s);
        match self.state {
            OutOfService::Disabled => format!(
                "bench {bench} is disabled by {} since {when}: {} (`harness lab enable {bench}` \
                 puts it back)",
                self.by, self.reason
            ),
            OutOfService::Bad => format!(
                "bench {bench} is bad since {when} ({}): {} (`harness lab check --bench {bench}` \
                 or `harness lab enable {bench}` puts it back)",
                self.by, self.reason
            ),
        }
    }
}

/// A process waiting for a bench's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    /// The waiting process.
    pub pid: u32,
    /// Its host.
    pub host: String,
    /// Its command line.
    pub command: String,
    /// What it wants the bench for.
    pub purpose: String,
    /// Since when it waits (seconds since the Unix epoch).
    pub since_unix_s: u64,
}

/// Why the service state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A bench name that cannot be a file name.
    #[error(
        "`{0}` is not a bench name: use letters, digits, `-`, `_` and `.` (not first), as in the \
         lab file"
    )]
    BadName(String),
    /// The lock folder or a file in it could not be used.
    #[error("lock folder {}: {action}: {source}", dir.display())]
    Io {
        /// The lock folder.
        dir: PathBuf,
        /// What was being done.
        action: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Refuses a bench name that could be anything but one plain file name.
pub fn check_name(bench: &str) -> Result<(), ServiceError> {
    let plain = !bench.is_empty()
        && bench.len() <= 64
        && !bench.starts_with('.')
        && bench
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain {
        Ok(())
    } else {
        Err(ServiceError::BadName(bench.to_string()))
    }
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn io_error(dir: &Path, action: String, source: std::io::Error) -> ServiceError {
    ServiceError::Io {
        dir: dir.to_path_buf(),
        action,
        source,
    }
}

fn mark_path(dir: &Path, bench: &str) -> PathBuf {
    dir.join(format!("{bench}.service"))
}

/// Writes `bytes` to `path` through a temporary file renamed into place: a reader never
/// sees half of it.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), ServiceError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "creating the folder".into(), e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(dir, format!("writing {}", path.display()), e)
    })
}

/// The bench's out-of-service record; `None` when it is in service. A record that is not
/// one (written by something else) is an error, never taken for "in service".
pub fn read_mark(dir: &Path, bench: &str) -> Result<Option<ServiceMark>, ServiceError> {
    check_name(bench)?;
    let path = mark_path(dir, bench);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir, format!("reading {}", path.display()), e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        io_error(
            dir,
            format!(
                "{} is not a service record (fix or remove it)",
                path.display()
            ),
            std::io::Error::other(e),
        )
    })
}

/// Takes the bench out of service: `disabled` by `by`, or `bad` after a health check.
/// Disabling replaces a bad mark (a person now owns the question); a health check never
/// replaces a person's `disabled`.
pub fn mark(
    dir: &Path,
    bench: &str,
    state: OutOfService,
    reason: &str,
    by: &str,
) -> Result<ServiceMark, ServiceError> {
    check_name(bench)?;
    if state == OutOfService::Bad
        && let Some(existing) = read_mark(dir, bench)?
        && existing.state == OutOfService::Disabled
    {
        return Ok(existing);
    }
    let record = ServiceMark {
        state,
        reason: reason.trim().to_string(),
        by: by.to_string(),
        host: host_name(),
        since_unix_s: now_unix_s(),
        forced: Vec::new(),
    };
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| io_error(dir, "encoding".into(), std::io::Error::other(e)))?;
    write_atomically(dir, &mark_path(dir, bench), &json)?;
    Ok(record)
}

/// Notes on the bench's out-of-service record that `by` used it anyway with `command`, so
/// `lab status` shows who overrode it; a bench in service has nothing to note.
pub fn note_forced(dir: &Path, bench: &str, by: &str, command: &str) -> Result<(), ServiceError> {
    let Some(mut record) = read_mark(dir, bench)? else {
        return Ok(());
    };
    record.forced.push(format!(
        "{} by {by} on {}: {command}",
        crate::report::utc_stamp(now_unix_s()),
        host_name()
    ));
    let excess = record.forced.len().saturating_sub(MAX_FORCED_NOTES);
    record.forced.drain(..excess);
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| io_error(dir, "encoding".into(), std::io::Error::other(e)))?;
    write_atomically(dir, &mark_path(dir, bench), &json)
}

/// Puts the bench back in service; returns the mark it had, if any.
pub fn clear(dir: &Path, bench: &str) -> Result<Option<ServiceMark>, ServiceError> {
    let had = read_mark(dir, bench)?;
    if had.is_some() {
        let path = mark_path(dir, bench);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(dir, format!("removing {}", path.display()), e)),
        }
    }
    Ok(had)
}

/// Puts a bench back in service only when it is `bad` (a passed check); a person's
/// `disabled` stays. Returns the mark removed.
pub fn clear_bad(dir: &Path, bench: &str) -> Result<Option<ServiceMark>, ServiceError> {
    match read_mark(dir, bench)? {
        Some(mark) if mark.state == OutOfService::Bad => clear(dir, bench),
        _ => Ok(None),
    }
}

/// Is this bench usable, and if not, why: the one question a run asks before planning a
/// bench's cases. A record that cannot be read counts as unusable, with the reason.
pub fn why_unusable(dir: &Path, bench: &str) -> Option<String> {
    match read_mark(dir, bench) {
        Ok(None) => None,
        Ok(Some(mark)) => Some(mark.skip_reason(bench)),
        Err(e) => Some(format!(
            "bench {bench}: its service state is unreadable: {e}"
        )),
    }
}

/// [`why_unusable`] in the lock folder a run resolves from `lock_dir` (`--lock-dir`, else
/// the lab's `lock_dir`), as every other user of the lease folder does.
pub fn unusable_in(lock_dir: Option<&Path>, bench: &str) -> Option<String> {
    why_unusable(&super::resolve_lock_dir(lock_dir, None), bench)
}

/// The user running this process, for `disabled by`.
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| {
            // SAFETY: getuid cannot fail.
            format!("uid {}", unsafe { libc::getuid() })
        })
}

fn wait_path(dir: &Path, bench: &str, pid: u32) -> PathBuf {
    dir.join(format!("{bench}.wait.{pid}"))
}

/// This process's place in a bench's queue, removed when dropped (the lease taken, the wait
/// given up).
#[derive(Debug)]
pub struct WaitTicket {
    path: PathBuf,
}

impl WaitTicket {
    /// Records that this process waits for `bench` for `purpose`. A failure to record is
    /// logged, never fatal: the wait itself does not depend on it.
    pub fn take(dir: &Path, bench: &str, purpose: &str) -> Option<WaitTicket> {
        check_name(bench).ok()?;
        let waiter = Waiter {
            pid: std::process::id(),
            host: host_name(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            purpose: purpose.to_string(),
            since_unix_s: now_unix_s(),
        };
        let path = wait_path(dir, bench, waiter.pid);
        let json = serde_json::to_vec_pretty(&waiter).ok()?;
        match write_atomically(dir, &path, &json) {
            Ok(()) => Some(WaitTicket { path }),
            Err(e) => {
                tracing::warn!(bench, "cannot record the wait: {e}");
                None
            }
        }
    }
}

impl Drop for WaitTicket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The processes waiting for `bench`, longest first; dead waiters of this host are left
/// out (and their records removed).
pub fn waiters(dir: &Path, bench: &str) -> Vec<Waiter> {
    if check_name(bench).is_err() {
        return Vec::new();
    }
    let prefix = format!("{bench}.wait.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let host = host_name();
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // Only plain files: a link here is not a waiter's record.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Some(waiter) = std::fs::read_to_string(entry.path())
            .ok()
            .and_then(|text| serde_json::from_str::<Waiter>(&text).ok())
            .filter(|w| w.pid == pid)
        else {
            continue;
        };
        if waiter.host == host && !pid_exists(waiter.pid) {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        found.push(waiter);
    }
    found.sort_by_key(|w| (w.since_unix_s, w.pid));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_plain_file_names_are_refused() {
        for bad in [
            "",
            ".hidden",
            "../t46g",
            "a/b",
            "t46g\n",
            "x y",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(check_name(bad), Err(ServiceError::BadName(_))),
                "{bad:?}"
            );
        }
        for good in ["t46g", "T46G-2", "rack_1.bench.3"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn disabled_and_bad_are_kept_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(why_unusable(dir.path(), "t46g"), None);
        mark(
            dir.path(),
            "t46g",
            OutOfService::Bad,
            "no boot",
            "health check",
        )
        .unwrap();
        let why = why_unusable(dir.path(), "t46g").unwrap();
        assert!(why.contains("is bad") && why.contains("no boot"), "{why}");
        // A person's decision wins over the health check's, and is not replaced by it.
        mark(dir.path(), "t46g", OutOfService::Disabled, "PSU", "ana").unwrap();
        mark(
            dir.path(),
            "t46g",
            OutOfService::Bad,
            "again",
            "health check",
        )
        .unwrap();
        let kept = read_mark(dir.path(), "t46g").unwrap().unwrap();
        assert_eq!(
            (kept.state, kept.reason.as_str()),
            (OutOfService::Disabled, "PSU")
        );
        // A passed check does not undo a person's `disable`; `enable` does.
        assert_eq!(clear_bad(dir.path(), "t46g").unwrap(), None);
        assert!(clear(dir.path(), "t46g").unwrap().is_some());
        assert_eq!(why_unusable(dir.path(), "t46g"), None);
    }

    #[test]
    fn a_record_that_is_not_one_makes_the_bench_unusable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t46g.service"), "garbage").unwrap();
        let why = why_unusable(dir.path(), "t46g").unwrap();
        assert!(why.contains("unreadable"), "{why}");
    }

    #[test]
    fn a_waiter_is_listed_until_its_ticket_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let ticket = WaitTicket::take(dir.path(), "t46g", "run x").unwrap();
        let listed = waiters(dir.path(), "t46g");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].pid, std::process::id());
        assert_eq!(listed[0].purpose, "run x");
        assert!(waiters(dir.path(), "t40p").is_empty());
        drop(ticket);
        assert!(waiters(dir.path(), "t46g").is_empty());
    }

    #[test]
    fn a_dead_waiter_is_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = Waiter {
            pid: 0x7FFF_FFF0,
            host: host_name(),
            command: "harness run".into(),
            purpose: "run x".into(),
            since_unix_s: 1,
        };
        std::fs::write(
            wait_path(dir.path(), "t46g", dead.pid),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        assert!(waiters(dir.path(), "t46g").is_empty());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// A name is accepted only when its files stay one plain entry of the folder.
            #[test]
            fn accepted_names_stay_inside_the_folder(name in "[a-zA-Z0-9._/ -]{0,16}") {
                if check_name(&name).is_ok() {
                    let dir = Path::new("/locks");
                    let path = mark_path(dir, &name);
                    prop_assert_eq!(path.parent(), Some(dir));
                    prop_assert!(!name.starts_with('.') && !name.contains('/'));
                    let waiter = wait_path(dir, &name, 7);
                    prop_assert_eq!(waiter.parent(), Some(dir));
                }
            }
        }
    }
}
