//! One exchange at a time on a device several processes share.
//!
//! A relay board serves many benches, and benches are leased to different processes (the
//! nightly run, QA, an engineer's hand command). Each process keeps the board's port open
//! (not exclusively), and every exchange, one frame and its answer, runs under an exclusive
//! `flock` on a lock file named after the device's canonical path. The kernel drops a flock
//! when its holder dies, so a killed process never wedges a board; and the lock file says
//! whether its last holder finished its exchange (`idle`) or not (`busy`), so the next one
//! knows to bring the board back in step first (a half-read answer may still be in flight).
//!
//! The lock files live in a folder of the host shared by every user of the rack
//! ([`device_lock_dir`]), not in a lab's lease folder: two labs (or two users) naming the
//! same board must still take turns on it.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest an exchange of another process is waited for. Every driver bounds its own
/// exchanges (answers within seconds, a `TAP` at most a minute), so a wait this long means
/// the holder is stopped (SIGSTOP, a debugger), not slow.
pub const MAX_WAIT: Duration = Duration::from_secs(75);

/// What the previous holder of a device left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predecessor {
    /// It finished its exchange: the device is in step.
    Finished,
    /// It stopped in the middle of an exchange (killed, or its answer never came): a late
    /// answer may still arrive, so the device must be brought back in step first.
    Interrupted {
        /// Its process id, for the log.
        pid: u32,
    },
}

impl Predecessor {
    /// True when the device must be resynchronised before it is trusted.
    pub fn interrupted(self) -> bool {
        matches!(self, Predecessor::Interrupted { .. })
    }
}

/// Why an exchange could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeviceLockError {
    /// The lock file could not be opened, read or locked.
    #[error("device lock {}: {action}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// What the operating system said.
        source: io::Error,
    },
    /// Another process kept the device longer than any exchange lasts.
    #[error(
        "another process (pid {holder}) has held it for over {} s in one exchange (lock file {}); \
         is that process stopped?",
        waited.as_secs(), path.display()
    )]
    Stuck {
        /// The lock file.
        path: PathBuf,
        /// The process named in it.
        holder: String,
        /// How long this process waited.
        waited: Duration,
    },
}

/// The folder of device lock files: `/run/lock/yealink-lab-devices` where `/run/lock` exists
/// (the host's folder for lock files, emptied at boot), else one under the temporary folder.
pub fn device_lock_dir() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    let base = if is_writable_dir(run_lock) {
        run_lock.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join("yealink-lab-devices")
}

fn is_writable_dir(dir: &Path) -> bool {
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access only checks permissions.
    dir.is_dir() && unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } == 0
}

/// The lock file of the device at `port`: its canonical path (a `/dev/serial/by-id` link
/// resolved to its `/dev/ttyUSB…` node, so two names of one board share one lock) with
/// every byte but `[A-Za-z0-9.]` escaped, so no name ever leaves the folder.
pub fn lock_path(dir: &Path, port: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(port).unwrap_or_else(|_| port.to_path_buf());
    dir.join(format!(
        "{}.lock",
        escape(canonical.as_os_str().as_encoded_bytes())
    ))
}

fn escape(bytes: &[u8]) -> String {
    let mut name = String::with_capacity(bytes.len() + 8);
    for b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' if !name.is_empty() || *b != b'.' => {
                name.push(*b as char)
            }
            b'/' => name.push('_'),
            _ => name.push_str(&format!("%{b:02X}")),
        }
    }
    name
}

/// The lock of one device, held open by its driver for the process's life.
#[derive(Debug)]
pub struct DeviceLock {
    file: File,
    path: PathBuf,
    held: bool,
}

/// The record in the lock file: fixed width, so each write replaces the whole of it.
fn record(state: &str, pid: u32) -> String {
    format!("{state:<4} {pid:>10}\n")
}

