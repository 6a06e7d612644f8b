//! The recovery after the menu (V2-V8): read the package, check it, flash it and reboot, or
//! show `Update failed` with the flash untouched. Either way the phone then boots the
//! firmware in flash; the boot state machine (`boot.rs`) starts that boot when this ends,
//! and a power cut aborts this task at any point (V8): before the write nothing changed,
//! during it the firmware is left half-written (S5), after it the new firmware is whole.

use super::super::flash::Flash;
use super::super::net::Net;
use super::super::screen::Screen;
use super::super::shared::Shared;
use super::super::timing::{
    RECOVERY_FLASH_S, RECOVERY_REBOOT_S, RECOVERY_REBOOTS, UPDATE_FAILED_S,
};
use super::{Package, Part, RecoveryError, tftp_client, usb, verify};

/// Where a recovery reads its package from.
pub(crate) enum Source {
    /// Entry 1 (V2): the TFTP server, through this boot's interface.
    Tftp(Net),
    /// Entry 2 (V4): the stick in the USB slot.
    Usb,
    /// The phone's network interface could not be set up (its address is taken).
    Broken(String),
}

/// Runs the recovery to its end: flashed and rebooted (V7), or aborted (V6).
pub(crate) async fn recover(shared: &Shared, source: Source) {
    let bench = &shared.spec.bench;
    let outcome = match source {
        Source::Tftp(net) => read_from_tftp(shared, &net).await,
        Source::Usb => read_from_usb(shared).await,
        Source::Broken(reason) => Err(RecoveryError::Network { reason }),
    }
    .and_then(|package| verify::verify(&package, shared.spec.model).map_err(RecoveryError::from));
    match outcome {
        Ok(firmware) => {
            tracing::info!(%bench, version = %firmware.version, "Rom check ok: flashing the recovery package");
            shared.set_screen(Screen::Flashing);
            // V8, S5: from here a power cut leaves a half-written firmware.
            shared.update_flash(Flash::begin_firmware_write);
            shared.clock.sleep(RECOVERY_FLASH_S).await;
            // V7: the recovered phone runs the package's firmware with factory settings.
            shared.update_flash(|flash| *flash = Flash::factory(firmware));
            for n in 1..=RECOVERY_REBOOTS {
                shared.set_screen(Screen::Rebooting(n));
                shared.clock.sleep(RECOVERY_REBOOT_S).await;
            }
        }
        Err(error) => {
            tracing::warn!(%bench, %error, "recovery aborted, flash untouched");
            shared.set_screen(Screen::UpdateFailed);
            shared.clock.sleep(UPDATE_FAILED_S).await;
        }
    }
}

/// Entry 1 (V2): once DHCP has given an address, the three files in order from the TFTP
/// server; the first failure ends the read.
async fn read_from_tftp(shared: &Shared, net: &Net) -> Result<Package, RecoveryError> {
    // No cable: the bootloader waits for a link and an address, as the firmware does.
    let mut online = shared.online.subscribe();
    if online.wait_for(|online| *online).await.is_err() {
        return Err(RecoveryError::Network {
            reason: "the phone's network state is gone".into(),
        });
    }
    // The server is the host option 66 names, known once DHCP has answered.
    let server = shared
        .recovery_tftp_server()
        .ok_or(RecoveryError::NoTftpServer)?;
    let mut files = Vec::new();
    for part in Part::ALL {
        let model = shared.spec.model;
        shared.set_screen(Screen::RecoveryTftp { model, part });
        let name = part.file_name(model);
        let bytes = tftp_client::read_file(net, server, &name, shared.clock.tftp_wait()).await?;
        files.push((part, name, bytes));
    }
    Ok(Package { files })
}

/// Entry 2 (V4): the three files from the stick in the USB slot.
async fn read_from_usb(shared: &Shared) -> Result<Package, RecoveryError> {
    let image = shared.spec.usb_image.clone();
    let model = shared.spec.model;
    // Reading a stick is blocking file I/O; keep it off the runtime's workers.
    let read = tokio::task::spawn_blocking(move || usb::read_package(image.as_deref(), model))
        .await
        .map_err(|error| RecoveryError::StickReader {
            reason: error.to_string(),
        })?;
    Ok(read?)
}
