//! Reading files out of a run folder that may come from another host: untrusted input.
//!
//! Every path component inside the folder is looked at without following it
//! (`fstatat(AT_SYMLINK_NOFOLLOW)`) and opened relative to its parent's descriptor with
//! `O_NOFOLLOW`, so a link planted in the folder (to `/etc/passwd`, to `/dev/zero`, to a
//! folder elsewhere) is refused rather than read, and a component swapped for a link
//! between the look and the open is refused too. Only regular files are read: a FIFO would
//! block the import forever, a device may never end or may act when opened. Each read is
//! capped, and reads at most `cap + 1` bytes whatever the file's size claims, so memory is
//! bounded even by a file that grows while it is read.
//!
//! The folder itself is the one the user named on the command line, and is opened as any
//! path the user types (a link to it is followed); nothing inside it is.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::report::run_folder::{MAX_NAME_LEN, is_safe_name};

/// The deepest a file named by a summary may sit in its folder (`transcripts/x.txt` is 2).
pub const MAX_DEPTH: usize = 4;

/// Why a file of the folder was not read. Worded to follow the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum Refusal {
    #[error("does not exist")]
    Missing,
    #[error(
        "is a symbolic link (a run folder holds plain files only; links are never followed, \
         since they could point anywhere on this host)"
    )]
    Link,
    #[error("is {0}, not a regular file (only plain files are read from a run folder)")]
    NotAFile(&'static str),
    #[error("`{0}` on the way is {1}, not a folder")]
    NotAFolder(String, &'static str),
    #[error("`{0}` on the way is a symbolic link (links are never followed)")]
    LinkOnTheWay(String),
    #[error("is {size} bytes, over the cap of {cap} bytes for {what}")]
    TooBig {
        size: u64,
        cap: u64,
        what: &'static str,
    },
    #[error(
        "leaves the run folder or is not a plain relative path (only names of A-Z a-z 0-9 \
         . _ @ - of at most {MAX_NAME_LEN} bytes, not starting with `.`, joined by `/`, at \
         most {MAX_DEPTH} deep)"
    )]
    BadPath,
    #[error("is not UTF-8 text")]
    NotText,
    #[error("changed while it was opened (replaced by another file)")]
    Swapped,
    #[error("cannot be read: {0}")]
    Io(String),
}

/// An open run folder, from which files are read by relative path.
#[derive(Debug)]
pub struct Folder {
    root: OwnedFd,
}

impl Folder {
    /// Opens the folder `dir` (the one the user named).
    pub fn open(dir: &Path) -> std::io::Result<Folder> {
        // O_DIRECTORY fails on a FIFO or device before it is opened, so nothing blocks.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(dir)?;
        Ok(Folder { root: file.into() })
    }

    /// Reads the regular file at `relative` (components joined by `/`), at most `cap`
    /// bytes; `what` names the kind of file in the refusal ("a transcript").
    pub fn read_text(
        &self,
        relative: &str,
        cap: u64,
        what: &'static str,
    ) -> Result<String, Refusal> {
        let bytes = self.read(relative, cap, what)?;
        String::from_utf8(bytes).map_err(|_| Refusal::NotText)
    }

    /// [`Folder::read_text`] without the UTF-8 check.
    pub fn read(&self, relative: &str, cap: u64, what: &'static str) -> Result<Vec<u8>, Refusal> {
        let components = plain_relative_path(relative).ok_or(Refusal::BadPath)?;
        let (file_name, folders) = components.split_last().ok_or(Refusal::BadPath)?;
        let mut dir: Option<OwnedFd> = None;
        for folder in folders {
            let parent = dir.as_ref().unwrap_or(&self.root);
            let name = c_name(folder)?;
            let stat = lstat_at(parent, &name).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Refusal::Missing,
                _ => Refusal::Io(e.to_string()),
            })?;
            match kind_of(stat.st_mode) {
                Kind::Folder => {}
                Kind::Link => return Err(Refusal::LinkOnTheWay(folder.to_string())),
                other => return Err(Refusal::NotAFolder(folder.to_string(), other.words())),
            }
            let opened =
                open_at(parent, &name, libc::O_DIRECTORY).map_err(|e| opening(&e, true))?;
            dir = Some(opened);
        }
        let parent = dir.as_ref().unwrap_or(&self.root);
        let name = c_name(file_name)?;
        let stat = lstat_at(parent, &name).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Refusal::Missing,
            _ => Refusal::Io(e.to_string()),
        })?;
        match kind_of(stat.st_mode) {
            Kind::File => {}
            Kind::Link => return Err(Refusal::Link),
            other => return Err(Refusal::NotAFile(other.words())),
        }
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        if size > cap {
            return Err(Refusal::TooBig { size, cap, what });
        }
        let file = File::from(open_at(parent, &name, 0).map_err(|e| opening(&e, false))?);
        // The file opened must be the one looked at: a swap in between is refused.
        let meta = file.metadata().map_err(|e| Refusal::Io(e.to_string()))?;
        if !meta.is_file() || meta.dev() != stat.st_dev || meta.ino() != stat.st_ino {
            return Err(Refusal::Swapped);
        }
        read_capped(&file, cap, what)
    }
}

