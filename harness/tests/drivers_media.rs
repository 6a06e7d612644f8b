//! Recovery sticks as the phone will find them: built through the public API, then read
//! back byte by byte with an independent FAT reader, and delivered to an image file or
//! (refused on) fake disks described by a fake sysfs tree. No real disk is ever opened.

use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use fatfs::{FatType, FileSystem, FsOptions};
use harness::drivers::media::{
    BlockDevice, Filesystem, ImageFile, MediaError, StickFile, StickImage, UsbMedia, build_stick,
    build_stick_in, open_usb_media,
};
use harness::lab::UsbConfig;

const PARTITION_OFFSET: usize = 2048 * 512;
const MIB: u64 = 1024 * 1024;

/// Bytes that differ per file and per position, so a mix-up of files or clusters shows.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// The recovery package as it goes on a stick: kernel, root fs and firmware.
fn package() -> Vec<StickFile> {
    vec![
        StickFile {
            name: "T46G.bin".into(),
            contents: pattern(1, 4096),
        },
        StickFile {
            name: "T46G.rfs".into(),
            contents: pattern(2, 3 * 1024 * 1024 + 17),
        },
        StickFile {
            name: "T46G.rom".into(),
            contents: pattern(3, 3 * 1024 * 1024 - 5),
        },
    ]
}

/// The partition of a stick, as a disk of its own for the FAT reader.
fn partition(image: &StickImage) -> Cursor<Vec<u8>> {
    Cursor::new(image.to_vec().unwrap()[PARTITION_OFFSET..].to_vec())
}

fn partition_entry(image: &StickImage) -> (u8, u8, u32, u32) {
    let bytes = image.to_vec().unwrap();
    let e = &bytes[446..462];
    (
        e[0],
        e[4],
        u32::from_le_bytes(e[8..12].try_into().unwrap()),
        u32::from_le_bytes(e[12..16].try_into().unwrap()),
    )
}

#[test]
fn fat_stick_round_trips_the_recovery_package() {
    let files = package();
    let image = build_stick(Filesystem::Fat, &files).unwrap();

    let mut disk = partition(&image);
    let fs = FileSystem::new(&mut disk, FsOptions::new()).unwrap();
    let root = fs.root_dir();
    let mut found = Vec::new();
    for entry in root.iter() {
        let entry = entry.unwrap();
        assert!(entry.is_file(), "{} is not a file", entry.file_name());
        // The phone reads 8.3 names: each file must have its own, upper-case.
        found.push((entry.file_name(), entry.short_file_name()));
    }
    assert_eq!(
        found,
        vec![
            ("T46G.bin".to_string(), "T46G.BIN".to_string()),
            ("T46G.rfs".to_string(), "T46G.RFS".to_string()),
            ("T46G.rom".to_string(), "T46G.ROM".to_string()),
        ]
    );
    for file in &files {
        let mut read = Vec::new();
        root.open_file(&file.name)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read.len(), file.contents.len(), "{}", file.name);
        assert!(read == file.contents, "{} differs", file.name);
    }
    // Unmounted cleanly: no dirty flag for fsck or the phone to trip over.
    assert!(!fs.read_status_flags().unwrap().dirty());
}

#[test]
fn fat_stick_reports_the_fat_type_it_really_got() {
    let image = build_stick(Filesystem::Fat, &package()).unwrap();
    let mut disk = partition(&image);
    let fs = FileSystem::new(&mut disk, FsOptions::new()).unwrap();
    assert_eq!(fs.fat_type(), FatType::Fat16);
    assert_eq!(
        image.description,
        "FAT16, 3 files: T46G.bin T46G.rfs T46G.rom"
    );
    let (_, kind, _, _) = partition_entry(&image);
    assert_eq!(kind, 0x0E, "FAT16 LBA");
}

#[test]
fn mbr_has_one_partition_at_sector_2048_covering_the_volume() {
    let image = build_stick(Filesystem::Fat, &package()).unwrap();
    assert_eq!(image.len(), 16 * MIB, "small packages get 16 MiB");
    let bytes = image.to_vec().unwrap();
    assert_eq!(&bytes[510..512], &[0x55, 0xAA]);
    let (status, kind, start, sectors) = partition_entry(&image);
    assert_eq!(status, 0x00, "not bootable");
    assert_eq!(kind, 0x0E);
    assert_eq!(start, 2048);
    assert_eq!(u64::from(sectors) * 512, image.len() - 2048 * 512);
    // The other three entries are empty and the gap before the partition is blank.
    assert!(bytes[462..510].iter().all(|b| *b == 0));
    assert!(bytes[512..PARTITION_OFFSET].iter().all(|b| *b == 0));
    // The volume knows where it starts, as partitioning tools record it.
    assert_eq!(
        &bytes[PARTITION_OFFSET + 0x1C..PARTITION_OFFSET + 0x20],
        &2048u32.to_le_bytes()
    );
}

