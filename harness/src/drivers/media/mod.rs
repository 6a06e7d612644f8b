//! The USB stick in a phone's port: building a whole stick image (partition table and
//! file system) and putting it where the phone reads it.
//!
//! The stick is built whole before anything is delivered, so a scenario can describe
//! exactly what it handed the phone ("FAT16, 3 files: ...") and a delivery is one
//! sequential copy: to an image file for the virtual bench, a USB-SD-mux's host-side disk
//! on a rack. It is built in an unnamed temporary file, written as it is built
//! (`fat.rs`), never held whole in memory.

pub mod deliver;
pub mod exfat;
pub mod fat;
pub mod ntfs;

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

pub use deliver::{BlockDevice, ImageFile};

use crate::lab::UsbConfig;

/// Bytes of one sector: the only sector size USB sticks present and the phone's loader reads.
pub const SECTOR_BYTES: u64 = 512;

/// Where the one partition starts, in sectors: 1 MiB, as every partitioning tool of the last
/// decade aligns the first partition.
pub const PARTITION_START_SECTOR: u64 = 2048;

/// The smallest stick built: smaller volumes would become FAT12, which no stick sold ships.
pub const MIN_STICK_BYTES: u64 = 16 * 1024 * 1024;

/// Byte offset of the first partition entry in the MBR.
pub const MBR_PARTITION_TABLE_OFFSET: usize = 446;

/// Which file system the stick is formatted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// FAT12/16/32, whichever the size gives: the phone reads these.
    Fat,
    /// NTFS: the phone cannot read it, which is what a scenario with this stick checks.
    Ntfs,
    /// exFAT: what Windows offers for large sticks; not FAT, so the phone cannot read it.
    ExFat,
}

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Filesystem::Fat => "FAT",
            Filesystem::Ntfs => "NTFS",
            Filesystem::ExFat => "exFAT",
        })
    }
}

/// One file in the stick's root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickFile {
    /// Its name in the root directory, e.g. `T46G.rom`.
    pub name: String,
    /// Its bytes.
    pub contents: Vec<u8>,
}

/// A whole stick, ready to be delivered: partition table, partition, and a sentence saying
/// what is on it for transcripts. The raw disk, from the MBR at byte 0 to the end of the
/// partition, lives in an unnamed temporary file (gone with the last clone).
#[derive(Clone)]
pub struct StickImage {
    disk: Arc<File>,
    len: u64,
    /// What the phone will find, e.g. `FAT16, 3 files: T46G.bin T46G.rfs T46G.rom`.
    pub description: String,
}

/// How much of a stick is read or written per call when it is copied.
pub const COPY_CHUNK_BYTES: usize = 256 * 1024;

impl StickImage {
    /// The raw disk's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the disk is empty (never, for a built stick).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads `buf.len()` bytes of the disk from `offset`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.disk.read_exact_at(buf, offset)
    }

    /// The whole disk in memory: for tests and inspection, never for a delivery.
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len).map_err(io::Error::other)?;
        let mut bytes = vec![0u8; len];
        self.read_at(&mut bytes, 0)?;
        Ok(bytes)
    }

    /// Calls `sink` with the disk in order, [`COPY_CHUNK_BYTES`] at a time, each with its
    /// offset: a delivery copies the stick through one buffer of that size.
    pub fn for_each_chunk(
        &self,
        mut sink: impl FnMut(u64, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; COPY_CHUNK_BYTES];
        let mut offset = 0;
        while offset < self.len {
            let take = usize::try_from(self.len - offset).map_or(buf.len(), |l| l.min(buf.len()));
            self.read_at(&mut buf[..take], offset)?;
            sink(offset, &buf[..take])?;
            offset += take as u64;
        }
        Ok(())
    }
}

impl fmt::Debug for StickImage {
    // A stick is megabytes: a debug print shows its size and content, never its bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StickImage")
            .field("bytes", &self.len)
            .field("description", &self.description)
            .finish()
    }
}

