//! The FAT partition of a recovery stick, formatted and filled in place: straight into the
//! stick's image file, at the partition's offset, so that memory holds the file system's
//! working sectors and never the whole stick (a stick is at least 16 MiB, and every bench
//! of a pool may be writing one at once). Only the sectors written take room on disk too:
//! the rest of the volume stays a hole of the (sparse) file.
//!
//! The FAT type is whatever the partition's size gives (fatfs treats a requested type as a
//! hint only), so the volume reports the type it really got: a scenario that hands the phone
//! "a FAT16 stick" must be able to say so from the bytes, not from a wish.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};

use super::{MIN_STICK_BYTES, MediaError, SECTOR_BYTES, StickFile};

/// MBR partition type of a FAT12 partition.
pub const PARTITION_TYPE_FAT12: u8 = 0x01;
/// MBR partition type of a FAT16 partition addressed by LBA.
pub const PARTITION_TYPE_FAT16_LBA: u8 = 0x0E;
/// MBR partition type of a FAT32 partition addressed by LBA.
pub const PARTITION_TYPE_FAT32_LBA: u8 = 0x0C;

/// The label Windows shows for the stick; eleven bytes, space-padded, as FAT stores it.
const VOLUME_LABEL: [u8; 11] = *b"RECOVERY   ";

/// Byte offset of the BPB's hidden-sectors field (identical in FAT12/16 and FAT32).
const BPB_HIDDEN_SECTORS_OFFSET: usize = 0x1C;
/// Byte offset of the FAT32 BPB's backup-boot-sector field.
const BPB_FAT32_BACKUP_BOOT_OFFSET: usize = 0x32;

/// How many times the volume may grow when the files do not fit the estimate; each growth
/// covers the whole shortfall, so a second is needed only when the FAT type changes.
const MAX_SIZE_ATTEMPTS: usize = 8;

const MIB: u64 = 1024 * 1024;

/// A formatted FAT partition holding the files, written into its disk.
pub struct FatVolume {
    /// The partition's length in bytes, from its boot sector to its last sector.
    pub len: u64,
    /// The FAT type the size gave.
    pub fat_type: FatType,
    /// The MBR partition type for it.
    pub partition_type: u8,
}

impl FatVolume {
    /// `FAT12`, `FAT16` or `FAT32`, for descriptions.
    pub fn fat_name(&self) -> &'static str {
        fat_name(self.fat_type)
    }
}

/// `FAT12`, `FAT16` or `FAT32`: how tools and the phone's loader name a FAT type.
pub fn fat_name(fat_type: FatType) -> &'static str {
    match fat_type {
        FatType::Fat12 => "FAT12",
        FatType::Fat16 => "FAT16",
        FatType::Fat32 => "FAT32",
    }
}

/// The MBR partition type that announces `fat_type`.
pub fn partition_type(fat_type: FatType) -> u8 {
    match fat_type {
        FatType::Fat12 => PARTITION_TYPE_FAT12,
        FatType::Fat16 => PARTITION_TYPE_FAT16_LBA,
        FatType::Fat32 => PARTITION_TYPE_FAT32_LBA,
    }
}

/// Format a partition of the smallest size (whole MiB, the stick at least 16 MiB) that
/// holds `files` in its root directory (or in `folder` of it, when one is given), and write
/// them, into `disk` from sector `hidden_sectors` on (where the partition starts on the
/// disk, recorded in the boot sector as partitioning tools do). `disk` is cut to the
/// partition's end: whatever it held from that sector on is gone.
pub fn write_volume(
    disk: &File,
    folder: Option<&str>,
    files: &[StickFile],
    hidden_sectors: u64,
) -> Result<FatVolume, MediaError> {
    let partition_offset = hidden_sectors * SECTOR_BYTES;
    let mut size_bytes = initial_size(files, partition_offset);
    for _ in 0..MAX_SIZE_ATTEMPTS {
        match try_build(disk, folder, files, size_bytes, hidden_sectors)? {
            Attempt::Built(volume) => return Ok(volume),
            Attempt::Short { missing_bytes } => {
                size_bytes = round_up(size_bytes + missing_bytes + MIB, MIB);
            }
        }
    }
    Err(MediaError::Fat {
        action: format!("sizing a volume for {} files", files.len()),
        source: io::Error::other(format!(
            "the files still did not fit a {size_bytes}-byte volume"
        )),
    })
}

