//! Recovery over TFTP and leaving the recovery menu, seen on the wire: the phone's read
//! requests at the test's TFTP server, then its provisioning fetch (path and User-Agent) at
//! the test's HTTP server. BEHAVIOUR.md V1-V4, V6, V7.

mod recovery_common;

use recovery_common::*;
use yealink_twin::phone::Key;

fn options(rrq: &Rrq) -> Vec<(&str, &str)> {
    rrq.options
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn tftp_entry_reads_the_three_files_in_order_then_boots_them_with_factory_settings() {
    let mut lab = Lab::new(true).await;
    lab.stage_tftp(&package(NEW, NEW_BUILD));
    lab.provision_then_power_off().await;

    let mut requests = Vec::new();
    lab.power_on_with_speaker_then_tap(Key::Digit(1), |lab| {
        requests.extend(lab.tftp_requests());
        !requests.is_empty()
    })
    .await;
    let first = lab.next_http().await;
    requests.extend(lab.tftp_requests());

    let files: Vec<&str> = requests.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(files, ["T46G.bin", "T46G.rfs", "T46G.rom"]);
    for rrq in &requests {
        assert_eq!(rrq.from, lab.phone_ip);
        assert_eq!(rrq.mode, "octet");
        assert_eq!(
            options(rrq),
            [("blksize", "1428"), ("tsize", "0"), ("timeout", "1")]
        );
    }
    assert_eq!(first.from, lab.phone_ip);
    assert_recovered(&first);
}

#[tokio::test]
async fn a_server_without_options_is_read_with_plain_data_blocks() {
    let mut lab = Lab::new(false).await;
    lab.stage_tftp(&package(NEW, NEW_BUILD));
    lab.provision_then_power_off().await;

    let mut requests = Vec::new();
    lab.power_on_with_speaker_then_tap(Key::Digit(1), |lab| {
        requests.extend(lab.tftp_requests());
        !requests.is_empty()
    })
    .await;
    let first = lab.next_http().await;
    requests.extend(lab.tftp_requests());
    assert_eq!(requests.len(), 3);
    assert_recovered(&first);
}

#[tokio::test]
async fn a_tftp_error_for_the_rfs_aborts_and_the_old_firmware_boots() {
    let mut lab = Lab::new(true).await;
    let mut files = package(NEW, NEW_BUILD);
    files.retain(|(name, _)| name != "T46G.rfs");
    lab.stage_tftp(&files);
    lab.tftp_files.lock().unwrap().insert(
        "T46G.rfs".into(),
        TftpAnswer::Error(2, "Access violation".into()),
    );
    lab.provision_then_power_off().await;

    let mut requests = Vec::new();
    lab.power_on_with_speaker_then_tap(Key::Digit(1), |lab| {
        requests.extend(lab.tftp_requests());
        !requests.is_empty()
    })
    .await;
    let first = lab.next_http().await;
    requests.extend(lab.tftp_requests());

    let files: Vec<&str> = requests.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(files, ["T46G.bin", "T46G.rfs"], "no .rom after the error");
    assert_untouched(&first);
}

#[tokio::test]
async fn navigating_to_tftp_and_pressing_ok_enters_it_too() {
    let mut lab = Lab::new(true).await;
    // An empty server: every read is refused, so the recovery aborts after one request.
    lab.provision_then_power_off().await;

    // Down twice comes back to TFTP; OK enters it. The keys go in once, after far more than
    // the scaled bootloader time (6 ms): keys before the menu would be ignored.
    lab.phone.set_key(Key::Speaker, true);
    lab.phone.set_power(true);
    lab.phone.set_key(Key::Speaker, false);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for key in [Key::Down, Key::Down, Key::Ok] {
        lab.phone.set_key(key, true);
        lab.phone.set_key(key, false);
    }
    let first = lab.next_http().await;
    let requests = lab.tftp_requests();
    let files: Vec<&str> = requests.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(files, ["T46G.bin"]);
    assert_untouched(&first);
}

#[tokio::test]
async fn cancel_leaves_the_menu_and_boots_normally_with_settings_kept() {
    let mut lab = Lab::new(true).await;
    lab.stage_tftp(&package(NEW, NEW_BUILD));
    lab.provision_then_power_off().await;

    let first = lab.tap_until_http(Key::Cancel).await;
    assert!(lab.tftp_requests().is_empty(), "no recovery read");
    assert_untouched(&first);
}