/// Why a stick could not be built or put in place.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A file name the stick's root directory cannot hold.
    #[error("cannot put `{name}` on the stick: {reason}. Check the recovery package's file names")]
    BadFileName {
        /// The name asked for.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The files need a stick larger than an MBR partition can describe.
    #[error(
        "the recovery files need a {needed_bytes}-byte stick, more than an MBR partition can \
         hold: is the recovery package the right one?"
    )]
    TooLarge {
        /// The size the files need.
        needed_bytes: u64,
    },
    /// The FAT file system library refused to format or fill the in-memory volume.
    #[error(
        "building the FAT volume failed while {action}: {source}. The volume is built in \
         a temporary file: is the temporary folder full, or are there more files than a root \
         directory holds (512 on FAT16)?"
    )]
    Fat {
        /// What was being done (`formatting a 16777216-byte volume`, `writing T46G.rom`).
        action: String,
        /// What the file system library said.
        source: io::Error,
    },
    /// The virtual stick's image file could not be written.
    #[error(
        "cannot write the stick image {}: {source}. Does its folder exist and is it writable? \
         Check `usb.image` of the bench in the lab file",
        path.display()
    )]
    ImageFile {
        /// The image file (or its temporary sibling).
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The configured device path does not lead anywhere.
    #[error(
        "the stick device {} does not exist ({source}). Is the USB-SD-mux plugged into this \
         host? Check `usb.device` of the bench in the lab file",
        path.display()
    )]
    DeviceMissing {
        /// The configured path.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The kernel has no block device of that name.
    #[error(
        "{} (resolved to {}) is not a disk the kernel knows: there is no {}. Check \
         `usb.device` of the bench in the lab file; it must name the USB-SD-mux's whole disk",
        path.display(),
        resolved.display(),
        sysfs.display()
    )]
    NotInSysfs {
        /// The configured path.
        path: PathBuf,
        /// Where its links lead.
        resolved: PathBuf,
        /// The sysfs folder looked for.
        sysfs: PathBuf,
    },
    /// The path names a partition, not a whole disk: the stick image holds its own table.
    #[error(
        "{} (resolved to {}) is a partition; the stick image carries its own partition table, \
         so `usb.device` must name the whole disk (the by-id link without `-partN`)",
        path.display(),
        resolved.display()
    )]
    Partition {
        /// The configured path.
        path: PathBuf,
        /// Where its links lead.
        resolved: PathBuf,
    },
    /// A sysfs attribute of the disk could not be read or understood.
    #[error(
        "cannot read {}: {reason}. Is sysfs mounted and is the disk still present?",
        attribute.display()
    )]
    Sysfs {
        /// The attribute file.
        attribute: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The disk is not removable: refused, so a wrong path can never overwrite a fixed disk.
    #[error(
        "refusing to write {} (resolved to {}): the kernel says it is not removable \
         ({} is `{value}`), so it is not a USB stick or SD card. Check `usb.device` of the \
         bench in the lab file",
        path.display(),
        resolved.display(),
        attribute.display()
    )]
    NotRemovable {
        /// The configured path.
        path: PathBuf,
        /// Where its links lead.
        resolved: PathBuf,
        /// The `removable` attribute read.
        attribute: PathBuf,
        /// What it holds.
        value: String,
    },
    /// The disk's size differs from the lab file's by more than 1%.
    #[error(
        "refusing to write {} (resolved to {}): it holds {actual_bytes} bytes ({} MiB) but the \
         lab file says `size_mb = {size_mb}`. Is another card in the USB-SD-mux, or does the \
         path name another disk? If the card was changed, update `size_mb`",
        path.display(),
        resolved.display(),
        actual_bytes / (1024 * 1024)
    )]
    WrongSize {
        /// The configured path.
        path: PathBuf,
        /// Where its links lead.
        resolved: PathBuf,
        /// The size the kernel reports.
        actual_bytes: u64,
        /// The size the lab file says.
        size_mb: u64,
    },
    /// The path passed every sysfs check but is not a block device node.
    #[error(
        "refusing to write {} (resolved to {}): it is not a block device. `usb.device` names \
         a disk; a virtual stick is `usb = {{ image = \"...\" }}`",
        path.display(),
        resolved.display()
    )]
    NotBlockDevice {
        /// The configured path.
        path: PathBuf,
        /// Where its links lead.
        resolved: PathBuf,
    },
    /// The stick image is larger than the disk.
    #[error(
        "the stick image is {image_bytes} bytes but {} holds only {device_bytes}: use a larger \
         card in the USB-SD-mux",
        path.display()
    )]
    DoesNotFit {
        /// The configured path.
        path: PathBuf,
        /// The image's size.
        image_bytes: u64,
        /// The disk's size.
        device_bytes: u64,
    },
    /// The disk is in use on the host (mounted, or opened exclusively by another program).
    #[error(
        "{} is in use on this host: is it mounted (the desktop may auto-mount sticks)? \
         Unmount it, and make sure no other harness run writes it",
        path.display()
    )]
    DeviceBusy {
        /// The configured path.
        path: PathBuf,
    },
    /// Writing the disk failed part-way: the stick is in an unknown state.
    #[error(
        "writing the stick {} failed while {action}: {source}. Is the USB-SD-mux switched to \
         the host side and the card seated?",
        path.display()
    )]
    DeviceWrite {
        /// The configured path.
        path: PathBuf,
        /// What was being done.
        action: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The media cannot do what was asked.
    #[error("{media} cannot {request}: {reason}")]
    Unsupported {
        /// Which media.
        media: String,
        /// What was asked.
        request: String,
        /// Why not, and what to do instead.
        reason: String,
    },
}

