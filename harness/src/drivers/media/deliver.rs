//! Putting a stick image where the phone reads it: an image file (the virtual bench) or the
//! host side of a USB-SD-mux (a rack).
//!
//! A raw write to the wrong disk destroys it, so a block device is checked before every
//! write: it must be a whole, removable disk of the size the lab file says, not in use.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{MediaError, StickImage, UsbMedia};

const MIB: u64 = 1024 * 1024;

/// The virtual bench's stick: an image file the twin phone reads; no file means no stick.
///
/// The file is replaced atomically (a temporary sibling, then a rename), so a phone that
/// looks while a case stages its stick sees the old stick or the new one, never half.
#[derive(Debug, Clone)]
pub struct ImageFile {
    path: PathBuf,
}

impl ImageFile {
    /// The stick at `path`; its folder is created on the first delivery.
    pub fn new(path: PathBuf) -> Self {
        ImageFile { path }
    }

    /// The image file the phone reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_err(path: &Path) -> impl FnOnce(io::Error) -> MediaError + '_ {
        move |source| MediaError::ImageFile {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl UsbMedia for ImageFile {
    fn deliver(&mut self, image: &StickImage) -> Result<(), MediaError> {
        let folder = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&folder).map_err(Self::write_err(&folder))?;
        let file_name = self
            .path
            .file_name()
            .ok_or_else(|| MediaError::ImageFile {
                path: self.path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
            })?
            .to_string_lossy()
            .into_owned();
        // Same folder, so the rename stays on one file system and is atomic.
        let temp = folder.join(format!(
            ".{file_name}.{}.{:08x}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        let written = write_new_synced(&temp, image).and_then(|()| fs::rename(&temp, &self.path));
        if let Err(source) = written {
            // Best effort: the temporary may not even exist; the write error is the news.
            let _ = fs::remove_file(&temp);
            return Err(MediaError::ImageFile { path: temp, source });
        }
        // The rename is durable once the folder is synced; a crash must not lose the stick.
        File::open(&folder)
            .and_then(|dir| dir.sync_all())
            .map_err(Self::write_err(&folder))
    }

    fn eject(&mut self) -> Result<(), MediaError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Self::write_err(&self.path)(e)),
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!("stick image file {}", self.path.display())
    }
}

/// A new file holding `image`, its all-zero chunks left as holes (the stick's free space
/// costs the virtual bench no disk), synced.
fn write_new_synced(path: &Path, image: &StickImage) -> io::Result<()> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    image.for_each_chunk(|offset, chunk| {
        if chunk.iter().any(|b| *b != 0) {
            file.write_all_at(chunk, offset)?;
        }
        Ok(())
    })?;
    file.set_len(image.len())?;
    file.sync_all()
}

/// What the checks found out about a disk that may be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedDisk {
    /// The device node, links resolved (`/dev/sdb`).
    pub resolved: PathBuf,
    /// Its size as the kernel reports it.
    pub bytes: u64,
}

/// A USB-SD-mux's host side on a rack: the card is written raw, whole-disk.
#[derive(Debug, Clone)]
pub struct BlockDevice {
    path: PathBuf,
    size_mb: u64,
    sysfs_root: PathBuf,
}

impl BlockDevice {
    /// The disk at `path` (best a `/dev/disk/by-id/usb-...` link) of `size_mb` MiB.
    pub fn new(path: PathBuf, size_mb: u64) -> Self {
        Self::with_sysfs_root(path, size_mb, PathBuf::from("/sys"))
    }

    /// The same, reading the kernel's view of disks under `sysfs_root` instead of `/sys`:
    /// lets the checks be exercised on a fake tree without any real disk.
    pub fn with_sysfs_root(path: PathBuf, size_mb: u64, sysfs_root: PathBuf) -> Self {
        BlockDevice {
            path,
            size_mb,
            sysfs_root,
        }
    }

    /// Check that the path is a whole, removable disk within 1% of `size_mb` and at least
    /// `image_bytes` large; every refusal says what to check. Nothing is written.
    pub fn check(&self, image_bytes: u64) -> Result<CheckedDisk, MediaError> {
        let resolved =
            fs::canonicalize(&self.path).map_err(|source| MediaError::DeviceMissing {
                path: self.path.clone(),
                source,
            })?;
        let name = resolved.file_name().unwrap_or_default();
        let sysfs = self.sysfs_root.join("class/block").join(name);
        if !sysfs.is_dir() {
            return Err(MediaError::NotInSysfs {
                path: self.path.clone(),
                resolved,
                sysfs,
            });
        }
        // Partitions have a `partition` attribute; whole disks do not.
        if sysfs.join("partition").exists() {
            return Err(MediaError::Partition {
                path: self.path.clone(),
                resolved,
            });
        }
        let removable_path = sysfs.join("removable");
        let removable = read_attribute(&removable_path)?;
        if removable != "1" {
            return Err(MediaError::NotRemovable {
                path: self.path.clone(),
                resolved,
                attribute: removable_path,
                value: removable,
            });
        }
        let size_path = sysfs.join("size");
        let size_text = read_attribute(&size_path)?;
        // sysfs counts 512-byte units whatever the disk's own sector size.
        let sectors: u64 = size_text.parse().map_err(|_| MediaError::Sysfs {
            attribute: size_path.clone(),
            reason: format!("expected a number of 512-byte sectors, found {size_text:?}"),
        })?;
        let bytes = sectors.saturating_mul(512);
        if !within_one_percent(bytes, self.size_mb.saturating_mul(MIB)) {
            return Err(MediaError::WrongSize {
                path: self.path.clone(),
                resolved,
                actual_bytes: bytes,
                size_mb: self.size_mb,
            });
        }
        let is_block = fs::metadata(&resolved)
            .map(|m| m.file_type().is_block_device())
            .map_err(|source| MediaError::DeviceMissing {
                path: self.path.clone(),
                source,
            })?;
        if !is_block {
            return Err(MediaError::NotBlockDevice {
                path: self.path.clone(),
                resolved,
            });
        }
        if image_bytes > bytes {
            return Err(MediaError::DoesNotFit {
                path: self.path.clone(),
                image_bytes,
                device_bytes: bytes,
            });
        }
        Ok(CheckedDisk { resolved, bytes })
    }
}

