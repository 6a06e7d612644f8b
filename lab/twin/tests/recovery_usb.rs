//! Recovery from a USB stick, seen on the wire: after key `2` in the recovery menu the
//! phone's next provisioning fetch tells whether it flashed the stick's package (new version,
//! factory settings: the DHCP URL) or kept everything (old version, provisioned URL).
//! Sticks are image files built here with fatfs, or an NTFS boot sector. BEHAVIOUR.md V5-V7.

mod recovery_common;

use recovery_common::*;
use yealink_twin::phone::Key;

async fn usb_recovery(stick: Option<Vec<u8>>) -> (Lab, Http) {
    let mut lab = Lab::new(true).await;
    lab.provision_then_power_off().await;
    if let Some(stick) = stick {
        lab.insert_stick(&stick);
    }
    let first = lab.tap_until_http(Key::Digit(2)).await;
    assert_eq!(first.from, lab.phone_ip);
    assert!(
        lab.tftp_requests().is_empty(),
        "USB recovery uses no network"
    );
    (lab, first)
}

#[tokio::test]
async fn a_fat16_partition_with_the_package_is_flashed_and_boots_with_factory_settings() {
    let (volume, fat_type) = fat_volume(16, &package(NEW, NEW_BUILD));
    assert_eq!(fat_type, fatfs::FatType::Fat16);
    let (_lab, first) = usb_recovery(Some(mbr_stick(0x06, &volume))).await;
    assert_recovered(&first);
}

#[tokio::test]
async fn a_bare_fat_volume_with_lower_case_names_is_read_too() {
    let files: Vec<(String, Vec<u8>)> = package(NEW, NEW_BUILD)
        .into_iter()
        .map(|(name, bytes)| (name.to_lowercase(), bytes))
        .collect();
    let (volume, _) = fat_volume(4, &files);
    let (_lab, first) = usb_recovery(Some(volume)).await;
    assert_recovered(&first);
}

#[tokio::test]
async fn an_ntfs_stick_is_not_read_and_the_old_firmware_boots() {
    let (_lab, first) = usb_recovery(Some(mbr_stick(0x07, &ntfs_volume()))).await;
    assert_untouched(&first);
}

#[tokio::test]
async fn a_bare_ntfs_volume_is_not_read_either() {
    let (_lab, first) = usb_recovery(Some(ntfs_volume())).await;
    assert_untouched(&first);
}

#[tokio::test]
async fn a_stick_missing_the_rfs_aborts() {
    let mut files = package(NEW, NEW_BUILD);
    files.retain(|(name, _)| name != "T46G.rfs");
    let (volume, _) = fat_volume(16, &files);
    let (_lab, first) = usb_recovery(Some(mbr_stick(0x06, &volume))).await;
    assert_untouched(&first);
}

#[tokio::test]
async fn a_rom_with_one_flipped_byte_aborts() {
    let mut files = package(NEW, NEW_BUILD);
    let rom = &mut files[2].1;
    let middle = rom.len() / 2;
    rom[middle] ^= 0x01;
    let (volume, _) = fat_volume(16, &files);
    let (_lab, first) = usb_recovery(Some(mbr_stick(0x06, &volume))).await;
    assert_untouched(&first);
}

#[tokio::test]
async fn files_of_two_versions_abort() {
    let mut files = package(NEW, NEW_BUILD);
    files[0] = package(OLD, OLD_BUILD).remove(0);
    let (volume, _) = fat_volume(16, &files);
    let (_lab, first) = usb_recovery(Some(mbr_stick(0x06, &volume))).await;
    assert_untouched(&first);
}

#[tokio::test]
async fn no_stick_aborts() {
    let (_lab, first) = usb_recovery(None).await;
    assert_untouched(&first);
}

/// The first sectors of an exFAT volume (the exFAT specification's boot sector): the name
/// `EXFAT   ` at byte 3 and zeros where a FAT BPB would be.
fn exfat_volume() -> Vec<u8> {
    let mut volume = vec![0u8; 1024 * 1024];
    volume[0..3].copy_from_slice(&[0xEB, 0x76, 0x90]);
    volume[3..11].copy_from_slice(b"EXFAT   ");
    volume[108] = 9;
    volume[109] = 3;
    volume[110] = 1;
    volume[510] = 0x55;
    volume[511] = 0xAA;
    volume
}

#[tokio::test]
async fn an_exfat_stick_is_not_read_and_the_old_firmware_boots() {
    let (_lab, first) = usb_recovery(Some(mbr_stick(0x07, &exfat_volume()))).await;
    assert_untouched(&first);
}

#[tokio::test]
async fn a_bare_exfat_volume_is_not_read_either() {
    let (_lab, first) = usb_recovery(Some(exfat_volume())).await;
    assert_untouched(&first);
}

#[tokio::test]
async fn the_package_left_in_its_yealink_folder_is_not_found() {
    use std::io::Write;

    let mut disk = std::io::Cursor::new(vec![0u8; 16 * 1024 * 1024]);
    fatfs::format_volume(&mut disk, fatfs::FormatVolumeOptions::new()).unwrap();
    disk.set_position(0);
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new()).unwrap();
        let folder = fs.root_dir().create_dir("Yealink T46G").unwrap();
        for (name, bytes) in package(NEW, NEW_BUILD) {
            folder
                .create_file(&name)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
        }
    }
    let (_lab, first) = usb_recovery(Some(mbr_stick(0x06, &disk.into_inner()))).await;
    assert_untouched(&first);
}