/// A first guess: the data rounded to the largest cluster, the FATs (at most 4 bytes per
/// 512-byte cluster, twice) and a margin for the reserved sectors and root directory.
fn initial_size(files: &[StickFile], partition_offset: u64) -> u64 {
    let data: u64 = files
        .iter()
        .map(|f| round_up(f.contents.len() as u64, 32 * 1024))
        .sum();
    let estimate = round_up(data + data / 64 + MIB, MIB);
    estimate.max(MIN_STICK_BYTES - partition_offset)
}

enum Attempt {
    Built(FatVolume),
    /// The formatted volume has too few free clusters for the files.
    Short {
        missing_bytes: u64,
    },
}

fn try_build(
    disk: &File,
    folder: Option<&str>,
    files: &[StickFile],
    size_bytes: u64,
    hidden_sectors: u64,
) -> Result<Attempt, MediaError> {
    let fat_err = |action: String| move |source: io::Error| MediaError::Fat { action, source };
    let offset = hidden_sectors * SECTOR_BYTES;
    if u32::try_from(size_bytes / SECTOR_BYTES).is_err() {
        return Err(MediaError::TooLarge {
            needed_bytes: offset + size_bytes,
        });
    }
    // A fresh volume of zeros: cut back to the partition's start (dropping an earlier,
    // too small attempt), then grown as a hole.
    disk.set_len(offset)
        .and_then(|()| disk.set_len(offset + size_bytes))
        .map_err(fat_err(format!(
            "making room for a {size_bytes}-byte volume"
        )))?;
    let mut volume = Window::new(disk, offset, size_bytes);
    let options = FormatVolumeOptions::new()
        .volume_label(VOLUME_LABEL)
        .volume_id(rand::random());
    fatfs::format_volume(&mut volume, options)
        .map_err(fat_err(format!("formatting a {size_bytes}-byte volume")))?;

    volume.position = 0;
    let fat_type = {
        let fs = FileSystem::new(&mut volume, FsOptions::new())
            .map_err(fat_err("mounting the fresh volume".to_string()))?;
        let cluster_bytes = u64::from(fs.cluster_size());
        let needed_clusters: u64 = files
            .iter()
            .map(|f| (f.contents.len() as u64).div_ceil(cluster_bytes))
            .sum();
        let free_clusters = u64::from(
            fs.stats()
                .map_err(fat_err("reading the free space".to_string()))?
                .free_clusters(),
        );
        if needed_clusters > free_clusters {
            return Ok(Attempt::Short {
                missing_bytes: (needed_clusters - free_clusters) * cluster_bytes,
            });
        }
        {
            let root = match folder {
                None => fs.root_dir(),
                Some(folder) => fs
                    .root_dir()
                    .create_dir(folder)
                    .map_err(fat_err(format!("creating the folder {folder}")))?,
            };
            for file in files {
                let action = format!("writing {}", file.name);
                let mut entry = root
                    .create_file(&file.name)
                    .map_err(fat_err(action.clone()))?;
                entry.truncate().map_err(fat_err(action.clone()))?;
                entry
                    .write_all(&file.contents)
                    .and_then(|()| entry.flush())
                    .map_err(fat_err(action))?;
            }
        }
        let fat_type = fs.fat_type();
        // Unmount writes the FSInfo sector and clears the dirty flag: a stick pulled
        // without it makes fsck complain, and some loaders refuse a dirty volume.
        fs.unmount()
            .map_err(fat_err("closing the volume".to_string()))?;
        fat_type
    };

    record_hidden_sectors(disk, offset, fat_type, hidden_sectors)
        .map_err(fat_err("recording where the partition starts".to_string()))?;
    Ok(Attempt::Built(FatVolume {
        len: size_bytes,
        fat_type,
        partition_type: partition_type(fat_type),
    }))
}

