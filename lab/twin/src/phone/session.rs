//! The phone's network session once the firmware runs: the first address of a boot starts
//! provisioning and the firmware check (P1-P8, F1-F5), then REGISTER (R1-R5); a key code
//! starts the Auto-P call-home (A1-A5). Each step logs its milestone to syslog before the
//! next network action (Y2), so a collector sees causes before effects.
//!
//! These run as tasks of the boot state machine (`boot.rs`), which aborts them on a power
//! cut (B2) or a pulled cable (N3); they only touch flash, the screen and the wire.

use super::firmware::Firmware;
use super::flash::Flash;
use super::net::Net;
use super::provision;
use super::provisioning_source::UrlInForce;
use super::screen::{Screen, UPDATE_FAILED};
use super::shared::Shared;
use super::sip::{Outcome, Registration};
use super::syslog::Severity;
use super::timing::FLASH_S;

/// The Auto-P call-home's path under the provisioning URL (A2).
pub const AUTOP_PATH: &str = "autop/";

/// How the first network stage of a boot ended.
pub(super) enum StageEnd {
    /// Provisioning and the firmware check are done: the boot goes on to REGISTER (F5).
    Registering,
    /// A new firmware is in flash: the phone reboots without a power cut (F3, B4).
    Reboot,
}

/// After the first IP address of a boot: syslog, provisioning, firmware check (P1, F1).
pub(super) async fn boot_stage(shared: &Shared, net: &Net) -> StageEnd {
    let running = shared.flash().firmware.version;
    shared
        .log(
            net,
            Severity::Info,
            &format!("boot: firmware {running} started"),
        )
        .await;

    match shared.url_in_force() {
        UrlInForce::Http { source, base } => {
            // P9: the source first, so a collector knows which server the round asks.
            let message = format!("provisioning: URL from {}", source.words());
            shared.log(net, Severity::Info, &message).await;
            let round = provision::fetch_round(
                net,
                &base,
                shared.spec.model,
                &shared.spec.mac_hex(),
                &running,
            )
            .await;
            shared.update_flash(|flash| {
                for (_, file) in &round.applied {
                    flash.apply(file);
                }
            });
            // P8
            if round.reached_server {
                let message = format!("provisioning: done, {} files applied", round.applied.len());
                shared.log(net, Severity::Info, &message).await;
            } else {
                let message = "provisioning: server not reached";
                shared.log(net, Severity::Error, message).await;
            }
        }
        UrlInForce::Unsupported {
            source,
            protocol,
            url,
        } => {
            // P10: the twin speaks HTTP only; it says so instead of pretending.
            let message = format!(
                "provisioning: {protocol} URL from {} not supported, no round: {url}",
                source.words()
            );
            shared.log(net, Severity::Error, &message).await;
        }
        UrlInForce::None => {
            shared
                .log(net, Severity::Error, "provisioning: no provisioning URL")
                .await;
        }
    }

    if let Some(url) = shared.flash().firmware_url {
        match check_firmware(shared, net, &url, &running).await {
            FirmwareCheck::Same => {}
            FirmwareCheck::Failed(message) => shared.log(net, Severity::Error, &message).await,
            // F3: written, then a reboot.
            FirmwareCheck::Flash(firmware) => {
                let message = format!("firmware: flashing {}", firmware.version);
                shared.log(net, Severity::Info, &message).await;
                shared.set_screen(Screen::UpdatingFirmware);
                // S5: a power cut during the write leaves no whole image.
                shared.update_flash(Flash::begin_firmware_write);
                shared.clock.sleep(FLASH_S).await;
                shared.update_flash(|flash| flash.finish_firmware_write(firmware));
                return StageEnd::Reboot;
            }
        }
    }
    StageEnd::Registering
}

enum FirmwareCheck {
    Same,
    Failed(String),
    Flash(Firmware),
}