impl DeviceLock {
    /// Opens (creating) the lock file of the device at `port` in [`device_lock_dir`].
    pub fn for_port(port: &Path) -> Result<DeviceLock, DeviceLockError> {
        let dir = device_lock_dir();
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|source| DeviceLockError::Io {
                path: dir.clone(),
                action: "creating the folder",
                source,
            })?;
            // Every user of the rack takes turns here, as in /tmp: sticky and open to all.
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
        }
        DeviceLock::open(lock_path(&dir, port))
    }

    /// Opens (creating) the lock file at `path`.
    pub fn open(path: PathBuf) -> Result<DeviceLock, DeviceLockError> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o666)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|source| DeviceLockError::Io {
                path: path.clone(),
                action: "opening",
                source,
            })?;
        // Another user's process must be able to take its turn: the umask may have taken
        // the group and other bits away. Only the file's owner can change them.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
        Ok(DeviceLock {
            file,
            path,
            held: false,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the device (at most [`MAX_WAIT`]), marks it busy with this process, and
    /// says how the previous holder left it. Taking it again while held (an exchange that
    /// panicked half-way) keeps it and counts as interrupted.
    pub fn begin(&mut self) -> Result<Predecessor, DeviceLockError> {
        if self.held {
            self.mark("busy")?;
            return Ok(Predecessor::Interrupted {
                pid: std::process::id(),
            });
        }
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            // SAFETY: a valid open descriptor.
            let rc = unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EWOULDBLOCK) => {}
                Some(libc::EINTR) => continue,
                _ => {
                    return Err(DeviceLockError::Io {
                        path: self.path.clone(),
                        action: "locking",
                        source: error,
                    });
                }
            }
            if started.elapsed() >= MAX_WAIT {
                let holder = self
                    .read_record()
                    .ok()
                    .and_then(|text| text.split_whitespace().nth(1).map(str::to_string))
                    .unwrap_or_else(|| "unknown".into());
                return Err(DeviceLockError::Stuck {
                    path: self.path.clone(),
                    holder,
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
        self.held = true;
        let before = match self.read_record() {
            Ok(text) => text,
            Err(e) => {
                self.unlock();
                return Err(e);
            }
        };
        let mut words = before.split_whitespace();
        let predecessor = match (words.next(), words.next().and_then(|p| p.parse().ok())) {
            (Some("busy"), Some(pid)) => Predecessor::Interrupted { pid },
            _ => Predecessor::Finished,
        };
        if let Err(e) = self.mark("busy") {
            self.unlock();
            return Err(e);
        }
        Ok(predecessor)
    }

    /// Ends the exchange: `in_step` says whether the device was left in step (the answer
    /// read in full); when not, the next holder resynchronises first.
    pub fn end(&mut self, in_step: bool) {
        if !self.held {
            return;
        }
        if in_step && let Err(e) = self.mark("idle") {
            tracing::warn!(lock = %self.path.display(), "{e}");
        }
        self.unlock();
    }

    /// Ends a turn that exchanged nothing (opening the port), leaving the record as it was
    /// found: a predecessor's unfinished exchange stays for the next exchange to see.
    pub fn end_as_found(&mut self, found: Predecessor) {
        if !self.held {
            return;
        }
        let restored = match found {
            Predecessor::Finished => self.mark("idle"),
            Predecessor::Interrupted { pid } => self.write_record(&record("busy", pid)),
        };
        if let Err(e) = restored {
            tracing::warn!(lock = %self.path.display(), "{e}");
        }
        self.unlock();
    }

    fn unlock(&mut self) {
        // SAFETY: a valid open descriptor.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
        self.held = false;
    }

    fn read_record(&mut self) -> Result<String, DeviceLockError> {
        let mut text = String::new();
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).take(64).read_to_string(&mut text))
            .map_err(|source| DeviceLockError::Io {
                path: self.path.clone(),
                action: "reading",
                source,
            })?;
        Ok(text)
    }

    fn mark(&mut self, state: &str) -> Result<(), DeviceLockError> {
        self.write_record(&record(state, std::process::id()))
    }

    fn write_record(&mut self, text: &str) -> Result<(), DeviceLockError> {
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .and_then(|()| self.file.set_len(text.len() as u64))
            .map_err(|source| DeviceLockError::Io {
                path: self.path.clone(),
                action: "writing",
                source,
            })
    }
}

impl Drop for DeviceLock {
    fn drop(&mut self) {
        // Dropped mid-exchange (a panic unwinding through a driver): the record stays
        // `busy`, so the next holder resynchronises; closing the file releases the flock.
        self.held = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_into_one_file_of_the_folder() {
        let dir = Path::new("/locks");
        let path = lock_path(dir, Path::new("/nonexistent/../../etc/passwd"));
        assert_eq!(path.parent(), Some(dir));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
        assert_eq!(escape(b"/dev/ttyUSB0"), "_dev_ttyUSB0");
        assert_eq!(escape(b"../x y"), "%2E._x%20y");
    }

    #[test]
    fn a_finished_exchange_leaves_the_device_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("board.lock");
        let mut first = DeviceLock::open(path.clone()).unwrap();
        assert_eq!(first.begin().unwrap(), Predecessor::Finished);
        first.end(true);
        let mut second = DeviceLock::open(path).unwrap();
        assert_eq!(second.begin().unwrap(), Predecessor::Finished);
        second.end(true);
    }

    #[test]
    fn an_exchange_cut_short_is_reported_to_the_next_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("board.lock");
        let mut first = DeviceLock::open(path.clone()).unwrap();
        first.begin().unwrap();
        // Its holder vanishes mid-exchange: the descriptor closes, the flock goes with it.
        drop(first);
        let mut second = DeviceLock::open(path.clone()).unwrap();
        assert_eq!(
            second.begin().unwrap(),
            Predecessor::Interrupted {
                pid: std::process::id()
            }
        );
        // An answer that went missing leaves it out of step for the next one too.
        second.end(false);
        let mut third = DeviceLock::open(path).unwrap();
        assert!(third.begin().unwrap().interrupted());
        third.end(true);
    }

    #[test]
    fn a_turn_that_exchanged_nothing_passes_an_interruption_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("board.lock");
        std::fs::write(&path, record("busy", 4242)).unwrap();
        let mut opener = DeviceLock::open(path.clone()).unwrap();
        let found = opener.begin().unwrap();
        assert_eq!(found, Predecessor::Interrupted { pid: 4242 });
        opener.end_as_found(found);
        let mut next = DeviceLock::open(path).unwrap();
        assert_eq!(
            next.begin().unwrap(),
            Predecessor::Interrupted { pid: 4242 }
        );
        next.end(true);
    }

    #[test]
    fn two_holders_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("board.lock");
        let mut first = DeviceLock::open(path.clone()).unwrap();
        first.begin().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut second = DeviceLock::open(path).unwrap();
            let got = second.begin().unwrap();
            tx.send(()).unwrap();
            second.end(true);
            got
        });
        // The second holder cannot get in while the first one holds the device.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        first.end(true);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(waiter.join().unwrap(), Predecessor::Finished);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any device path becomes one plain file name of the lock folder, and two
            /// different paths never share a lock file by accident of escaping.
            #[test]
            fn device_paths_escape_to_distinct_plain_names(
                a in proptest::collection::vec(any::<u8>(), 0..48),
                b in proptest::collection::vec(any::<u8>(), 0..48),
            ) {
                let name = escape(&a);
                prop_assert!(!name.starts_with('.'), "{name}");
                prop_assert!(
                    name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%')),
                    "{name}"
                );
                if a != b {
                    prop_assert_ne!(name, escape(&b));
                }
            }
        }
    }
}
