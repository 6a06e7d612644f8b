//! The bootloader's USB stick reader: finds the volume (an MBR's first partition, or a bare
//! volume), refuses what is not FAT, and reads the package's three files from the root
//! directory by their 8.3 names, case-insensitively.
//!
//! On the virtual bench the stick is an image file (the lab file's `usb = { image = ... }`);
//! no file is no stick. The image is only read: a phone does not write to a stick.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fatfs::{FileSystem, FsOptions};
use thiserror::Error;

use super::{Package, Part};
use crate::phone::model::Model;

const SECTOR: u64 = 512;
const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];
const NTFS_OEM_ID: &[u8; 8] = b"NTFS    ";
const EXFAT_NAME: &[u8; 8] = b"EXFAT   ";
const PARTITION_TABLE: usize = 446;
const PARTITION_ENTRY: usize = 16;

/// Why the stick gave no package; the phone shows `Update failed` and boots what it has.
#[derive(Debug, Error)]
pub enum UsbError {
    /// No stick in the slot (no image file).
    #[error("no USB stick: {path} does not exist (stage the stick image before the recovery)")]
    NoStick {
        /// Where the stick image was expected.
        path: PathBuf,
    },
    /// The model has no USB port at all (V4): no stick can be in it.
    #[error("the {model} has no USB port: recover it over TFTP")]
    NoPort {
        /// The phone's model.
        model: Model,
    },
    /// The bench has no stick slot wired (no `usb` in the lab file).
    #[error("this bench has no USB stick configured (add `usb = {{ image = ... }}` to the bench)")]
    NoSlot,
    /// The stick is NTFS, which the bootloader cannot read (KB: "the format does not allow
    /// the phone to read the USB drive if formatted with NTFS").
    #[error("the stick is formatted NTFS, which the phone cannot read: format it FAT")]
    Ntfs,
    /// The stick is exFAT, what Windows offers for large sticks: not FAT either (KB: "the
    /// file system to use is FAT").
    #[error("the stick is formatted exFAT, which the phone cannot read: format it FAT")]
    ExFat,
    /// Neither a FAT volume nor a partition table holding one.
    #[error("the stick is not readable: {reason} (format it FAT, one partition or none)")]
    NotReadable {
        /// What was found instead.
        reason: String,
    },
    /// One of the three files is not in the root directory.
    #[error("{file} is not in the stick's root directory (copy the three package files there)")]
    Missing {
        /// The 8.3 name looked for.
        file: String,
    },
    /// Reading the stick failed.
    #[error("reading the stick {path}: {source}")]
    Io {
        /// The stick image.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// A window of the stick image holding one volume, read-only: fatfs sees a disk that starts
/// at the volume's first byte.
struct VolumeSlice {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for VolumeSlice {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if take == 0 {
            return Ok(0);
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.file.read(&mut buf[..take])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for VolumeSlice {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        // The bootloader never writes to the stick (not even the FAT dirty flag).
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the phone reads the stick only",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for VolumeSlice {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the volume start")
        })?;
        Ok(self.pos)
    }
}

/// What the first sector of a volume says about its file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VolumeKind {
    Fat,
    Ntfs,
    ExFat,
    Unknown,
}

fn volume_kind(sector: &[u8]) -> VolumeKind {
    if sector.len() < SECTOR as usize {
        return VolumeKind::Unknown;
    }
    if &sector[3..11] == NTFS_OEM_ID {
        return VolumeKind::Ntfs;
    }
    if &sector[3..11] == EXFAT_NAME {
        return VolumeKind::ExFat;
    }
    // A FAT boot sector: a jump instruction, then a BIOS parameter block with sane values.
    let jump = sector[0] == 0xEB || sector[0] == 0xE9;
    let bytes_per_sector = u16::from_le_bytes([sector[11], sector[12]]);
    let sectors_per_cluster = sector[13];
    let reserved = u16::from_le_bytes([sector[14], sector[15]]);
    let fats = sector[16];
    if jump
        && [512, 1024, 2048, 4096].contains(&bytes_per_sector)
        && sectors_per_cluster.is_power_of_two()
        && reserved >= 1
        && fats >= 1
        && sector[510..512] == BOOT_SIGNATURE
    {
        VolumeKind::Fat
    } else {
        VolumeKind::Unknown
    }
}

/// The first used MBR partition: `(start, length)` in bytes.
fn first_partition(sector: &[u8]) -> Option<(u64, u64)> {
    if sector.len() < SECTOR as usize || sector[510..512] != BOOT_SIGNATURE {
        return None;
    }
    (0..4).find_map(|index| {
        let entry = &sector[PARTITION_TABLE + index * PARTITION_ENTRY..][..PARTITION_ENTRY];
        let kind = entry[4];
        let lba = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]);
        let sectors = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]);
        (kind != 0 && lba != 0 && sectors != 0)
            .then(|| (u64::from(lba) * SECTOR, u64::from(sectors) * SECTOR))
    })
}