/// Downloads the whole image at the firmware URL (F1) and decides: same version, refused
/// (F4), or flash (F3).
async fn check_firmware(shared: &Shared, net: &Net, url: &str, running: &str) -> FirmwareCheck {
    let response = match net.get(url).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(bench = %shared.spec.bench, %error, "firmware download failed");
            return FirmwareCheck::Failed("firmware: download failed: server not reached".into());
        }
    };
    if response.status != 200 {
        return FirmwareCheck::Failed(format!(
            "firmware: download failed: HTTP {}",
            response.status
        ));
    }
    match Firmware::parse(&response.body, shared.spec.model) {
        Err(error) => FirmwareCheck::Failed(format!(
            "firmware: image rejected, keeping {running}: {error}"
        )),
        // The same version is skipped silently (F3, public fact).
        Ok(firmware) if firmware.version == running => FirmwareCheck::Same,
        Ok(firmware) => FirmwareCheck::Flash(firmware),
    }
}

/// Registers account 1 and keeps the registration fresh (R1-R3); any failure ends the
/// attempts until the next boot or link-up (R4), which keeps transcripts deterministic.
pub(super) async fn register(shared: &Shared, net: &Net) {
    let flash = shared.flash();
    let account = &flash.account;
    if !account.is_configured() {
        // R5
        shared.set_screen(Screen::NoService);
        shared
            .log(net, Severity::Info, "register: no account configured")
            .await;
        return;
    }
    shared.set_screen(Screen::Registering);
    let opened = Registration::open(
        net,
        &account.registrar_host,
        flash.registrar_port(),
        &account.user,
        &shared.sip_user_agent(),
        flash.expires_s(),
    )
    .await;
    let mut registration = match opened {
        Ok(registration) => registration,
        Err(error) => {
            shared.set_screen(Screen::NoService);
            tracing::warn!(bench = %shared.spec.bench, %error, "REGISTER not sent");
            let message = format!("register: {} not sent: {error}", account.user);
            shared.log(net, Severity::Error, &message).await;
            return;
        }
    };
    let mut registered = false;
    loop {
        let outcome = registration.register(net, shared.clock.sip_timers()).await;
        let message = match outcome {
            // R3: logged on the first success of a boot only.
            Ok(Outcome::Registered { expires_s }) => {
                shared.set_screen(Screen::Registered);
                if !registered {
                    registered = true;
                    let message =
                        format!("register: {} registered, expires {expires_s}", account.user);
                    shared.log(net, Severity::Info, &message).await;
                }
                tokio::time::sleep(shared.clock.refresh_after(expires_s)).await;
                continue;
            }
            Ok(Outcome::Refused { status, reason }) => {
                format!("register: {} refused: {status} {reason}", account.user)
            }
            Ok(Outcome::NoAnswer) => {
                format!("register: {}: no answer from registrar", account.user)
            }
            Err(error) => format!("register: {}: {error}", account.user),
        };
        shared.set_screen(Screen::NoService);
        shared.log(net, Severity::Error, &message).await;
        return;
    }
}

/// The Auto-P call-home (A2): the four provisioning requests under `<provisioning
/// URL>/autop/`, applied as they come. No reboot and no new REGISTER follow (A4).
pub(super) async fn call_home(shared: &Shared, net: &Net) {
    let base = match shared.url_in_force() {
        UrlInForce::Http { source, base } => {
            let message = format!("autop: URL from {}", source.words());
            shared.log(net, Severity::Info, &message).await;
            base
        }
        UrlInForce::Unsupported { protocol, .. } => {
            shared.set_notice(Some(UPDATE_FAILED));
            let message = format!("autop: call-home failed: {protocol} URL not supported");
            shared.log(net, Severity::Error, &message).await;
            return;
        }
        UrlInForce::None => {
            shared.set_notice(Some(UPDATE_FAILED));
            shared
                .log(
                    net,
                    Severity::Error,
                    "autop: call-home failed: no provisioning URL",
                )
                .await;
            return;
        }
    };
    let base = provision::join(&base, AUTOP_PATH);
    let running = shared.flash().firmware.version;
    let round = provision::fetch_round(
        net,
        &base,
        shared.spec.model,
        &shared.spec.mac_hex(),
        &running,
    )
    .await;
    shared.update_flash(|flash| {
        for (_, file) in &round.applied {
            flash.apply(file);
        }
    });
    // A5
    if round.reached_server {
        let message = format!(
            "autop: call-home done, {} files applied",
            round.applied.len()
        );
        shared.log(net, Severity::Info, &message).await;
    } else {
        shared.set_notice(Some(UPDATE_FAILED));
        shared
            .log(
                net,
                Severity::Error,
                "autop: call-home failed: server not reached",
            )
            .await;
    }
}