/// [`set_hidden_sectors`] on the boot sectors as written at `offset` of `disk`.
fn record_hidden_sectors(
    disk: &File,
    offset: u64,
    fat_type: FatType,
    hidden_sectors: u64,
) -> io::Result<()> {
    // The boot sector and, on FAT32, its backup (at most sector 0xFFFF of the volume; the
    // formatter puts it at 6).
    let mut boot = vec![0u8; SECTOR_BYTES as usize];
    disk.read_exact_at(&mut boot, offset)?;
    let backup_sector = if fat_type == FatType::Fat32 {
        u16::from_le_bytes([
            boot[BPB_FAT32_BACKUP_BOOT_OFFSET],
            boot[BPB_FAT32_BACKUP_BOOT_OFFSET + 1],
        ])
    } else {
        0
    };
    let span = (usize::from(backup_sector) + 1) * SECTOR_BYTES as usize;
    let mut head = vec![0u8; span];
    disk.read_exact_at(&mut head, offset)?;
    set_hidden_sectors(&mut head, fat_type, hidden_sectors);
    disk.write_all_at(&head, offset)
}

/// A part of a file seen as a disk of its own, from byte `start` for `len` bytes: what
/// fatfs formats and fills. Reads and writes go straight to the file.
struct Window<'f> {
    file: &'f File,
    start: u64,
    len: u64,
    position: u64,
}

impl<'f> Window<'f> {
    fn new(file: &'f File, start: u64, len: u64) -> Self {
        Window {
            file,
            start,
            len,
            position: 0,
        }
    }

    /// How many of `wanted` bytes fit before the window's end.
    fn room(&self, wanted: usize) -> usize {
        let left = self.len.saturating_sub(self.position);
        usize::try_from(left).map_or(wanted, |left| left.min(wanted))
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let take = self.room(buf.len());
        let n = self
            .file
            .read_at(&mut buf[..take], self.start + self.position)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = self.room(buf.len());
        if take == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the volume",
            ));
        }
        let n = self
            .file
            .write_at(&buf[..take], self.start + self.position)?;
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        match target {
            Some(at) if at <= self.len => {
                self.position = at;
                Ok(at)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the volume",
            )),
        }
    }
}

/// Record where the partition starts in the boot sector (and FAT32's backup of it): fatfs
/// formats a bare volume and writes 0 there, as if it were a floppy.
fn set_hidden_sectors(volume: &mut [u8], fat_type: FatType, hidden_sectors: u64) {
    // A partition starting past sector 2^32 cannot be in an MBR at all; the caller's
    // layout starts at 2048.
    let value = u32::try_from(hidden_sectors)
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let at = BPB_HIDDEN_SECTORS_OFFSET;
    volume[at..at + 4].copy_from_slice(&value);
    if fat_type == FatType::Fat32 {
        let backup_sector = u16::from_le_bytes([
            volume[BPB_FAT32_BACKUP_BOOT_OFFSET],
            volume[BPB_FAT32_BACKUP_BOOT_OFFSET + 1],
        ]);
        if backup_sector != 0 {
            let at = usize::from(backup_sector) * SECTOR_BYTES as usize + BPB_HIDDEN_SECTORS_OFFSET;
            volume[at..at + 4].copy_from_slice(&value);
        }
    }
}

