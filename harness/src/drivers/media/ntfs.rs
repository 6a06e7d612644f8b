//! An NTFS-formatted stick, as far as anyone probing it can tell: the boot sector and its
//! backup, which is all a loader reads before deciding it cannot read the volume.
//!
//! The phone's loader reads FAT only; the recovery files are deliberately NOT written in
//! an NTFS structure (no $MFT, no directory), because the phone gives up at the boot
//! sector and the content never matters. What matters is that the volume is recognisable
//! as NTFS the way `blkid` and loaders first recognise it: jump `EB 52 90`, OEM id
//! `NTFS    ` at byte 3, a sane BPB and `55 AA` at 510.

use super::SECTOR_BYTES;

/// MBR partition type of NTFS (shared with exFAT and HPFS: loaders read the OEM id).
pub const PARTITION_TYPE: u8 = 0x07;

/// The OEM id that names an NTFS volume.
pub const OEM_ID: &[u8; 8] = b"NTFS    ";

/// Sectors per cluster: 4 KiB clusters, what Windows and mkntfs pick for sticks.
pub const SECTORS_PER_CLUSTER: u8 = 8;

/// Clusters per MFT record as a signed exponent: -10 means 2^10 = 1024-byte records.
pub const CLUSTERS_PER_MFT_RECORD: u8 = 0xF6;

/// Clusters per index block: one 4 KiB cluster.
pub const CLUSTERS_PER_INDEX_BLOCK: u8 = 0x01;

/// Where $MFT starts, in clusters: after the 8 KiB $Boot region and a little slack, as
/// mkntfs places it on small volumes.
pub const MFT_CLUSTER: u64 = 4;

/// The boot sector of an NTFS volume of `volume_sectors` sectors that starts at disk
/// sector `hidden_sectors`. NTFS counts one sector less than the partition: the last one
/// holds the backup boot sector.
pub fn boot_sector(volume_sectors: u64, hidden_sectors: u64, serial: u64) -> [u8; 512] {
    let total_sectors = volume_sectors - 1;
    let clusters = total_sectors / u64::from(SECTORS_PER_CLUSTER);
    let mut s = [0u8; 512];
    s[0..3].copy_from_slice(&[0xEB, 0x52, 0x90]);
    s[3..11].copy_from_slice(OEM_ID);
    s[0x0B..0x0D].copy_from_slice(&(SECTOR_BYTES as u16).to_le_bytes());
    s[0x0D] = SECTORS_PER_CLUSTER;
    // Reserved sectors, FAT count, root entries, 16-bit total and FAT size: 0 on NTFS.
    s[0x15] = 0xF8; // media: fixed disk
    s[0x18..0x1A].copy_from_slice(&63u16.to_le_bytes()); // sectors per track
    s[0x1A..0x1C].copy_from_slice(&255u16.to_le_bytes()); // heads
    let hidden = u32::try_from(hidden_sectors).unwrap_or(u32::MAX);
    s[0x1C..0x20].copy_from_slice(&hidden.to_le_bytes());
    // 80 00 80 00: BIOS drive 0x80 and the signature byte Windows writes after it.
    s[0x24] = 0x80;
    s[0x26] = 0x80;
    s[0x28..0x30].copy_from_slice(&total_sectors.to_le_bytes());
    s[0x30..0x38].copy_from_slice(&MFT_CLUSTER.to_le_bytes());
    // $MFTMirr in the middle of the volume, away from damage at either end.
    s[0x38..0x40].copy_from_slice(&(clusters / 2).to_le_bytes());
    s[0x40] = CLUSTERS_PER_MFT_RECORD;
    s[0x44] = CLUSTERS_PER_INDEX_BLOCK;
    s[0x48..0x50].copy_from_slice(&serial.to_le_bytes());
    // Checksum at 0x50: unused, 0. Boot code: none, the volume is not bootable.
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

/// A volume of `volume_sectors` sectors: the boot sector first, its backup last, zeros
/// between (see the module comment for why there is no file system behind it).
pub fn build_volume(volume_sectors: u64, hidden_sectors: u64, serial: u64) -> Vec<u8> {
    let boot = boot_sector(volume_sectors, hidden_sectors, serial);
    let mut volume = vec![0u8; (volume_sectors * SECTOR_BYTES) as usize];
    volume[..512].copy_from_slice(&boot);
    let last = volume.len() - 512;
    volume[last..].copy_from_slice(&boot);
    volume
}

/// True when `volume` starts with an NTFS boot sector: how a loader tells NTFS from FAT.
pub fn is_ntfs(volume: &[u8]) -> bool {
    volume.len() >= 512 && &volume[3..11] == OEM_ID && volume[510..512] == [0x55, 0xAA]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(s: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(s[at..at + 2].try_into().unwrap())
    }

    fn u32_at(s: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(s[at..at + 4].try_into().unwrap())
    }

    fn u64_at(s: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(s[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn boot_sector_fields_are_where_ntfs_readers_look() {
        let s = boot_sector(30720, 2048, 0x1122_3344_5566_7788);
        assert_eq!(&s[0..3], &[0xEB, 0x52, 0x90]);
        assert_eq!(&s[3..11], b"NTFS    ");
        assert_eq!(u16_at(&s, 0x0B), 512);
        assert_eq!(s[0x0D], 8);
        assert_eq!(u16_at(&s, 0x0E), 0, "NTFS has no reserved sectors");
        assert_eq!(s[0x10], 0, "NTFS has no FATs");
        assert_eq!(s[0x15], 0xF8);
        assert_eq!(u32_at(&s, 0x1C), 2048);
        assert_eq!(u64_at(&s, 0x28), 30719);
        assert_eq!(u64_at(&s, 0x30), 4);
        assert_eq!(u64_at(&s, 0x38), 30719 / 8 / 2);
        assert_eq!(s[0x40] as i8, -10);
        assert_eq!(s[0x44], 1);
        assert_eq!(u64_at(&s, 0x48), 0x1122_3344_5566_7788);
        assert_eq!(&s[510..512], &[0x55, 0xAA]);
    }

    #[test]
    fn the_backup_boot_sector_is_the_last_sector() {
        let volume = build_volume(64, 2048, 7);
        assert_eq!(volume.len(), 64 * 512);
        assert_eq!(&volume[..512], &volume[63 * 512..]);
        assert!(volume[512..63 * 512].iter().all(|b| *b == 0));
        assert!(is_ntfs(&volume));
        assert!(is_ntfs(&volume[63 * 512..]));
    }

    #[test]
    fn a_fat_boot_sector_is_not_ntfs() {
        let mut s = [0u8; 512];
        s[3..11].copy_from_slice(b"MSWIN4.1");
        s[510] = 0x55;
        s[511] = 0xAA;
        assert!(!is_ntfs(&s));
        assert!(!is_ntfs(&[0u8; 100]));
    }
}