/// Puts a stick image where a phone reads it.
pub trait UsbMedia: Send {
    /// Replace the whole stick with `image`; when this returns, the phone reads `image`.
    fn deliver(&mut self, image: &StickImage) -> Result<(), MediaError>;
    /// Take the stick out, so the phone finds no stick. Media that cannot do it say so.
    fn eject(&mut self) -> Result<(), MediaError>;
    /// Which media this is and where, for transcripts and messages.
    fn describe(&self) -> String;
}

/// Open the media of a bench's `usb` entry. Nothing is touched until the first delivery,
/// which checks a block device again each time (a card can be swapped between cases).
pub fn open_usb_media(usb: &UsbConfig) -> Box<dyn UsbMedia> {
    match usb {
        UsbConfig::ImageFile { path } => Box::new(ImageFile::new(path.clone())),
        UsbConfig::BlockDevice { path, size_mb } => {
            Box::new(BlockDevice::new(path.clone(), *size_mb))
        }
    }
}

/// Build a whole stick: an MBR with one partition (type 0x0E FAT16 LBA, 0x0C FAT32 LBA,
/// 0x01 FAT12 or 0x07 NTFS) starting at sector 2048, formatted, the files in the ROOT
/// directory (where the phone looks; fatfs's subdirectories are not fsck-clean either).
/// Its size is the smallest that fits the files, and at least 16 MiB: a real stick is
/// larger, but the phone only reads the partition.
///
/// An NTFS stick is 16 MiB and carries the NTFS boot sector only, NOT the files: the phone
/// cannot read NTFS at all, so what lies behind the boot sector never matters (the names
/// are still checked, so a bad package fails the same way on either file system).
pub fn build_stick(fs: Filesystem, files: &[StickFile]) -> Result<StickImage, MediaError> {
    build_stick_in(fs, None, files)
}