#[test]
fn ntfs_stick_carries_the_ntfs_detection_bytes_and_no_fat() {
    let image = build_stick(Filesystem::Ntfs, &package()).unwrap();
    assert_eq!(
        image.description,
        "NTFS (boot sector only: a stick formatted NTFS)"
    );
    let (_, kind, start, sectors) = partition_entry(&image);
    assert_eq!(kind, 0x07);
    assert_eq!(start, 2048);
    assert_eq!(image.len(), 16 * MIB);
    assert_eq!(u64::from(sectors) * 512, image.len() - 2048 * 512);
    let bytes = image.to_vec().unwrap();
    let volume = &bytes[PARTITION_OFFSET..];
    assert_eq!(&volume[0..3], &[0xEB, 0x52, 0x90]);
    assert_eq!(&volume[3..11], b"NTFS    ");
    assert_eq!(&volume[510..512], &[0x55, 0xAA]);
    let last = volume.len() - 512;
    assert_eq!(&volume[last..], &volume[..512], "backup boot sector");
    // A FAT reader refuses it, as the phone's loader does.
    assert!(FileSystem::new(partition(&image), FsOptions::new()).is_err());
}

#[test]
fn exfat_stick_carries_the_exfat_boot_regions_and_no_fat() {
    let image = build_stick(Filesystem::ExFat, &package()).unwrap();
    assert_eq!(
        image.description,
        "exFAT (boot regions only: a stick formatted exFAT)"
    );
    let (_, kind, start, sectors) = partition_entry(&image);
    assert_eq!(kind, 0x07);
    assert_eq!(start, 2048);
    let bytes = image.to_vec().unwrap();
    assert_eq!(u64::from(sectors) * 512, bytes.len() as u64 - 2048 * 512);
    let volume = &bytes[PARTITION_OFFSET..];
    assert_eq!(&volume[0..3], &[0xEB, 0x76, 0x90]);
    assert_eq!(&volume[3..11], b"EXFAT   ");
    assert!(volume[11..64].iter().all(|b| *b == 0), "no FAT geometry");
    assert_eq!(&volume[64..72], &2048u64.to_le_bytes(), "partition offset");
    assert_eq!(&volume[510..512], &[0x55, 0xAA]);
    assert_eq!(
        &volume[..12 * 512],
        &volume[12 * 512..24 * 512],
        "backup region"
    );
    // A FAT reader refuses it, as the phone's loader does.
    assert!(FileSystem::new(partition(&image), FsOptions::new()).is_err());
}

#[test]
fn a_stick_with_the_package_in_its_folder_has_nothing_in_the_root_but_the_folder() {
    let files = package();
    let image = build_stick_in(Filesystem::Fat, Some("Yealink T46G"), &files).unwrap();
    assert_eq!(
        image.description,
        "FAT16, 3 files in folder `Yealink T46G`: T46G.bin T46G.rfs T46G.rom"
    );
    let fs = FileSystem::new(partition(&image), FsOptions::new()).unwrap();
    let root: Vec<_> = fs.root_dir().iter().map(|e| e.unwrap()).collect();
    assert_eq!(root.len(), 1, "only the folder");
    assert!(root[0].is_dir());
    assert_eq!(root[0].file_name(), "Yealink T46G");
    let folder = fs.root_dir().open_dir("Yealink T46G").unwrap();
    for file in &files {
        let mut read = Vec::new();
        folder
            .open_file(&file.name)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert!(read == file.contents, "{}", file.name);
    }
}

#[test]
fn bad_file_names_are_refused_before_anything_is_built() {
    let files = [StickFile {
        name: "recovery/T46G.rom".into(),
        contents: vec![1, 2, 3],
    }];
    let err = build_stick(Filesystem::Fat, &files).unwrap_err();
    assert!(matches!(err, MediaError::BadFileName { .. }), "{err}");
}

fn small_stick(seed: u8) -> StickImage {
    let files = [StickFile {
        name: "T46G.rom".into(),
        contents: pattern(seed, 4096),
    }];
    build_stick(Filesystem::Fat, &files).unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn image_file_delivery_replaces_the_stick_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("usb");
    let path = folder.join("t46g.img");
    let mut media = open_usb_media(&UsbConfig::ImageFile { path: path.clone() });
    assert!(
        media.describe().contains("t46g.img"),
        "{}",
        media.describe()
    );

    let first = small_stick(1);
    media.deliver(&first).unwrap();
    assert!(fs::read(&path).unwrap() == first.to_vec().unwrap());
    let second = small_stick(2);
    media.deliver(&second).unwrap();
    assert!(fs::read(&path).unwrap() == second.to_vec().unwrap());
    assert_eq!(listing(&folder), vec!["t46g.img".to_string()]);

    media.eject().unwrap();
    assert!(!path.exists(), "ejected: no stick");
    media.eject().unwrap();
}

#[test]
fn image_file_delivery_that_fails_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where the image should be: the final rename must fail.
    let path = dir.path().join("t46g.img");
    fs::create_dir(&path).unwrap();
    let mut media = ImageFile::new(path.clone());
    let err = media.deliver(&small_stick(1)).unwrap_err();
    assert!(matches!(err, MediaError::ImageFile { .. }), "{err}");
    assert!(err.to_string().contains("usb.image"), "{err}");
    assert_eq!(listing(dir.path()), vec!["t46g.img".to_string()]);
}

