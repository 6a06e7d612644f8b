//! Where a requested file name leads: always inside the requesting bench's folder, or
//! nowhere. A phone names files relative to the server; anything that could step outside
//! the folder (parent components, absolute paths, a symlink planted in the folder) is
//! refused before a file is opened.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use super::refusal::Refusal;
use super::refusal::out_of_files;

/// Checks a requested name before it touches the file system: relative, `/`-separated
/// plain segments only.
pub fn check_name(name: &str) -> Result<(), Refusal> {
    let refuse = |why: &str| Err(Refusal::AccessViolation(format!("{name:?}: {why}")));
    if name.is_empty() {
        return refuse("empty file name");
    }
    if name.contains('\0') {
        return refuse("NUL in the file name");
    }
    if name.contains('\\') {
        return refuse("backslash in the file name");
    }
    if name.starts_with('/') {
        return refuse("absolute path");
    }
    for segment in name.split('/') {
        match segment {
            "" => return refuse("empty path segment"),
            "." | ".." => return refuse("relative path segment"),
            _ => {}
        }
    }
    Ok(())
}

/// An opened file inside the folder, with its size for the `tsize` option.
#[derive(Debug)]
pub struct Opened {
    /// The file, opened read-only.
    pub file: File,
    /// Its length when opened.
    pub size_bytes: u64,
    /// Where it really is (for logs).
    pub path: PathBuf,
}

/// Opens `name` inside `folder`. The joined path is canonicalised and must stay under
/// the canonical folder: a symlink leading out is refused even when its target exists.
pub fn open_inside(folder: &Path, name: &str) -> Result<Opened, Refusal> {
    check_name(name)?;
    let not_found = || Refusal::NotFound(format!("{name:?} in {}", folder.display()));
    let canonical_folder = match folder.canonicalize() {
        Ok(path) => path,
        // No folder: nothing was staged for this bench.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(error) if out_of_files(&error) => {
            return Err(Refusal::OutOfFiles(format!(
                "{}: {error}",
                folder.display()
            )));
        }
        Err(error) => {
            return Err(Refusal::AccessViolation(format!(
                "bench folder {}: {error}",
                folder.display()
            )));
        }
    };
    let canonical = match canonical_folder.join(name).canonicalize() {
        Ok(path) => path,
        // A dangling symlink is "not found" whatever it pointed at: nothing is disclosed.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(error) if out_of_files(&error) => {
            return Err(Refusal::OutOfFiles(format!("{name:?}: {error}")));
        }
        Err(error) => return Err(Refusal::AccessViolation(format!("{name:?}: {error}"))),
    };
    if !canonical.starts_with(&canonical_folder) || canonical == canonical_folder {
        return Err(Refusal::AccessViolation(format!(
            "{name:?} resolves to {}, outside the bench folder {}",
            canonical.display(),
            canonical_folder.display()
        )));
    }
    // O_NOFOLLOW: the canonical path has no symlink left; one swapped in since would be
    // refused here instead of followed.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&canonical)
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => not_found(),
            _ if out_of_files(&error) => {
                Refusal::OutOfFiles(format!("{}: {error}", canonical.display()))
            }
            _ => Refusal::AccessViolation(format!("{}: {error}", canonical.display())),
        })?;
    let metadata = file
        .metadata()
        .map_err(|error| Refusal::AccessViolation(format!("{}: {error}", canonical.display())))?;
    if !metadata.is_file() {
        return Err(not_found());
    }
    Ok(Opened {
        file,
        size_bytes: metadata.len(),
        path: canonical,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        for name in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./T46G.rom",
            "a\\b",
            "a\0b",
            "..",
        ] {
            assert!(
                matches!(check_name(name), Err(Refusal::AccessViolation(_))),
                "{name:?} was accepted"
            );
        }
        for name in ["T46G.rom", "T46G.bin", "sub/T46G.rfs", "..hidden"] {
            assert_eq!(check_name(name), Ok(()), "{name:?} was refused");
        }
    }

    #[test]
    fn a_symlink_out_of_the_folder_is_refused_and_a_file_inside_opens() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"outside").unwrap();
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("T46G.rom"), b"rom!").unwrap();
        std::os::unix::fs::symlink(&secret, folder.path().join("leak")).unwrap();
        std::os::unix::fs::symlink("T46G.rom", folder.path().join("alias")).unwrap();

        let opened = open_inside(folder.path(), "T46G.rom").unwrap();
        assert_eq!(opened.size_bytes, 4);
        // A symlink staying inside the folder is harmless.
        assert_eq!(open_inside(folder.path(), "alias").unwrap().size_bytes, 4);
        assert!(matches!(
            open_inside(folder.path(), "leak"),
            Err(Refusal::AccessViolation(_))
        ));
        assert!(matches!(
            open_inside(folder.path(), "T46G.bin"),
            Err(Refusal::NotFound(_))
        ));
        assert!(matches!(
            open_inside(&folder.path().join("no-bench"), "T46G.rom"),
            Err(Refusal::NotFound(_))
        ));
    }
}