impl UsbMedia for BlockDevice {
    fn deliver(&mut self, image: &StickImage) -> Result<(), MediaError> {
        let disk = self.check(image.len())?;
        write_device(&disk.resolved, image).map_err(|e| match e {
            DeviceWriteError::Busy => MediaError::DeviceBusy {
                path: self.path.clone(),
            },
            DeviceWriteError::Io { action, source } => MediaError::DeviceWrite {
                path: self.path.clone(),
                action,
                source,
            },
        })
    }

    fn eject(&mut self) -> Result<(), MediaError> {
        Err(MediaError::Unsupported {
            media: self.describe(),
            request: "take the stick out".to_string(),
            reason: "the card stays in the USB-SD-mux; for a case without a stick, leave `usb` \
                     out of the bench or switch the mux to the host side by hand"
                .to_string(),
        })
    }

    fn describe(&self) -> String {
        format!(
            "USB-SD-mux disk {} ({} MiB)",
            self.path.display(),
            self.size_mb
        )
    }
}

/// How a raw write failed, before it is tied to the lab file's path.
#[derive(Debug)]
pub(crate) enum DeviceWriteError {
    /// The kernel refused exclusive access: mounted or held by another program.
    Busy,
    /// The open, a write or the final sync failed.
    Io { action: String, source: io::Error },
}

/// Write `image` at the start of `device`, synchronously, and flush the device cache.
///
/// O_EXCL on a block device makes the kernel refuse it while it is mounted; O_SYNC makes
/// each write reach the card before the next starts, so a failure is reported where it
/// happens and "done" means done.
pub(crate) fn write_device(device: &Path, image: &StickImage) -> Result<(), DeviceWriteError> {
    let mut file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_SYNC | libc::O_EXCL)
        .open(device)
        .map_err(|source| {
            if source.raw_os_error() == Some(libc::EBUSY) {
                DeviceWriteError::Busy
            } else {
                DeviceWriteError::Io {
                    action: "opening it for writing".to_string(),
                    source,
                }
            }
        })?;
    // Every byte, zeros too: the card's old contents must not show through.
    let mut failed_at = 0;
    image
        .for_each_chunk(|offset, chunk| {
            failed_at = offset;
            file.write_all(chunk)
        })
        .map_err(|source| DeviceWriteError::Io {
            action: format!("writing at byte {failed_at}"),
            source,
        })?;
    file.sync_all().map_err(|source| DeviceWriteError::Io {
        action: "flushing it".to_string(),
        source,
    })
}

/// Read one sysfs attribute, trimmed of its newline.
fn read_attribute(path: &Path) -> Result<String, MediaError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| MediaError::Sysfs {
            attribute: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// True when `actual` differs from `expected` by at most 1% of `expected`.
fn within_one_percent(actual: u64, expected: u64) -> bool {
    u128::from(actual.abs_diff(expected)) * 100 <= u128::from(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_percent_is_measured_against_the_configured_size() {
        assert!(within_one_percent(7580 * MIB, 7580 * MIB));
        assert!(within_one_percent(7580 * MIB + 75 * MIB, 7580 * MIB));
        assert!(!within_one_percent(7580 * MIB + 76 * MIB, 7580 * MIB));
        assert!(!within_one_percent(7580 * MIB - 76 * MIB, 7580 * MIB));
        assert!(!within_one_percent(0, 7580 * MIB));
    }

    #[test]
    fn a_raw_write_lands_at_the_start_and_leaves_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card");
        fs::write(&path, vec![0xAAu8; 10 * 1024 * 1024]).unwrap();
        let image: Vec<u8> = (0..(5 * 1024 * 1024 + 3))
            .map(|i| (i % 253) as u8)
            .collect();
        let disk = tempfile::tempfile().unwrap();
        disk.write_all_at(&image, 0).unwrap();
        let stick = StickImage {
            disk: std::sync::Arc::new(disk),
            len: image.len() as u64,
            description: "a pattern".to_string(),
        };
        write_device(&path, &stick).unwrap();
        let card = fs::read(&path).unwrap();
        assert_eq!(card.len(), 10 * 1024 * 1024);
        assert_eq!(&card[..image.len()], &image[..]);
        assert!(card[image.len()..].iter().all(|b| *b == 0xAA));
    }
}
