//! What the phone's tasks share: flash (S1), RAM (S2) and the watches other parts read.
//!
//! One lock guards flash and RAM together so that a key press sees the firmware and the
//! screen of the same instant (K3 offers the code only on `No Service`).

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::PhoneSpec;
use super::firmware::Firmware;
use super::flash::Flash;
use super::keypad::{Action, Keypad};
use super::model::Key;
use super::net::{Net, NetError};
use super::provisioning_source::{self, UrlInForce};
use super::screen::Screen;
use super::sip;
use super::syslog::{self, Severity};
use super::timing::Clock;

/// Builds dated before this have the Long Press factory reset (L1: removed by the August
/// 2018 Intermedia update; the twin decides by build date).
pub const LONG_PRESS_REMOVED_ON: &str = "2018-08-01";
/// The declaration feature that carries the `**7283` code (K3).
pub const AUTOP_FEATURE: &str = "autop-reset";

/// State the phone's tasks share.
pub(crate) struct Shared {
    pub(crate) spec: PhoneSpec,
    pub(super) clock: Clock,
    state: Mutex<State>,
    /// The web UI reads the admin password from here at each login.
    pub(super) admin_password: watch::Sender<String>,
    /// Whether the phone has an IP address; network actions wait on or fail by it.
    pub(super) online: watch::Sender<bool>,
    /// Option 66 of the current lease: the bench's static one, or the DHCP server's.
    option_66: Mutex<Option<String>>,
}

/// Flash and RAM under one lock.
struct State {
    flash: Flash,
    screen: Screen,
    keypad: Keypad,
    notice: Option<&'static str>,
}

impl Shared {
    pub(crate) fn new(spec: PhoneSpec, firmware: Firmware) -> Arc<Shared> {
        let flash = Flash::factory(firmware);
        let option_66 = if spec.dhcp_interface.is_some() {
            None
        } else {
            spec.dhcp_provisioning_url.clone()
        };
        Arc::new(Shared {
            clock: Clock::new(spec.time_scale),
            option_66: Mutex::new(option_66),
            spec,
            admin_password: watch::channel(flash.admin_password.clone()).0,
            online: watch::channel(false).0,
            state: Mutex::new(State {
                flash,
                screen: Screen::Off,
                keypad: Keypad::default(),
                notice: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another task while holding the lock leaves plain data behind; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn flash(&self) -> Flash {
        self.lock().flash.clone()
    }

    /// Changes flash and publishes the admin password if it changed.
    pub(super) fn update_flash(&self, change: impl FnOnce(&mut Flash)) {
        let password = {
            let mut state = self.lock();
            change(&mut state.flash);
            state.flash.admin_password.clone()
        };
        self.admin_password.send_if_modified(|current| {
            let changed = *current != password;
            if changed {
                *current = password;
            }
            changed
        });
    }

    /// Power is gone: RAM is lost, flash stays (S2, B2).
    pub(super) fn lose_ram(&self) {
        self.set_online(false);
        let mut state = self.lock();
        state.screen = Screen::Off;
        state.keypad = Keypad::default();
        state.notice = None;
    }

    pub(super) fn set_screen(&self, screen: Screen) {
        self.lock().screen = screen;
    }

    pub(super) fn set_notice(&self, notice: Option<&'static str>) {
        self.lock().notice = notice;
    }

    /// A key on the idle screen (K2-K4): any key clears a notice, and the `**7283` code is
    /// offered only by an Intermedia firmware with the feature while the screen shows
    /// `No Service` (K3).
    pub(super) fn press_idle_key(&self, key: Key) -> Action {
        let mut state = self.lock();
        let firmware = &state.flash.firmware;
        let offered = firmware.declaration.intermedia
            && firmware.has_feature(AUTOP_FEATURE)
            && state.screen == Screen::NoService;
        state.notice = None;
        state.keypad.press(key, offered)
    }

    pub(super) fn set_online(&self, online: bool) {
        self.online.send_replace(online);
    }

    pub(super) fn is_online(&self) -> bool {
        *self.online.borrow()
    }

    pub(crate) fn screen_text(&self) -> String {
        let state = self.lock();
        let mut text = state.screen.text().into_owned();
        for extra in [
            Some(state.keypad.dial_string()).filter(|d| !d.is_empty()),
            state.keypad.popup(),
            state.notice,
        ]
        .into_iter()
        .flatten()
        {
            text.push('\n');
            text.push_str(extra);
        }
        text
    }

    /// `Yealink SIP-<MODEL> <version> <mac with colons>` (P4, public fact).
    pub(super) fn user_agent(&self) -> String {
        format!(
            "Yealink SIP-{} {} {}",
            self.spec.model,
            self.lock().flash.firmware.version,
            self.spec.mac_colons()
        )
    }

    /// `Yealink SIP-<MODEL> <version>`, the REGISTER's User-Agent (R1, public fact: Yealink's
    /// own SIP traces carry no MAC, unlike the HTTP one).
    pub(super) fn sip_user_agent(&self) -> String {
        sip::user_agent(self.spec.model, &self.lock().flash.firmware.version)
    }

    /// The provisioning URL in force and its source (P1): option 66 of the lease, unless
    /// flash turned DHCP options off, else the URL in flash.
    pub(super) fn url_in_force(&self) -> UrlInForce {
        let option_66 = self.option_66();
        provisioning_source::url_in_force(option_66.as_deref(), &self.lock().flash)
    }

    fn option_66(&self) -> Option<String> {
        self.option_66
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A DHCP lease's option 66 (N6); a lease without it clears the old one.
    pub(super) fn set_option_66(&self, option_66: Option<String>) {
        *self
            .option_66
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = option_66;
    }

    /// The recovery bootloader's TFTP server (V2): the host option 66 names, port 69. On a
    /// bench without DHCP, the server the bench was given (the virtual lab's TFTP endpoint,
    /// on option 66's host but seldom on port 69).
    pub(super) fn recovery_tftp_server(&self) -> Option<std::net::SocketAddr> {
        if self.spec.dhcp_interface.is_none() {
            return self.spec.tftp_server;
        }
        let host = provisioning_source::option_66_host(self.option_66().as_deref()?)?;
        Some((host, provisioning_source::RECOVERY_TFTP_PORT).into())
    }

    /// A fresh network interface on the phone's own address (N2): every boot and every
    /// recovery gets its own, so no socket outlives the session that opened it.
    pub(super) fn new_net(&self) -> Result<Net, NetError> {
        Net::new(
            self.spec.ip,
            &self.user_agent(),
            self.clock.http_timeout(),
            self.online.subscribe(),
        )
    }

    /// Sends one syslog milestone line to the collector flash names now (Y1, Y2: the
    /// settings in force at each line).
    pub(super) async fn log(&self, net: &Net, severity: Severity, message: &str) {
        let flash = self.flash();
        syslog::log(
            net,
            &flash.syslog,
            flash.syslog_port(),
            self.spec.model.name(),
            severity,
            message,
        )
        .await;
    }
}
