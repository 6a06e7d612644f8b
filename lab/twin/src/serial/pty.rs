//! A pseudo-terminal published at a stable path, standing in for a USB serial adapter.
//!
//! Hosts open the published path exactly as they open `/dev/serial/by-id/...` on a real lab
//! host. The device keeps its own descriptor of the slave side open so that the master never
//! sees a hang-up while no host has the port open (a real adapter does not vanish just
//! because nobody listens). Dropping the `Pty` is the USB cable pulled: both descriptors close,
//! hosts get I/O errors, and the published link disappears.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Why a pseudo-terminal could not be created or published.
#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    /// The kernel refused a new pseudo-terminal.
    #[error(
        "cannot create a pseudo-terminal (check that /dev/ptmx exists and /dev/pts is mounted): {0}"
    )]
    Open(#[source] io::Error),
    /// The slave side could not be switched to raw mode.
    #[error("cannot set the pseudo-terminal {pts} to raw mode: {source}")]
    RawMode {
        /// The `/dev/pts/N` path.
        pts: PathBuf,
        /// The failed termios call.
        #[source]
        source: io::Error,
    },
    /// The folder of the published path could not be created.
    #[error(
        "cannot create the folder {dir} for the serial device link (check its permissions): {source}"
    )]
    CreateDir {
        /// The folder that was asked for.
        dir: PathBuf,
        /// The failed call.
        #[source]
        source: io::Error,
    },
    /// Something that is not a symbolic link sits at the published path; it is never replaced.
    #[error(
        "{path} exists and is not a symbolic link: remove it or choose another `port` in the lab file"
    )]
    NotALink {
        /// The published path from the lab file.
        path: PathBuf,
    },
    /// The symbolic link could not be written.
    #[error(
        "cannot publish the serial device at {path} (check the folder's permissions): {source}"
    )]
    Publish {
        /// The published path from the lab file.
        path: PathBuf,
        /// The failed call.
        #[source]
        source: io::Error,
    },
}

/// An open pseudo-terminal whose slave is reachable at a published path.
#[derive(Debug)]
pub struct Pty {
    master: OwnedFd,
    // Held only so the master never reads EIO while no host has the port open.
    _slave: OwnedFd,
    pts: PathBuf,
    link: PathBuf,
}

impl Pty {
    /// Creates a pseudo-terminal in raw mode and publishes its slave at `link` (parents are
    /// created; a stale symbolic link left by an earlier run is replaced).
    pub fn open_published(link: &Path) -> Result<Pty, PtyError> {
        let (master, slave) = open_pair()?;
        let pts = slave_path(&slave).map_err(PtyError::Open)?;
        set_raw(slave.as_raw_fd()).map_err(|source| PtyError::RawMode {
            pts: pts.clone(),
            source,
        })?;
        // The device side never blocks: a host that stops reading must not wedge the board.
        set_nonblocking(master.as_raw_fd()).map_err(PtyError::Open)?;
        publish(link, &pts)?;
        Ok(Pty {
            master,
            _slave: slave,
            pts,
            link: link.to_path_buf(),
        })
    }

    /// The master descriptor the device reads the host's bytes from and writes its answers to.
    pub fn master_fd(&self) -> RawFd {
        self.master.as_raw_fd()
    }

    /// The `/dev/pts/N` node behind the published link (for logs and `describe`).
    pub fn pts_path(&self) -> &Path {
        &self.pts
    }

    /// The stable path hosts open.
    pub fn link_path(&self) -> &Path {
        &self.link
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Remove the link only while it still names this pty: a newer device may own it now.
        if std::fs::read_link(&self.link).is_ok_and(|target| target == self.pts)
            && let Err(err) = std::fs::remove_file(&self.link)
        {
            tracing::warn!(link = %self.link.display(), %err, "cannot remove the serial device link");
        }
    }
}

fn open_pair() -> Result<(OwnedFd, OwnedFd), PtyError> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two descriptors into the provided integers; the name, termios and
    // window-size arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(PtyError::Open(io::Error::last_os_error()));
    }
    // SAFETY: openpty succeeded, so both descriptors are open and owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
        // Child processes (a picocom started from the twin's shell) must not inherit them.
        // SAFETY: fcntl on an open descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok((master, slave))
}

fn slave_path(slave: &OwnedFd) -> io::Result<PathBuf> {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: the buffer is valid for its full length and ttyname_r NUL-terminates on success.
    let rc = unsafe { libc::ttyname_r(slave.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: ttyname_r succeeded, so the buffer holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(PathBuf::from(name.to_string_lossy().into_owned()))
}

fn set_raw(fd: RawFd) -> io::Result<()> {
    // SAFETY: termios is plain data; tcgetattr fills it before it is used.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open terminal and termios a valid pointer.
    if unsafe { libc::tcgetattr(fd, &mut termios) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: termios was filled by tcgetattr.
    unsafe { libc::cfmakeraw(&mut termios) };
    // SAFETY: fd is an open terminal and termios a valid pointer.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &termios) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an open descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fcntl on an open descriptor.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Points `link` at `pts`, replacing a stale link atomically (hosts never see the path missing
/// while a device is being replaced).
fn publish(link: &Path, pts: &Path) -> Result<(), PtyError> {
    if let Some(dir) = link.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PtyError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    match std::fs::symlink_metadata(link) {
        Ok(meta) if !meta.file_type().is_symlink() => {
            return Err(PtyError::NotALink {
                path: link.to_path_buf(),
            });
        }
        Ok(_) => tracing::debug!(link = %link.display(), "replacing a stale serial device link"),
        Err(_) => {}
    }
    let mut tmp_name = link.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".new-{}", std::process::id()));
    let tmp = link.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(pts, &tmp)
        .and_then(|()| std::fs::rename(&tmp, link))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            PtyError::Publish {
                path: link.to_path_buf(),
                source,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_and_replaces_a_stale_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("by-id/usb-test-if00");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/pts/nonexistent", &link).unwrap();
        let pty = Pty::open_published(&link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), pty.pts_path());
        drop(pty);
        assert!(
            std::fs::symlink_metadata(&link).is_err(),
            "the link must vanish with the device"
        );
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("port");
        std::fs::write(&link, b"not a device").unwrap();
        let err = Pty::open_published(&link).unwrap_err();
        assert!(matches!(err, PtyError::NotALink { .. }), "{err}");
        assert_eq!(std::fs::read(&link).unwrap(), b"not a device");
    }
}
