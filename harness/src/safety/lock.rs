//! One owner per bench across every process of the host: a lease file
//! `<lock dir>/<bench>.lock` holding who owns the bench, why, and until when.
//!
//! Taking, renewing, reclaiming and releasing a lease all happen under an exclusive
//! `flock` on `<bench>.guard`, so two processes that both find a stale lease cannot both
//! reclaim it. The lease itself is written to a temporary file and renamed into place, so
//! a reader (an operator's `cat`, a waiting process) never sees half of it. A lease is
//! stale when its expiry has passed (its owner stopped renewing: hung, or on another host
//! and gone) or when its owner's pid no longer exists on this host (killed: no chance to
//! clean up).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long a lease holds without renewal. Long enough to ride out a busy host, short
/// enough that a hung owner on another host frees the bench within a minute.
pub const LEASE_S: u64 = 30;

/// How often the owner renews its lease: several renewals fit in one lease.
pub const RENEW_EVERY_S: u64 = 5;

/// How often a waiting process looks at the lease again.
const POLL_MS: u64 = 200;

/// What a lease file says: enough for an operator to find the owner and ask it to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The owning process.
    pub pid: u32,
    /// The host it runs on: a pid means nothing on another host.
    pub host: String,
    /// Its command line, as typed.
    pub command: String,
    /// What it does with the bench (`run autop-password-reset`).
    pub purpose: String,
    /// When it took the bench (seconds since the Unix epoch).
    pub acquired_unix_s: u64,
    /// Until when the lease holds unless renewed (seconds since the Unix epoch).
    pub expires_unix_s: u64,
    /// Tells this owner's lease from a later one of the same pid (a reused pid, a second
    /// lock of the same process).
    pub token: String,
}

impl std::fmt::Display for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {} ({}) since {}, lease until {}: {}",
            self.pid,
            self.host,
            self.purpose,
            crate::report::utc_stamp(self.acquired_unix_s),
            crate::report::utc_stamp(self.expires_unix_s),
            self.command
        )
    }
}

impl Lease {
    /// True when nobody owns the bench any more: expired, or its pid is gone from this host.
    pub fn is_stale(&self, now_unix_s: u64, this_host: &str) -> bool {
        self.expires_unix_s < now_unix_s || (self.host == this_host && !pid_exists(self.pid))
    }
}

/// Why a bench could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process owns the bench (and `--no-wait` was given, or the wait timed out).
    #[error("bench {bench} is in use by {holder}")]
    Busy {
        /// The bench.
        bench: String,
        /// Who owns it.
        holder: Box<Lease>,
    },
    /// Another process took the bench: this one stalled past its lease's expiry.
    #[error("the lease of bench {bench} is no longer ours (now: {now})")]
    Lost {
        /// The bench.
        bench: String,
        /// Who holds it now, in words.
        now: String,
    },
    /// The lock folder or a file in it could not be used.
    #[error(
        "lock folder {}: {action}: {source}. Check that the folder exists and is writable \
         (set it with --lock-dir or `lock_dir` in the lab's [lab] table)",
        dir.display()
    )]
    Io {
        /// The lock folder.
        dir: PathBuf,
        /// What was being done.
        action: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// How long `acquire` waits for a bench another process owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Refuse at once (`--no-wait`).
    NoWait,
    /// Wait up to this long (`--lock-timeout-s`).
    UpTo(Duration),
}

/// The outcome of one look at a bench's lease.
#[derive(Debug)]
pub enum Attempt {
    /// The bench is ours now; `reclaimed` holds the stale lease it replaced.
    Acquired {
        /// The new lock.
        lock: BenchLock,
        /// The lease of a dead or hung owner, replaced.
        reclaimed: Option<Lease>,
    },
    /// Another live process owns the bench.
    Held(Lease),
}

/// A bench owned by this process. Dropping it gives the bench up.
#[derive(Debug)]
pub struct BenchLock {
    dir: PathBuf,
    bench: String,
    lease: Lease,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// This host's name, as `hostname` prints it.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// True unless the kernel says no such process exists (`EPERM` means it exists under
/// another user: still an owner).
pub fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The lease file of a bench.
pub fn lease_path(dir: &Path, bench: &str) -> PathBuf {
    dir.join(format!("{bench}.lock"))
}

/// Reads a bench's lease; `None` when there is none. An unreadable lease (written by
/// something else) is treated as absent only if it is empty: otherwise it is an error, so
/// an operator looks before a bench is taken from under somebody.
pub fn read_lease(dir: &Path, bench: &str) -> Result<Option<Lease>, LockError> {
    let path = lease_path(dir, bench);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(dir, format!("reading {}", path.display()), source)),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text).map(Some).map_err(|e| {
        io_error(
            dir,
            format!(
                "{} is not a lease (remove it if no harness runs)",
                path.display()
            ),
            std::io::Error::other(e),
        )
    })
}