/// [`build_stick`], with the files inside `folder` of the root directory instead of the
/// root itself: the stick of someone who copied the unzipped `Yealink <MODEL>` folder
/// whole (the KB's step 3 says to copy its contents). fatfs writes the folder; its `.` and
/// `..` entries are what fsck may flag, which a loader reading the root never opens.
pub fn build_stick_in(
    fs: Filesystem,
    folder: Option<&str>,
    files: &[StickFile],
) -> Result<StickImage, MediaError> {
    check_names(files)?;
    if let Some(folder) = folder {
        check_names(&[StickFile {
            name: folder.to_string(),
            contents: Vec::new(),
        }])?;
    }
    let disk = tempfile::tempfile().map_err(|source| MediaError::Fat {
        action: "creating the temporary file the stick is built in".to_string(),
        source,
    })?;
    let (partition_len, kind, description) = match fs {
        Filesystem::Fat => {
            let volume = fat::write_volume(&disk, folder, files, PARTITION_START_SECTOR)?;
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            let place = folder
                .map(|f| format!(" in folder `{f}`"))
                .unwrap_or_default();
            let description = format!(
                "{}, {} {}{place}: {}",
                volume.fat_name(),
                files.len(),
                if files.len() == 1 { "file" } else { "files" },
                names.join(" ")
            );
            (volume.len, volume.partition_type, description)
        }
        Filesystem::Ntfs => {
            let sectors = MIN_STICK_BYTES / SECTOR_BYTES - PARTITION_START_SECTOR;
            let volume = ntfs::build_volume(sectors, PARTITION_START_SECTOR, rand::random());
            write_sparse(&disk, PARTITION_START_SECTOR * SECTOR_BYTES, &volume).map_err(
                |source| MediaError::Fat {
                    action: "writing the NTFS volume".to_string(),
                    source,
                },
            )?;
            let description = "NTFS (boot sector only: a stick formatted NTFS)".to_string();
            (volume.len() as u64, ntfs::PARTITION_TYPE, description)
        }
        Filesystem::ExFat => {
            let sectors = MIN_STICK_BYTES / SECTOR_BYTES - PARTITION_START_SECTOR;
            let volume = exfat::build_volume(sectors, PARTITION_START_SECTOR, rand::random());
            write_sparse(&disk, PARTITION_START_SECTOR * SECTOR_BYTES, &volume).map_err(
                |source| MediaError::Fat {
                    action: "writing the exFAT volume".to_string(),
                    source,
                },
            )?;
            let description = "exFAT (boot regions only: a stick formatted exFAT)".to_string();
            (volume.len() as u64, exfat::PARTITION_TYPE, description)
        }
    };
    let len = write_partition_table(&disk, partition_len, kind)?;
    Ok(StickImage {
        disk: Arc::new(disk),
        len,
        description,
    })
}

/// Writes `bytes` at `offset` of `disk`, leaving its all-zero sectors as holes; the file
/// ends where `bytes` does.
fn write_sparse(disk: &File, offset: u64, bytes: &[u8]) -> io::Result<()> {
    disk.set_len(offset + bytes.len() as u64)?;
    for (i, sector) in bytes.chunks(SECTOR_BYTES as usize).enumerate() {
        if sector.iter().any(|b| *b != 0) {
            disk.write_all_at(sector, offset + i as u64 * SECTOR_BYTES)?;
        }
    }
    Ok(())
}

/// Refuse names that would not land, as named, in the root directory.
fn check_names(files: &[StickFile]) -> Result<(), MediaError> {
    for (i, file) in files.iter().enumerate() {
        let bad = |reason: &str| MediaError::BadFileName {
            name: file.name.clone(),
            reason: reason.to_string(),
        };
        if file.name.is_empty() || file.name == "." || file.name == ".." {
            return Err(bad("a file needs a name"));
        }
        if file.name.contains(['/', '\\']) {
            return Err(bad("files go in the root directory, without a folder"));
        }
        if file.name.len() > 255 || file.name.chars().any(|c| c.is_control()) {
            return Err(bad("FAT names are at most 255 printable characters"));
        }
        // FAT compares names without case: two such files would be one on the stick.
        if files[..i]
            .iter()
            .any(|other| other.name.eq_ignore_ascii_case(&file.name))
        {
            return Err(bad("another file has the same name (FAT ignores case)"));
        }
    }
    Ok(())
}