/// A fake host: `/dev/sdz` (a regular file, never a real disk), a by-id link to it, and
/// `sys/class/block/sdz` with the given attributes.
struct FakeHost {
    _dir: tempfile::TempDir,
    sysfs: PathBuf,
    node: PathBuf,
    by_id: PathBuf,
}

const NODE_BYTES: usize = 17 * 1024 * 1024;

fn fake_host(removable: &str, size_sectors: u64, partition: bool) -> FakeHost {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("dev");
    fs::create_dir_all(dev.join("disk/by-id")).unwrap();
    let node = dev.join("sdz");
    fs::write(&node, vec![0xEEu8; NODE_BYTES]).unwrap();
    let by_id = dev.join("disk/by-id/usb-LinuxAutomation_USB-SD-Mux_00001-0:0");
    symlink("../../sdz", &by_id).unwrap();
    let sysfs = dir.path().join("sys");
    let block = sysfs.join("class/block/sdz");
    fs::create_dir_all(&block).unwrap();
    fs::write(block.join("removable"), format!("{removable}\n")).unwrap();
    fs::write(block.join("size"), format!("{size_sectors}\n")).unwrap();
    if partition {
        fs::write(block.join("partition"), "1\n").unwrap();
    }
    FakeHost {
        _dir: dir,
        sysfs,
        node,
        by_id,
    }
}

/// Deliver to the fake host's disk, configured as `size_mb`, and check nothing was written.
fn refused(host: &FakeHost, size_mb: u64) -> MediaError {
    let mut media = BlockDevice::with_sysfs_root(host.by_id.clone(), size_mb, host.sysfs.clone());
    let err = media.deliver(&small_stick(1)).unwrap_err();
    let node = fs::read(&host.node).unwrap();
    assert_eq!(node.len(), NODE_BYTES);
    assert!(node.iter().all(|b| *b == 0xEE), "the disk was written");
    err
}

#[test]
fn block_device_that_is_not_removable_is_refused() {
    let host = fake_host("0", 7580 * 2048, false);
    let err = refused(&host, 7580);
    match &err {
        MediaError::NotRemovable {
            resolved, value, ..
        } => {
            assert_eq!(resolved, &fs::canonicalize(&host.node).unwrap());
            assert_eq!(value, "0");
        }
        other => panic!("expected NotRemovable, got {other:?}"),
    }
    assert!(err.to_string().contains("not removable"), "{err}");
}

#[test]
fn block_device_of_another_size_is_refused() {
    // 7.0 GiB where the lab file says 7580 MiB: another card, or another disk.
    let host = fake_host("1", 7168 * 2048, false);
    let err = refused(&host, 7580);
    match &err {
        MediaError::WrongSize {
            actual_bytes,
            size_mb,
            ..
        } => {
            assert_eq!(*actual_bytes, 7168 * MIB);
            assert_eq!(*size_mb, 7580);
        }
        other => panic!("expected WrongSize, got {other:?}"),
    }
    assert!(err.to_string().contains("size_mb = 7580"), "{err}");
}

#[test]
fn block_device_path_that_is_not_a_block_device_is_refused() {
    // Removable and of the right size by sysfs, but the node is a regular file.
    let host = fake_host("1", 7580 * 2048 + 1000, false);
    let err = refused(&host, 7580);
    assert!(matches!(err, MediaError::NotBlockDevice { .. }), "{err:?}");
}

#[test]
fn block_device_partition_is_refused() {
    let host = fake_host("1", 7580 * 2048, true);
    let err = refused(&host, 7580);
    assert!(matches!(err, MediaError::Partition { .. }), "{err:?}");
}

#[test]
fn block_device_unknown_to_sysfs_or_missing_is_refused() {
    let host = fake_host("1", 7580 * 2048, false);
    fs::remove_dir_all(host.sysfs.join("class/block/sdz")).unwrap();
    let err = refused(&host, 7580);
    assert!(matches!(err, MediaError::NotInSysfs { .. }), "{err:?}");

    let gone = host.by_id.with_file_name("usb-nothing-here");
    let mut media = BlockDevice::with_sysfs_root(gone, 7580, host.sysfs.clone());
    let err = media.deliver(&small_stick(1)).unwrap_err();
    assert!(matches!(err, MediaError::DeviceMissing { .. }), "{err:?}");
}

#[test]
fn block_device_with_unreadable_size_is_refused() {
    let host = fake_host("1", 0, false);
    fs::write(host.sysfs.join("class/block/sdz/size"), "lots\n").unwrap();
    let err = refused(&host, 7580);
    assert!(matches!(err, MediaError::Sysfs { .. }), "{err:?}");
}

#[test]
fn block_device_cannot_eject_and_says_why() {
    let host = fake_host("1", 7580 * 2048, false);
    let mut media = BlockDevice::with_sysfs_root(host.by_id.clone(), 7580, host.sysfs.clone());
    let err = media.eject().unwrap_err();
    assert!(matches!(err, MediaError::Unsupported { .. }), "{err:?}");
    assert!(
        media.describe().contains("7580 MiB"),
        "{}",
        media.describe()
    );
}