fn io_error(dir: &Path, action: String, source: std::io::Error) -> LockError {
    LockError::Io {
        dir: dir.to_path_buf(),
        action,
        source,
    }
}

/// An exclusive `flock` on the bench's guard file, released when dropped (the file closes).
struct Guard {
    _file: File,
}

impl Guard {
    fn take(dir: &Path, bench: &str) -> Result<Guard, LockError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "creating the folder".into(), e))?;
        let path = dir.join(format!("{bench}.guard"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(dir, format!("opening {}", path.display()), e))?;
        // SAFETY: a valid open descriptor; flock blocks only for the few file operations
        // another process does under the same guard.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io_error(
                dir,
                format!("locking {}", path.display()),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Guard { _file: file })
    }
}

fn write_lease(dir: &Path, bench: &str, lease: &Lease) -> Result<(), LockError> {
    let path = lease_path(dir, bench);
    let tmp = dir.join(format!(".{bench}.lock.{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(lease)
        .map_err(|e| io_error(dir, "encoding the lease".into(), std::io::Error::other(e)))?;
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| io_error(dir, format!("writing {}", path.display()), e))
}

/// Takes the bench if nobody owns it, or if its owner is dead or stopped renewing.
pub fn try_acquire(dir: &Path, bench: &str, purpose: &str) -> Result<Attempt, LockError> {
    let _guard = Guard::take(dir, bench)?;
    let host = host_name();
    let now = now_unix_s();
    let reclaimed = match read_lease(dir, bench)? {
        Some(lease) if !lease.is_stale(now, &host) => return Ok(Attempt::Held(lease)),
        other => other,
    };
    let lease = Lease {
        pid: std::process::id(),
        host,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        purpose: purpose.to_string(),
        acquired_unix_s: now,
        expires_unix_s: now + LEASE_S,
        token: format!("{:016x}", rand::random::<u64>()),
    };
    write_lease(dir, bench, &lease)?;
    Ok(Attempt::Acquired {
        lock: BenchLock {
            dir: dir.to_path_buf(),
            bench: bench.to_string(),
            lease,
            renewal: None,
        },
        reclaimed,
    })
}

/// Takes the bench, waiting for its owner as `wait` allows. `on_wait` is called with the
/// owner when the bench is found busy, and again whenever the lease changes (renewed, or
/// another owner took over), so a waiting line shows who holds the bench now and until when.
pub async fn acquire(
    dir: &Path,
    bench: &str,
    purpose: &str,
    wait: LockWait,
    mut on_wait: impl FnMut(&Lease),
) -> Result<(BenchLock, Option<Lease>), LockError> {
    let started = tokio::time::Instant::now();
    let mut told: Option<Lease> = None;
    loop {
        let (d, b, p) = (dir.to_path_buf(), bench.to_string(), purpose.to_string());
        let attempt = tokio::task::spawn_blocking(move || try_acquire(&d, &b, &p))
            .await
            .map_err(|e| io_error(dir, "lock task".into(), std::io::Error::other(e)))??;
        match attempt {
            Attempt::Acquired { lock, reclaimed } => return Ok((lock, reclaimed)),
            Attempt::Held(holder) => {
                let limit = match wait {
                    LockWait::NoWait => Duration::ZERO,
                    LockWait::UpTo(limit) => limit,
                };
                if started.elapsed() >= limit {
                    return Err(LockError::Busy {
                        bench: bench.to_string(),
                        holder: Box::new(holder),
                    });
                }
                // A new owner (the previous one finished, another took over) is told too,
                // and so is a renewal: the waiting line refreshes with the lease.
                if told.as_ref() != Some(&holder) {
                    on_wait(&holder);
                    told = Some(holder);
                }
                tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            }
        }
    }
}

impl BenchLock {
    /// The lease this process holds.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The bench.
    pub fn bench(&self) -> &str {
        &self.bench
    }

    /// Pushes the expiry forward now. Fails when the lease is no longer ours: someone
    /// judged it stale (this process stalled past its expiry) and took the bench.
    pub fn renew(&mut self) -> Result<(), LockError> {
        renew_lease(&self.dir, &self.bench, &mut self.lease)
    }

    /// Renews the lease every [`RENEW_EVERY_S`] seconds from a task, for as long as the lock
    /// lives: a long run keeps its bench, a hung one loses it after [`LEASE_S`].
    pub fn keep_renewed(&mut self) {
        let (dir, bench, mut lease) = (self.dir.clone(), self.bench.clone(), self.lease.clone());
        self.renewal = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(RENEW_EVERY_S));
            tick.tick().await;
            loop {
                tick.tick().await;
                let (d, b) = (dir.clone(), bench.clone());
                let result = tokio::task::spawn_blocking(move || {
                    let r = renew_lease(&d, &b, &mut lease);
                    (r, lease)
                })
                .await;
                match result {
                    Ok((Ok(()), renewed)) => lease = renewed,
                    Ok((Err(e @ LockError::Lost { .. }), _)) => {
                        tracing::error!(bench = %bench, "{e}");
                        return;
                    }
                    // A passing failure (no file descriptor left, a full disk): the lease
                    // is still ours until it expires, so keep trying at every tick.
                    Ok((Err(e), renewed)) => {
                        tracing::warn!(bench = %bench, "lease not renewed this time: {e}");
                        lease = renewed;
                    }
                    Err(e) => {
                        tracing::error!(bench = %bench, "lease renewal task failed: {e}");
                        return;
                    }
                }
            }
        }));
    }

    /// Gives the bench up: stops renewing and removes the lease if it is still ours.
    pub fn release(mut self) -> Result<(), LockError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), LockError> {
        if let Some(task) = self.renewal.take() {
            task.abort();
        }
        let _guard = Guard::take(&self.dir, &self.bench)?;
        match read_lease(&self.dir, &self.bench)? {
            Some(current) if current.token == self.lease.token => {
                let path = lease_path(&self.dir, &self.bench);
                std::fs::remove_file(&path)
                    .map_err(|e| io_error(&self.dir, format!("removing {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }
}

fn renew_lease(dir: &Path, bench: &str, lease: &mut Lease) -> Result<(), LockError> {
    let _guard = Guard::take(dir, bench)?;
    match read_lease(dir, bench)? {
        Some(current) if current.token == lease.token => {
            lease.expires_unix_s = now_unix_s() + LEASE_S;
            write_lease(dir, bench, lease)
        }
        other => Err(LockError::Lost {
            bench: bench.to_string(),
            now: other.map_or_else(|| "none".to_string(), |l| l.to_string()),
        }),
    }
}

impl Drop for BenchLock {
    fn drop(&mut self) {
        if self.renewal.is_some() || lease_path(&self.dir, &self.bench).exists() {
            if let Err(e) = self.release_inner() {
                tracing::warn!(bench = %self.bench, "could not give the bench up: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(pid: u32, host: &str, expires_unix_s: u64) -> Lease {
        Lease {
            pid,
            host: host.into(),
            command: "harness run".into(),
            purpose: "run test".into(),
            acquired_unix_s: 0,
            expires_unix_s,
            token: "t".into(),
        }
    }

    #[test]
    fn a_second_taker_is_told_who_holds_the_bench() {
        let dir = tempfile::tempdir().unwrap();
        let Attempt::Acquired { lock, reclaimed } =
            try_acquire(dir.path(), "t46g", "run first").unwrap()
        else {
            panic!("a free bench must be acquired");
        };
        assert!(reclaimed.is_none());
        let Attempt::Held(holder) = try_acquire(dir.path(), "t46g", "run second").unwrap() else {
            panic!("a held bench must be refused");
        };
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.purpose, "run first");
        assert_eq!(holder.token, lock.lease().token);
        lock.release().unwrap();
        assert!(matches!(
            try_acquire(dir.path(), "t46g", "run third").unwrap(),
            Attempt::Acquired {
                reclaimed: None,
                ..
            }
        ));
    }

    #[test]
    fn other_benches_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        let _a = try_acquire(dir.path(), "t46g", "run a").unwrap();
        assert!(matches!(
            try_acquire(dir.path(), "t48s", "run b").unwrap(),
            Attempt::Acquired { .. }
        ));
    }

    #[test]
    fn a_dead_owners_lease_is_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        // A child that has exited and been reaped: its pid no longer exists.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let dead = lease(child.id(), &host_name(), now_unix_s() + 600);
        write_lease(dir.path(), "t46g", &dead).unwrap();
        let Attempt::Acquired { reclaimed, .. } =
            try_acquire(dir.path(), "t46g", "run after").unwrap()
        else {
            panic!("a dead owner's bench must be reclaimed");
        };
        assert_eq!(reclaimed, Some(dead));
    }

    #[test]
    fn staleness_needs_expiry_or_a_missing_pid_on_this_host() {
        let me = std::process::id();
        let host = host_name();
        assert!(!lease(me, &host, 100).is_stale(50, &host));
        assert!(lease(me, &host, 100).is_stale(101, &host));
        // A pid on another host is not ours to check: only expiry counts.
        assert!(!lease(u32::MAX - 1, "elsewhere", 100).is_stale(50, &host));
        assert!(lease(u32::MAX - 1, &host, 100).is_stale(50, &host));
    }

    #[test]
    fn renewal_pushes_the_expiry_and_fails_once_the_lease_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let Attempt::Acquired { mut lock, .. } = try_acquire(dir.path(), "t46g", "run").unwrap()
        else {
            panic!("free bench");
        };
        let mut shortened = lock.lease().clone();
        shortened.expires_unix_s = 1;
        write_lease(dir.path(), "t46g", &shortened).unwrap();
        lock.renew().unwrap();
        let now = read_lease(dir.path(), "t46g").unwrap().unwrap();
        assert!(now.expires_unix_s >= now_unix_s() + LEASE_S - 1);
        write_lease(dir.path(), "t46g", &lease(1, "elsewhere", u64::MAX)).unwrap();
        assert!(lock.renew().is_err());
        // Dropping a lost lock must leave the new owner's lease alone.
        drop(lock);
        assert_eq!(read_lease(dir.path(), "t46g").unwrap().unwrap().pid, 1);
    }

    #[tokio::test]
    async fn no_wait_refuses_at_once_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _held = try_acquire(dir.path(), "t46g", "run first").unwrap();
        let mut told = Vec::new();
        let err = acquire(dir.path(), "t46g", "run second", LockWait::NoWait, |l| {
            told.push(l.clone())
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("(run first)"), "{err}");
        assert!(told.is_empty());
    }

    #[tokio::test]
    async fn a_waiter_gets_the_bench_once_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let Attempt::Acquired { lock, .. } = try_acquire(dir.path(), "t46g", "run first").unwrap()
        else {
            panic!("free bench");
        };
        let path = dir.path().to_path_buf();
        let (told_tx, mut told_rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = tokio::spawn(async move {
            acquire(
                &path,
                "t46g",
                "run second",
                LockWait::UpTo(Duration::from_secs(60)),
                |l| {
                    let _ = told_tx.send(l.purpose.clone());
                },
            )
            .await
            .map(|(l, _)| l.lease().purpose.clone())
        });
        // The waiter names the holder while it waits; only then is the bench given up.
        assert_eq!(told_rx.recv().await.unwrap(), "run first");
        lock.release().unwrap();
        assert_eq!(waiter.await.unwrap().unwrap(), "run second");
    }

    /// A renewal that fails for a passing reason (here the guard file replaced by a folder;
    /// in the field, no file descriptor left during a flood) does not end the renewals: the
    /// lease is pushed forward again once the cause is gone.
    #[tokio::test]
    async fn renewal_goes_on_after_a_passing_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (mut lock, _) = acquire(dir.path(), "b", "test", LockWait::NoWait, |_| {})
            .await
            .unwrap();
        let first = read_lease(dir.path(), "b").unwrap().unwrap().expires_unix_s;
        lock.keep_renewed();
        let guard = dir.path().join("b.guard");
        std::fs::remove_file(&guard).unwrap();
        std::fs::create_dir(&guard).unwrap();
        // The renewal at RENEW_EVERY_S fails; the cause is gone before the next one.
        tokio::time::sleep(Duration::from_secs(RENEW_EVERY_S + 2)).await;
        assert_eq!(
            read_lease(dir.path(), "b").unwrap().unwrap().expires_unix_s,
            first
        );
        std::fs::remove_dir(&guard).unwrap();
        tokio::time::sleep(Duration::from_secs(RENEW_EVERY_S)).await;
        let later = read_lease(dir.path(), "b").unwrap().unwrap().expires_unix_s;
        assert!(
            later > first,
            "the lease was not renewed again: {first} -> {later}"
        );
        lock.release().unwrap();
    }
}