/// The MBR at the start of `disk`, whose one entry covers the `partition_len` bytes written
/// at sector 2048; the sectors between stay zero. Returns the disk's length.
fn write_partition_table(
    disk: &File,
    partition_len: u64,
    partition_type: u8,
) -> Result<u64, MediaError> {
    let start_bytes = PARTITION_START_SECTOR * SECTOR_BYTES;
    let total_bytes = start_bytes + partition_len;
    let sectors =
        u32::try_from(partition_len / SECTOR_BYTES).map_err(|_| MediaError::TooLarge {
            needed_bytes: total_bytes,
        })?;
    let table = mbr(
        PARTITION_START_SECTOR as u32,
        sectors,
        partition_type,
        rand::random(),
    );
    disk.write_all_at(&table, 0)
        .map_err(|source| MediaError::Fat {
            action: "writing the partition table".to_string(),
            source,
        })?;
    Ok(total_bytes)
}

/// A master boot record with one primary partition: no boot code (the phone does not boot
/// from it), a disk signature, and CHS fields marked "use LBA" as modern tools write for
/// disks past the CHS limit.
pub fn mbr(start_sector: u32, sectors: u32, partition_type: u8, disk_signature: u32) -> [u8; 512] {
    let mut sector = [0u8; 512];
    sector[440..444].copy_from_slice(&disk_signature.to_le_bytes());
    let entry = &mut sector[MBR_PARTITION_TABLE_OFFSET..MBR_PARTITION_TABLE_OFFSET + 16];
    // Not bootable: a data stick.
    entry[0] = 0x00;
    entry[1..4].copy_from_slice(&chs(start_sector));
    entry[4] = partition_type;
    entry[5..8].copy_from_slice(&chs(start_sector + sectors - 1));
    entry[8..12].copy_from_slice(&start_sector.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

/// The legacy cylinder/head/sector form of `lba` on the conventional 255-head,
/// 63-sector geometry, or the "beyond CHS" marker `FE FF FF` past its limit.
fn chs(lba: u32) -> [u8; 3] {
    const HEADS: u32 = 255;
    const SECTORS_PER_TRACK: u32 = 63;
    let cylinder = lba / (HEADS * SECTORS_PER_TRACK);
    if cylinder > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let head = (lba / SECTORS_PER_TRACK) % HEADS;
    let sector = lba % SECTORS_PER_TRACK + 1;
    [
        head as u8,
        (sector as u8) | (((cylinder >> 8) as u8) << 6),
        cylinder as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_of_sector_2048_is_the_classic_0_32_33() {
        // fdisk writes 20 21 00 for a partition at 2048: head 32, sector 33, cylinder 0.
        assert_eq!(chs(2048), [0x20, 0x21, 0x00]);
        assert_eq!(chs(0), [0x00, 0x01, 0x00]);
        assert_eq!(chs(1024 * 255 * 63), [0xFE, 0xFF, 0xFF]);
    }

    #[test]
    fn names_with_folders_or_twins_are_refused() {
        let file = |name: &str| StickFile {
            name: name.to_string(),
            contents: vec![1],
        };
        assert!(matches!(
            check_names(&[file("usb/T46G.rom")]),
            Err(MediaError::BadFileName { .. })
        ));
        assert!(matches!(
            check_names(&[file("T46G.rom"), file("t46g.ROM")]),
            Err(MediaError::BadFileName { .. })
        ));
        assert!(matches!(
            check_names(&[file("")]),
            Err(MediaError::BadFileName { .. })
        ));
        assert!(check_names(&[file("T46G.bin"), file("T46G.rom")]).is_ok());
    }
}
