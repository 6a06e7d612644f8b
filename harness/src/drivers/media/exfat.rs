//! An exFAT-formatted stick, as far as a loader probing it can tell: the main and backup
//! boot regions of the exFAT specification (Microsoft's public "exFAT file system
//! specification", section 3): boot sector, eight extended boot sectors, an OEM-parameter
//! sector, a reserved sector and the boot checksum sector, then the same twelve again.
//!
//! Like the NTFS stick (`ntfs.rs`), the files are NOT written: no FAT, allocation bitmap,
//! up-case table or root directory follows. No crate writes exFAT, and a loader that reads
//! FAT only gives up at the boot sector (its BPB fields are zero, where FAT keeps its
//! geometry), so what lies behind it never reaches the phone. What matters is that the
//! volume is what `blkid` and loaders recognise as exFAT: jump `EB 76 90`, name `EXFAT   `
//! at byte 3, bytes 11-63 zero, `55 AA` at 510 and a valid boot checksum.

use super::SECTOR_BYTES;

/// MBR partition type of exFAT (shared with NTFS and HPFS: loaders read the name).
pub const PARTITION_TYPE: u8 = 0x07;

/// The file system name that marks an exFAT volume.
pub const FILE_SYSTEM_NAME: &[u8; 8] = b"EXFAT   ";

/// Sectors per cluster as a power of two: 2^3 = 8 sectors, 4 KiB clusters, what Windows
/// picks for small sticks.
pub const SECTORS_PER_CLUSTER_SHIFT: u8 = 3;

/// Sectors in one boot region (boot, 8 extended, OEM parameters, reserved, checksum).
pub const BOOT_REGION_SECTORS: usize = 12;

/// Where the FAT starts, in sectors from the volume start: after both boot regions, on a
/// 64 KiB boundary.
const FAT_OFFSET: u32 = 128;

/// The two boot regions (24 sectors) of an exFAT volume of `volume_sectors` sectors that
/// starts at disk sector `partition_offset`.
pub fn boot_regions(volume_sectors: u64, partition_offset: u64, serial: u32) -> Vec<u8> {
    let cluster_sectors = 1u64 << SECTORS_PER_CLUSTER_SHIFT;
    // One FAT entry (4 bytes) per cluster, rounded up to whole clusters.
    let estimated_clusters = volume_sectors / cluster_sectors;
    let fat_sectors = (estimated_clusters * 4).div_ceil(SECTOR_BYTES);
    let fat_length =
        u32::try_from(fat_sectors.div_ceil(cluster_sectors) * cluster_sectors).unwrap_or(u32::MAX);
    let heap_offset = FAT_OFFSET + fat_length;
    let cluster_count = u32::try_from((volume_sectors - u64::from(heap_offset)) / cluster_sectors)
        .unwrap_or(u32::MAX);

    let mut region = vec![0u8; BOOT_REGION_SECTORS * SECTOR_BYTES as usize];
    let boot = &mut region[..SECTOR_BYTES as usize];
    boot[0..3].copy_from_slice(&[0xEB, 0x76, 0x90]);
    boot[3..11].copy_from_slice(FILE_SYSTEM_NAME);
    // 11..64: MustBeZero, where a FAT BPB would be.
    boot[64..72].copy_from_slice(&partition_offset.to_le_bytes());
    boot[72..80].copy_from_slice(&volume_sectors.to_le_bytes());
    boot[80..84].copy_from_slice(&FAT_OFFSET.to_le_bytes());
    boot[84..88].copy_from_slice(&fat_length.to_le_bytes());
    boot[88..92].copy_from_slice(&heap_offset.to_le_bytes());
    boot[92..96].copy_from_slice(&cluster_count.to_le_bytes());
    // The root directory's first cluster: after the allocation bitmap and up-case table.
    boot[96..100].copy_from_slice(&4u32.to_le_bytes());
    boot[100..104].copy_from_slice(&serial.to_le_bytes());
    boot[104..106].copy_from_slice(&0x0100u16.to_le_bytes()); // revision 1.00
    // VolumeFlags 0: clean, first FAT active.
    boot[108] = 9; // bytes per sector: 2^9
    boot[109] = SECTORS_PER_CLUSTER_SHIFT;
    boot[110] = 1; // one FAT
    boot[111] = 0x80; // drive select
    boot[112] = 0xFF; // percent in use: not known
    boot[510] = 0x55;
    boot[511] = 0xAA;
    // Extended boot sectors: empty, each ending with its signature.
    for sector in 1..=8 {
        let end = (sector + 1) * SECTOR_BYTES as usize;
        region[end - 4..end].copy_from_slice(&[0x00, 0x00, 0x55, 0xAA]);
    }
    // Sectors 9 (OEM parameters) and 10 (reserved) stay zero; 11 repeats the checksum.
    let checksum = boot_checksum(&region[..11 * SECTOR_BYTES as usize]);
    for word in region[11 * SECTOR_BYTES as usize..].chunks_exact_mut(4) {
        word.copy_from_slice(&checksum.to_le_bytes());
    }
    let mut both = region.clone();
    both.extend_from_slice(&region);
    both
}

/// The boot checksum of the specification (section 3.4): a rotate-right sum of the first
/// eleven sectors, skipping VolumeFlags (106, 107) and PercentInUse (112), which change as
/// the volume is used.
pub fn boot_checksum(sectors: &[u8]) -> u32 {
    sectors
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 106 | 107 | 112))
        .fold(0u32, |sum, (_, byte)| {
            sum.rotate_right(1).wrapping_add(u32::from(*byte))
        })
}

/// A whole exFAT partition of `volume_sectors` sectors: the boot regions, then zeros.
pub fn build_volume(volume_sectors: u64, partition_offset: u64, serial: u32) -> Vec<u8> {
    let mut volume = boot_regions(volume_sectors, partition_offset, serial);
    volume.resize((volume_sectors * SECTOR_BYTES) as usize, 0);
    volume
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_sector_is_exfat_and_not_fat() {
        let volume = build_volume(30720, 2048, 0x1234_5678);
        assert_eq!(volume.len(), 30720 * 512);
        assert_eq!(&volume[0..3], &[0xEB, 0x76, 0x90]);
        assert_eq!(&volume[3..11], FILE_SYSTEM_NAME);
        // Where FAT keeps bytes per sector, sectors per cluster, reserved sectors and the
        // FAT count, exFAT has zeros: a FAT reader finds no geometry.
        assert!(volume[11..64].iter().all(|b| *b == 0));
        assert_eq!(&volume[510..512], &[0x55, 0xAA]);
        assert_eq!(&volume[72..80], &30720u64.to_le_bytes());
    }

    #[test]
    fn the_checksum_sector_matches_and_the_backup_region_repeats_the_main_one() {
        let volume = build_volume(30720, 2048, 7);
        let checksum = boot_checksum(&volume[..11 * 512]);
        assert_eq!(&volume[11 * 512..11 * 512 + 4], &checksum.to_le_bytes());
        assert_eq!(&volume[12 * 512 - 4..12 * 512], &checksum.to_le_bytes());
        assert_eq!(volume[..12 * 512], volume[12 * 512..24 * 512]);
        // The flags and percent-in-use bytes do not count.
        let mut changed = volume[..11 * 512].to_vec();
        changed[106] ^= 1;
        changed[112] = 0;
        assert_eq!(boot_checksum(&changed), checksum);
        changed[105] ^= 1;
        assert_ne!(boot_checksum(&changed), checksum);
    }
}