/// Reads at most `cap` bytes of `reader`: one more is asked for, and getting it means the
/// source is over the cap, whatever its size claimed. Allocation follows what is read.
pub fn read_capped(reader: impl Read, cap: u64, what: &'static str) -> Result<Vec<u8>, Refusal> {
    let mut bytes = Vec::new();
    reader
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Refusal::Io(e.to_string()))?;
    if bytes.len() as u64 > cap {
        return Err(Refusal::TooBig {
            size: bytes.len() as u64,
            cap,
            what,
        });
    }
    Ok(bytes)
}

/// The components of `relative` when it is a plain path inside a folder: every component
/// a [safe name](is_safe_name) (so no `..`, no `.`, no empty component, no leading `/`).
pub fn plain_relative_path(relative: &str) -> Option<Vec<&str>> {
    let components: Vec<&str> = relative.split('/').collect();
    (components.len() <= MAX_DEPTH && components.iter().all(|c| is_safe_name(c)))
        .then_some(components)
}

fn c_name(name: &str) -> Result<CString, Refusal> {
    // A safe name has no NUL; this only guards the conversion.
    CString::new(name).map_err(|_| Refusal::BadPath)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Folder,
    Link,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    fn words(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Folder => "a folder",
            Kind::Link => "a symbolic link",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Unknown => "of an unknown file type",
        }
    }
}

fn kind_of(mode: libc::mode_t) -> Kind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Folder,
        libc::S_IFLNK => Kind::Link,
        libc::S_IFIFO => Kind::Fifo,
        libc::S_IFSOCK => Kind::Socket,
        libc::S_IFCHR => Kind::CharDevice,
        libc::S_IFBLK => Kind::BlockDevice,
        _ => Kind::Unknown,
    }
}

/// `fstatat` of `name` in `dir`, not following a link.
fn lstat_at(dir: &OwnedFd, name: &CString) -> std::io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and outlives the call; `stat` is writable memory of
    // the right type, initialised by the call when it returns 0.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstatat returned 0, so it filled the struct.
    Ok(unsafe { stat.assume_init() })
}

/// `openat` of `name` in `dir`, read-only, never following a link (`O_NOFOLLOW`), never
/// blocking on a FIFO swapped in (`O_NONBLOCK`), never becoming a controlling terminal.
fn open_at(dir: &OwnedFd, name: &CString, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    let flags = flags
        | libc::O_RDONLY
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_NOCTTY
        | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The refusal for a failed `openat` after the look said the component was fine: it was
/// swapped (ELOOP: now a link; ENOTDIR: no longer a folder) or vanished.
fn opening(error: &std::io::Error, folder: bool) -> Refusal {
    match error.raw_os_error() {
        Some(libc::ELOOP) => Refusal::Swapped,
        Some(libc::ENOTDIR) if folder => Refusal::Swapped,
        Some(libc::ENOENT) => Refusal::Missing,
        _ => Refusal::Io(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_source_is_cut_at_the_cap() {
        let refused = read_capped(std::io::repeat(0), 1000, "a transcript").unwrap_err();
        assert_eq!(
            refused,
            Refusal::TooBig {
                size: 1001,
                cap: 1000,
                what: "a transcript"
            }
        );
        assert_eq!(read_capped(&b"abc"[..], 3, "x").unwrap(), b"abc");
    }

    #[test]
    fn only_plain_relative_paths_pass() {
        assert!(plain_relative_path("transcripts/a@T46G@t46g.txt").is_some());
        assert!(plain_relative_path("summary.json").is_some());
        for bad in [
            "",
            "/etc/passwd",
            "../secret",
            "transcripts/../../x",
            "./x",
            "a//b",
            "a/",
            ".hidden",
            "a\\b",
            "a/b/c/d/e",
            "a b",
        ] {
            assert!(plain_relative_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn links_fifos_and_folders_are_refused_by_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/ok.txt"), "fine").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("link")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("linked-dir")).unwrap();
        let fifo = CString::new(root.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let folder = Folder::open(root).unwrap();
        assert_eq!(folder.read_text("sub/ok.txt", 10, "x").unwrap(), "fine");
        assert_eq!(folder.read("link", 10, "x"), Err(Refusal::Link));
        assert_eq!(
            folder.read("linked-dir/ok.txt", 10, "x"),
            Err(Refusal::LinkOnTheWay("linked-dir".into()))
        );
        assert_eq!(
            folder.read("fifo", 10, "x"),
            Err(Refusal::NotAFile("a FIFO (named pipe)"))
        );
        assert_eq!(
            folder.read("sub", 10, "x"),
            Err(Refusal::NotAFile("a folder"))
        );
        assert_eq!(
            folder.read("sub/ok.txt/x", 10, "x"),
            Err(Refusal::NotAFolder("ok.txt".into(), "a regular file"))
        );
        assert_eq!(folder.read("nothing", 10, "x"), Err(Refusal::Missing));
        assert!(matches!(
            folder.read("sub/ok.txt", 3, "x"),
            Err(Refusal::TooBig {
                size: 4,
                cap: 3,
                ..
            })
        ));
    }
}