fn round_up(value: u64, unit: u64) -> u64 {
    value.div_ceil(unit) * unit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, len: usize) -> StickFile {
        StickFile {
            name: name.to_string(),
            contents: (0..len).map(|i| (i % 251) as u8).collect(),
        }
    }

    fn volume_bytes(disk: &File, volume: &FatVolume) -> Vec<u8> {
        let mut bytes = vec![0u8; volume.len as usize];
        disk.read_exact_at(&mut bytes, 2048 * 512).unwrap();
        bytes
    }

    #[test]
    fn a_small_package_gets_the_minimum_size() {
        let disk = tempfile::tempfile().unwrap();
        let volume = write_volume(&disk, None, &[file("T46G.rom", 4096)], 2048).unwrap();
        assert_eq!(volume.len, MIN_STICK_BYTES - 2048 * 512);
        assert_eq!(disk.metadata().unwrap().len(), MIN_STICK_BYTES);
        assert_eq!(volume.fat_type, FatType::Fat16);
        assert_eq!(volume.partition_type, PARTITION_TYPE_FAT16_LBA);
        assert_eq!(
            &volume_bytes(&disk, &volume)[0x1C..0x20],
            &2048u32.to_le_bytes()
        );
    }

    #[test]
    fn a_package_larger_than_the_minimum_grows_the_volume() {
        // 20 MiB of data cannot fit 15 MiB: the volume grows to hold it, and no more than
        // a few MiB beyond.
        let disk = tempfile::tempfile().unwrap();
        let volume =
            write_volume(&disk, None, &[file("T46G.rom", 20 * 1024 * 1024)], 2048).unwrap();
        let len = volume.len;
        assert!(len >= 20 * MIB, "{len}");
        assert!(len <= 24 * MIB, "{len}");
        assert_eq!(disk.metadata().unwrap().len(), 2048 * 512 + len);
        let mut partition = io::Cursor::new(volume_bytes(&disk, &volume));
        let fs = FileSystem::new(&mut partition, FsOptions::new()).unwrap();
        let entry = fs.root_dir().iter().next().unwrap().unwrap();
        assert_eq!(entry.len(), 20 * MIB);
    }

    #[test]
    fn what_the_disk_held_before_is_gone() {
        let disk = tempfile::tempfile().unwrap();
        disk.write_all_at(&vec![0xEE; 20 * 1024 * 1024], 0).unwrap();
        let volume = write_volume(&disk, None, &[file("T46G.rom", 4096)], 2048).unwrap();
        assert_eq!(disk.metadata().unwrap().len(), 2048 * 512 + volume.len);
        let bytes = volume_bytes(&disk, &volume);
        // The end of the volume is free space: zeros, not the old pattern.
        assert!(bytes[bytes.len() - 4096..].iter().all(|b| *b == 0));
    }

    #[test]
    fn the_window_refuses_to_reach_past_the_volume() {
        let disk = tempfile::tempfile().unwrap();
        let mut window = Window::new(&disk, 512, 1024);
        assert!(window.seek(SeekFrom::Start(1025)).is_err());
        window.seek(SeekFrom::End(-2)).unwrap();
        assert_eq!(window.write(&[1, 2, 3, 4]).unwrap(), 2);
        assert!(window.write(&[5]).is_err());
        let mut at = [0u8; 2];
        disk.read_exact_at(&mut at, 512 + 1022).unwrap();
        assert_eq!(at, [1, 2]);
    }

    #[test]
    fn fat32_records_the_partition_start_in_its_backup_boot_sector_too() {
        let mut volume = vec![0u8; 8 * 512];
        volume[BPB_FAT32_BACKUP_BOOT_OFFSET] = 6;
        set_hidden_sectors(&mut volume, FatType::Fat32, 2048);
        assert_eq!(&volume[0x1C..0x20], &2048u32.to_le_bytes());
        assert_eq!(
            &volume[6 * 512 + 0x1C..6 * 512 + 0x20],
            &2048u32.to_le_bytes()
        );
    }
}