fn read_sector(file: &mut File, offset: u64) -> io::Result<Vec<u8>> {
    let mut sector = vec![0u8; SECTOR as usize];
    file.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < sector.len() {
        match file.read(&mut sector[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    sector.truncate(filled);
    Ok(sector)
}

/// Reads the recovery package of `model` from the stick image at `image` (`None`: the bench
/// has no stick slot). Blocking file I/O: call it off the async runtime's workers.
pub fn read_package(image: Option<&Path>, model: Model) -> Result<Package, UsbError> {
    if !model.has_usb_port() {
        return Err(UsbError::NoPort { model });
    }
    let path = image.ok_or(UsbError::NoSlot)?;
    let io_error = |source| UsbError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(UsbError::NoStick {
                path: path.to_path_buf(),
            });
        }
        Err(error) => return Err(io_error(error)),
    };
    let stick_len = file.metadata().map_err(io_error)?.len();
    let first = read_sector(&mut file, 0).map_err(io_error)?;
    let (start, len) = match volume_kind(&first) {
        VolumeKind::Ntfs => return Err(UsbError::Ntfs),
        VolumeKind::ExFat => return Err(UsbError::ExFat),
        VolumeKind::Fat => (0, stick_len),
        VolumeKind::Unknown => {
            let (start, len) = first_partition(&first).ok_or_else(|| UsbError::NotReadable {
                reason: "no partition table and no FAT volume".into(),
            })?;
            if start + len > stick_len {
                return Err(UsbError::NotReadable {
                    reason: format!(
                        "the partition ends at byte {} past the stick's end ({stick_len})",
                        start + len
                    ),
                });
            }
            let volume = read_sector(&mut file, start).map_err(io_error)?;
            match volume_kind(&volume) {
                VolumeKind::Ntfs => return Err(UsbError::Ntfs),
                VolumeKind::ExFat => return Err(UsbError::ExFat),
                VolumeKind::Unknown => {
                    return Err(UsbError::NotReadable {
                        reason: "the first partition holds no FAT file system".into(),
                    });
                }
                VolumeKind::Fat => {
                    tracing::info!(stick = %path.display(), "Valid DOS partition found");
                    (start, len)
                }
            }
        }
    };
    let slice = VolumeSlice {
        file,
        start,
        len,
        pos: 0,
    };
    let fs = FileSystem::new(slice, FsOptions::new()).map_err(|error| UsbError::NotReadable {
        reason: format!("FAT volume cannot be mounted: {error}"),
    })?;
    let mut files = Vec::new();
    for part in Part::ALL {
        let wanted = part.file_name(model);
        let mut entry = None;
        for found in fs.root_dir().iter() {
            let found = found.map_err(io_error)?;
            if found.is_file() && found.short_file_name().eq_ignore_ascii_case(&wanted) {
                entry = Some(found);
                break;
            }
        }
        let entry = entry.ok_or(UsbError::Missing {
            file: wanted.clone(),
        })?;
        let mut bytes = Vec::new();
        entry.to_file().read_to_end(&mut bytes).map_err(io_error)?;
        files.push((part, entry.short_file_name(), bytes));
    }
    Ok(Package { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_without_a_port_reads_no_stick() {
        for model in [Model::T40P, Model::T41P, Model::T42G] {
            assert!(
                matches!(read_package(None, model), Err(UsbError::NoPort { .. })),
                "{model}"
            );
        }
        assert!(matches!(
            read_package(None, Model::T46G),
            Err(UsbError::NoSlot)
        ));
    }

    #[test]
    fn sectors_are_told_apart() {
        let mut ntfs = vec![0u8; 512];
        ntfs[0..3].copy_from_slice(&[0xEB, 0x52, 0x90]);
        ntfs[3..11].copy_from_slice(NTFS_OEM_ID);
        ntfs[510..512].copy_from_slice(&BOOT_SIGNATURE);
        assert_eq!(volume_kind(&ntfs), VolumeKind::Ntfs);

        let mut exfat = vec![0u8; 512];
        exfat[0..3].copy_from_slice(&[0xEB, 0x76, 0x90]);
        exfat[3..11].copy_from_slice(EXFAT_NAME);
        exfat[510..512].copy_from_slice(&BOOT_SIGNATURE);
        assert_eq!(volume_kind(&exfat), VolumeKind::ExFat);

        let mut mbr = vec![0u8; 512];
        mbr[510..512].copy_from_slice(&BOOT_SIGNATURE);
        assert_eq!(volume_kind(&mbr), VolumeKind::Unknown);
        assert_eq!(first_partition(&mbr), None);
        let entry = &mut mbr[PARTITION_TABLE + PARTITION_ENTRY..][..PARTITION_ENTRY];
        entry[4] = 0x0E;
        entry[8..12].copy_from_slice(&2048u32.to_le_bytes());
        entry[12..16].copy_from_slice(&4096u32.to_le_bytes());
        assert_eq!(first_partition(&mbr), Some((2048 * 512, 4096 * 512)));
        assert_eq!(volume_kind(&mbr[..100]), VolumeKind::Unknown);
    }
}
