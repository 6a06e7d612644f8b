//! A power cut while a recovery package is written (BEHAVIOUR.md S5, V8): no whole firmware
//! is left, every boot stops in the recovery menu, and a recovery brings the phone back.
//! Seen as a real rack sees it: no provisioning fetch until a recovery is run again.

mod recovery_common;

use std::time::Duration;

use recovery_common::*;
use yealink_twin::phone::Key;

/// Polls the phone's screen until it reads `text`.
async fn until_screen(lab: &Lab, text: &str) {
    tokio::time::timeout(WAIT, async {
        while lab.phone.screen() != text {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the screen never read {text:?}: {}", lab.phone.screen()));
}

#[tokio::test]
async fn a_cut_during_the_write_leaves_only_the_menu_until_a_recovery_rewrites_it() {
    let mut lab = Lab::new(true).await;
    lab.stage_tftp(&package(NEW, NEW_BUILD));
    lab.provision_then_power_off().await;
    lab.power_on_with_speaker_then_tap(Key::Digit(1), |lab| {
        reading_or_writing(&lab.phone.screen())
    })
    .await;
    until_screen(&lab, "Flashing").await;
    lab.phone.set_power(false);
    lab.phone.set_power(true);

    // No key held: still the menu, after the bootloader and far longer than a firmware
    // start (40 s) and DHCP would take, with nothing on the network.
    until_screen(&lab, MENU).await;
    tokio::time::sleep(Duration::from_secs_f64(200.0 * TIME_SCALE)).await;
    assert_eq!(lab.phone.screen(), MENU);
    // Cancel cannot start a firmware that is not there.
    lab.phone.set_key(Key::Cancel, true);
    lab.phone.set_key(Key::Cancel, false);
    tokio::time::sleep(Duration::from_secs_f64(200.0 * TIME_SCALE)).await;
    assert_eq!(lab.phone.screen(), MENU);
    lab.tftp_requests();

    // TFTP again: the whole package is written and the phone comes back factory-fresh.
    lab.phone.set_key(Key::Digit(1), true);
    lab.phone.set_key(Key::Digit(1), false);
    let first = lab.next_http().await;
    assert_recovered(&first);
    assert_eq!(lab.tftp_requests().len(), 3);
}

#[tokio::test]
async fn an_aborted_recovery_of_a_broken_phone_returns_to_the_menu() {
    let mut lab = Lab::new(true).await;
    lab.stage_tftp(&package(NEW, NEW_BUILD));
    lab.provision_then_power_off().await;
    lab.power_on_with_speaker_then_tap(Key::Digit(1), |lab| {
        reading_or_writing(&lab.phone.screen())
    })
    .await;
    until_screen(&lab, "Flashing").await;
    lab.phone.set_power(false);
    lab.phone.set_power(true);
    until_screen(&lab, MENU).await;

    // USB with no stick aborts (V6): back to the menu, not to a firmware.
    lab.phone.set_key(Key::Digit(2), true);
    lab.phone.set_key(Key::Digit(2), false);
    until_screen(&lab, "Update failed").await;
    until_screen(&lab, MENU).await;
}

const MENU: &str = "Recovery: 1 TFTP / 2 USB";

/// The TFTP entry has started: a file is read, or the package is written.
fn reading_or_writing(screen: &str) -> bool {
    screen.starts_with("TFTP") || screen == "Flashing"
}
