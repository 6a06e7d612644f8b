//! The FAT partition of a recovery stick, formatted and filled in memory.
//!
//! The FAT type is whatever the partition's size gives (fatfs treats a requested type as a
//! hint only), so the volume reports the type it really got: a scenario that hands the phone
//! "a FAT16 stick" must be able to say so from the bytes, not from a wish.

use std::io::{self, Cursor, Write};

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

/// A formatted FAT partition holding the files.
pub struct FatVolume {
    /// The partition's bytes, from its boot sector to its last sector.
    pub bytes: Vec<u8>,
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
/// holds `files` in its root directory, and write them. `hidden_sectors` is where the
/// partition starts on the disk, recorded in the boot sector as partitioning tools do.
pub fn build_volume(files: &[StickFile], hidden_sectors: u64) -> Result<FatVolume, MediaError> {
    build_volume_in(None, files, hidden_sectors)
}

/// [`build_volume`] with the files in `folder` of the root directory when one is given.
pub fn build_volume_in(
    folder: Option<&str>,
    files: &[StickFile],
    hidden_sectors: u64,
) -> Result<FatVolume, MediaError> {
    let partition_offset = hidden_sectors * SECTOR_BYTES;
    let mut size_bytes = initial_size(files, partition_offset);
    for _ in 0..MAX_SIZE_ATTEMPTS {
        match try_build(folder, files, size_bytes, hidden_sectors)? {
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
    folder: Option<&str>,
    files: &[StickFile],
    size_bytes: u64,
    hidden_sectors: u64,
) -> Result<Attempt, MediaError> {
    let fat_err = |action: String| move |source: io::Error| MediaError::Fat { action, source };
    let size = usize::try_from(size_bytes).map_err(|_| MediaError::TooLarge {
        needed_bytes: size_bytes,
    })?;
    let mut disk = Cursor::new(vec![0u8; size]);
    let options = FormatVolumeOptions::new()
        .volume_label(VOLUME_LABEL)
        .volume_id(rand::random());
    fatfs::format_volume(&mut disk, options)
        .map_err(fat_err(format!("formatting a {size_bytes}-byte volume")))?;

    disk.set_position(0);
    let fat_type = {
        let fs = FileSystem::new(&mut disk, FsOptions::new())
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

    let mut bytes = disk.into_inner();
    set_hidden_sectors(&mut bytes, fat_type, hidden_sectors);
    Ok(Attempt::Built(FatVolume {
        bytes,
        fat_type,
        partition_type: partition_type(fat_type),
    }))
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

    #[test]
    fn a_small_package_gets_the_minimum_size() {
        let volume = build_volume(&[file("T46G.rom", 4096)], 2048).unwrap();
        assert_eq!(volume.bytes.len() as u64, MIN_STICK_BYTES - 2048 * 512);
        assert_eq!(volume.fat_type, FatType::Fat16);
        assert_eq!(volume.partition_type, PARTITION_TYPE_FAT16_LBA);
        assert_eq!(&volume.bytes[0x1C..0x20], &2048u32.to_le_bytes());
    }

    #[test]
    fn a_package_larger_than_the_minimum_grows_the_volume() {
        // 20 MiB of data cannot fit 15 MiB: the volume grows to hold it, and no more than
        // a few MiB beyond.
        let volume = build_volume(&[file("T46G.rom", 20 * 1024 * 1024)], 2048).unwrap();
        let len = volume.bytes.len() as u64;
        assert!(len >= 20 * MIB, "{len}");
        assert!(len <= 24 * MIB, "{len}");
        let mut disk = Cursor::new(volume.bytes);
        let fs = FileSystem::new(&mut disk, FsOptions::new()).unwrap();
        let entry = fs.root_dir().iter().next().unwrap().unwrap();
        assert_eq!(entry.len(), 20 * MIB);
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
