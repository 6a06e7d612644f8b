//! The phone's own task: it receives the bench's physical events, keeps flash and RAM
//! state, and runs each power session's work (boot sequence, DHCP, provisioning, firmware
//! check, registration, web UI, Auto-P) in tasks that power-off or a pulled cable abort.
//!
//! Work that must stop with the power lives in `boot_tasks`; work that must stop with the
//! link lives in `link_tasks`. Both sets are shut down (and awaited, so sockets are closed)
//! before the next event is handled, which keeps a fast power cycle from racing the old
//! session's sockets.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::firmware::Firmware;
use super::flash::Flash;
use super::keypad::{Action, Keypad};
use super::model::{Key, Model};
use super::net::Net;
use super::provision;
use super::recovery::menu::{Entry, Menu, MenuAction};
use super::recovery::{self, Part, RecoveryError};
use super::serve::serve;
use super::sip::{Outcome, Registration};
use super::syslog::{self, Severity};
use super::timing::{
    BOOTLOADER_S, Clock, DHCP_S, FIRMWARE_START_S, FLASH_S, RECOVERY_FLASH_S, RECOVERY_REBOOT_S,
    RECOVERY_REBOOTS, UPDATE_FAILED_S,
};
use super::web::WebUi;
use super::{PhoneSpec, Physical};

/// Builds dated before this have the Long Press factory reset (KB: removed by the August
/// 2018 Intermedia update; the twin decides by build date).
pub const LONG_PRESS_REMOVED_ON: &str = "2018-08-01";
/// The declaration feature that carries the `**7283` code.
pub const AUTOP_FEATURE: &str = "autop-reset";
/// The Auto-P call-home's path under the provisioning URL.
pub const AUTOP_PATH: &str = "autop/";
/// What the screen says when a configuration update could not reach its server.
pub const UPDATE_FAILED: &str = "Configuration update failed";

/// The status line of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// No power.
    Off,
    /// The bootloader runs.
    Booting,
    /// The firmware starts.
    Initializing,
    /// Idle, not registered (no account, refused, no answer, no network).
    NoService,
    /// A REGISTER transaction is in progress.
    Registering,
    /// Idle, registered.
    Registered,
    /// A downloaded firmware is being written.
    UpdatingFirmware,
    /// The bootloader's recovery menu (speaker held at power-on, firmware after August 2018).
    RecoveryMenu,
    /// The recovery reads one package file from the TFTP server.
    RecoveryTftp {
        /// The phone's model: the file is named after it.
        model: Model,
        /// The file being read.
        part: Part,
    },
    /// The recovery reads the package from the USB stick.
    RecoveryUsb,
    /// A checked recovery package is being written.
    Flashing,
    /// One of the reboots after a recovery flash (1 to 3).
    Rebooting(u8),
    /// The recovery was aborted; the phone will boot the firmware it has.
    UpdateFailed,
}

impl Screen {
    /// The text on the screen.
    pub fn text(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Screen::Off => "",
            Screen::Booting => "Booting",
            Screen::Initializing => "Initializing",
            Screen::NoService => "No Service",
            Screen::Registering => "Registering",
            Screen::Registered => "Registered",
            Screen::UpdatingFirmware => "Updating firmware",
            Screen::RecoveryMenu => "Recovery: 1 TFTP / 2 USB",
            Screen::RecoveryTftp { model, part } => {
                return Cow::Owned(format!("TFTP: {}", part.file_name(model)));
            }
            Screen::RecoveryUsb => "USB: reading",
            Screen::Flashing => "Flashing",
            Screen::Rebooting(n) => {
                return Cow::Owned(format!("Rebooting ({n}/{RECOVERY_REBOOTS})"));
            }
            Screen::UpdateFailed => "Update failed",
        })
    }
}

/// State the phone's tasks share: flash, RAM, and the watches other parts read.
pub(crate) struct Shared {
    pub(crate) spec: PhoneSpec,
    clock: Clock,
    state: Mutex<State>,
    /// The web UI reads the admin password from here at each login.
    admin_password: watch::Sender<String>,
    /// Whether the phone has an IP address; network actions wait on or fail by it.
    online: watch::Sender<bool>,
}

struct State {
    flash: Flash,
    screen: Screen,
    keypad: Keypad,
    notice: Option<&'static str>,
}

impl Shared {
    pub(crate) fn new(spec: PhoneSpec, firmware: Firmware) -> Arc<Shared> {
        let flash = Flash::factory(firmware);
        Arc::new(Shared {
            clock: Clock::new(spec.time_scale),
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

    fn flash(&self) -> Flash {
        self.lock().flash.clone()
    }

    /// Changes flash and publishes the admin password if it changed.
    fn update_flash(&self, change: impl FnOnce(&mut Flash)) {
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

    fn set_screen(&self, screen: Screen) {
        self.lock().screen = screen;
    }

    fn set_notice(&self, notice: Option<&'static str>) {
        self.lock().notice = notice;
    }

    fn set_online(&self, online: bool) {
        self.online.send_replace(online);
    }

    fn is_online(&self) -> bool {
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

    /// `Yealink SIP-<MODEL> <version> <mac with colons>` (public fact).
    fn user_agent(&self) -> String {
        format!(
            "Yealink SIP-{} {} {}",
            self.spec.model,
            self.lock().flash.firmware.version,
            self.spec.mac_colons()
        )
    }

    /// The provisioning URL in force: the provisioned one, else DHCP option 66.
    fn provisioning_url(&self) -> Option<String> {
        self.lock()
            .flash
            .provisioning_url
            .clone()
            .or_else(|| self.spec.dhcp_provisioning_url.clone())
    }

    /// Sends one syslog milestone line to the collector flash names now.
    async fn log(&self, net: &Net, severity: Severity, message: &str) {
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

/// A message from a session task to the phone's task, tagged with the boot it belongs to.
struct Tagged {
    boot: u64,
    msg: Internal,
}

enum Internal {
    BootloaderDone,
    FirmwareStarted,
    DhcpDone {
        link: u64,
    },
    NetworkStageDone,
    Flashed,
    /// The recovery is over (flashed and rebooted, or aborted): boot the firmware in flash.
    RecoveryEnded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Off,
    Bootloader,
    Hung,
    RecoveryMenu,
    /// A recovery entry runs; `tftp` when it needs the network.
    Recovering {
        tftp: bool,
    },
    Starting,
    Running,
}

struct Actor {
    shared: Arc<Shared>,
    internal: mpsc::UnboundedSender<Tagged>,
    web: WebUi,
    powered: bool,
    link: bool,
    hang: bool,
    held: HashSet<Key>,
    boot_gen: u64,
    link_gen: u64,
    stage: Stage,
    speaker_at_boot: bool,
    network_started: bool,
    boot_done: bool,
    net: Option<Net>,
    router: Option<Router>,
    boot_tasks: JoinSet<()>,
    link_tasks: JoinSet<()>,
    autop: Option<AbortHandle>,
    menu: Menu,
}

/// The phone's task: runs until `Shutdown` or until every `Phone` handle is gone.
pub(crate) async fn run(shared: Arc<Shared>, mut events: mpsc::UnboundedReceiver<Physical>) {
    let (internal, mut internal_rx) = mpsc::unbounded_channel();
    let web = WebUi::new(
        shared.spec.model.name(),
        shared.admin_password.subscribe(),
        shared.spec.time_scale,
    );
    let mut actor = Actor {
        shared,
        internal,
        web,
        powered: false,
        link: true,
        hang: false,
        held: HashSet::new(),
        boot_gen: 0,
        link_gen: 0,
        stage: Stage::Off,
        speaker_at_boot: false,
        network_started: false,
        boot_done: false,
        net: None,
        router: None,
        boot_tasks: JoinSet::new(),
        link_tasks: JoinSet::new(),
        autop: None,
        menu: Menu::default(),
    };
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Physical::Shutdown) | None => break,
                Some(event) => actor.physical(event).await,
            },
            Some(tagged) = internal_rx.recv() => actor.internal(tagged).await,
            // Reap finished tasks so a long-running bench does not accumulate them.
            Some(_) = actor.boot_tasks.join_next() => {}
            Some(_) = actor.link_tasks.join_next() => {}
        }
    }
    actor.stop_session().await;
    tracing::debug!(bench = %actor.shared.spec.bench, "phone shut down");
}

impl Actor {
    async fn physical(&mut self, event: Physical) {
        match event {
            Physical::Power(true) if !self.powered => {
                self.powered = true;
                self.start_boot();
            }
            Physical::Power(false) if self.powered => {
                self.stop_session().await;
                self.powered = false;
            }
            Physical::Link(connected) if connected != self.link => {
                self.link = connected;
                self.link_gen += 1;
                if connected {
                    if matches!(
                        self.stage,
                        Stage::Running | Stage::Recovering { tftp: true }
                    ) {
                        self.spawn_dhcp();
                    }
                } else {
                    self.drop_link().await;
                }
            }
            Physical::Key(key, true) => {
                self.held.insert(key);
                if self.powered {
                    self.key_pressed(key);
                }
            }
            Physical::Key(key, false) => {
                self.held.remove(&key);
            }
            Physical::Hang(hang) => self.hang = hang,
            _ => {}
        }
    }

    async fn internal(&mut self, tagged: Tagged) {
        if tagged.boot != self.boot_gen || !self.powered {
            return; // from a session that has ended
        }
        match tagged.msg {
            Internal::BootloaderDone => self.bootloader_done(),
            Internal::FirmwareStarted => self.firmware_started(),
            Internal::DhcpDone { link } => {
                if link != self.link_gen || !self.link {
                    return;
                }
                if matches!(self.stage, Stage::Recovering { .. }) {
                    // The bootloader has an address but no web UI and no provisioning.
                    self.shared.set_online(true);
                } else {
                    self.network_up();
                }
            }
            Internal::NetworkStageDone => {
                self.boot_done = true;
                if self.shared.is_online() {
                    self.spawn_register();
                }
            }
            Internal::Flashed => {
                // The new firmware is in flash: reboot without the power being cut.
                self.stop_session().await;
                self.start_boot();
            }
            Internal::RecoveryEnded => {
                // The recovery's own reboots are done (or it gave up): the firmware in flash
                // starts, as after any bootloader.
                self.stop_session().await;
                self.new_boot();
                self.start_firmware();
            }
        }
    }

    /// Ends the power session: every task and socket goes at once; RAM is lost.
    async fn stop_session(&mut self) {
        self.boot_tasks.shutdown().await;
        self.link_tasks.shutdown().await;
        self.autop = None;
        self.shared.set_online(false);
        self.net = None;
        self.router = None;
        self.stage = Stage::Off;
        let mut state = self.shared.lock();
        state.screen = Screen::Off;
        state.keypad = Keypad::default();
        state.notice = None;
    }

    /// A new boot of this power session: its tasks' messages are told from the old ones'.
    fn new_boot(&mut self) {
        self.boot_gen += 1;
        self.network_started = false;
        self.boot_done = false;
    }

    fn start_boot(&mut self) {
        self.new_boot();
        // The bootloader samples the speaker key as it starts.
        self.speaker_at_boot = self.held.contains(&Key::Speaker);
        self.stage = Stage::Bootloader;
        self.shared.set_screen(Screen::Booting);
        self.after(BOOTLOADER_S, Internal::BootloaderDone);
    }

    fn bootloader_done(&mut self) {
        if self.hang {
            // Fault hook: the boot stops here, nothing reaches the network.
            self.stage = Stage::Hung;
            return;
        }
        if self.speaker_at_boot {
            let build_date = self.shared.flash().firmware.declaration.build_date;
            if build_date.as_str() < LONG_PRESS_REMOVED_ON {
                tracing::info!(bench = %self.shared.spec.bench, "Long Press: factory reset");
                self.shared.update_flash(Flash::factory_reset);
            } else {
                // Speaker key held: the bootloader shows the recovery menu and waits.
                self.stage = Stage::RecoveryMenu;
                self.menu = Menu::default();
                self.shared.set_screen(Screen::RecoveryMenu);
                return;
            }
        }
        self.start_firmware();
    }

    fn start_firmware(&mut self) {
        self.stage = Stage::Starting;
        self.shared.set_screen(Screen::Initializing);
        self.after(FIRMWARE_START_S, Internal::FirmwareStarted);
    }

    fn firmware_started(&mut self) {
        self.stage = Stage::Running;
        self.shared.set_screen(Screen::NoService);
        // Web sessions live in this router: they survive a pulled cable, not a reboot.
        self.router = Some(self.web.router());
        match Net::new(
            self.shared.spec.ip,
            &self.shared.user_agent(),
            self.shared.clock.http_timeout(),
            self.shared.online.subscribe(),
        ) {
            Ok(net) => self.net = Some(net),
            Err(error) => {
                tracing::error!(bench = %self.shared.spec.bench, %error, "phone stays off the network");
                return;
            }
        }
        if self.link {
            self.spawn_dhcp();
        }
    }

    fn network_up(&mut self) {
        let Some(net) = self.net.clone() else { return };
        self.shared.set_online(true);
        self.spawn_web();
        if !self.network_started {
            self.network_started = true;
            let shared = Arc::clone(&self.shared);
            let done = self.sender();
            self.boot_tasks.spawn(async move {
                let msg = network_stage(&shared, &net).await;
                done(msg);
            });
        } else if self.boot_done {
            self.spawn_register();
        }
    }

    async fn drop_link(&mut self) {
        self.link_tasks.shutdown().await;
        self.autop = None;
        self.shared.set_online(false);
        if self.stage == Stage::Running {
            self.shared.set_screen(Screen::NoService);
        }
    }

    fn key_pressed(&mut self, key: Key) {
        match self.stage {
            Stage::RecoveryMenu => match self.menu.press(key) {
                MenuAction::Stay => {}
                MenuAction::Leave => self.start_firmware(),
                MenuAction::Enter(entry) => self.start_recovery(entry),
            },
            Stage::Running => {
                let action = {
                    let mut state = self.shared.lock();
                    let firmware = &state.flash.firmware;
                    let offered = firmware.declaration.intermedia
                        && firmware.has_feature(AUTOP_FEATURE)
                        && state.screen == Screen::NoService;
                    state.notice = None;
                    state.keypad.press(key, offered)
                };
                if action == Action::StartAutoP {
                    self.start_autop();
                }
            }
            _ => {}
        }
    }

    /// Runs a recovery entry: read the package, check it, flash it and reboot, or show
    /// `Update failed`; either way the phone then boots the firmware in flash.
    fn start_recovery(&mut self, entry: Entry) {
        let source = match entry {
            Entry::Tftp => {
                self.stage = Stage::Recovering { tftp: true };
                self.shared.set_screen(Screen::RecoveryTftp {
                    model: self.shared.spec.model,
                    part: Part::Kernel,
                });
                match Net::new(
                    self.shared.spec.ip,
                    &self.shared.user_agent(),
                    self.shared.clock.http_timeout(),
                    self.shared.online.subscribe(),
                ) {
                    Ok(net) => {
                        self.net = Some(net.clone());
                        if self.link {
                            self.spawn_dhcp();
                        }
                        Source::Tftp(net)
                    }
                    Err(error) => Source::Broken(error.to_string()),
                }
            }
            Entry::Usb => {
                self.stage = Stage::Recovering { tftp: false };
                self.shared.set_screen(Screen::RecoveryUsb);
                Source::Usb
            }
        };
        let shared = Arc::clone(&self.shared);
        let done = self.sender();
        self.boot_tasks.spawn(async move {
            recover(&shared, source).await;
            done(Internal::RecoveryEnded);
        });
    }

    fn start_autop(&mut self) {
        if self.autop.as_ref().is_some_and(|task| !task.is_finished()) {
            return; // one call-home at a time
        }
        let Some(net) = self.net.clone().filter(|_| self.shared.is_online()) else {
            // No IP address: the fetch fails before anything is sent.
            self.shared.set_notice(Some(UPDATE_FAILED));
            return;
        };
        let shared = Arc::clone(&self.shared);
        self.autop = Some(
            self.link_tasks
                .spawn(async move { call_home(&shared, &net).await }),
        );
    }

    fn spawn_dhcp(&mut self) {
        let link = self.link_gen;
        let clock = self.shared.clock;
        let done = self.sender();
        self.link_tasks.spawn(async move {
            clock.sleep(DHCP_S).await;
            done(Internal::DhcpDone { link });
        });
    }

    fn spawn_web(&mut self) {
        let Some(router) = self.router.clone() else {
            return;
        };
        let addr = std::net::SocketAddr::from((self.shared.spec.ip, self.shared.spec.web_port));
        let bench = self.shared.spec.bench.clone();
        self.link_tasks.spawn(async move {
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    if let Err(error) = serve(listener, router).await {
                        tracing::warn!(%bench, %addr, %error, "web UI stopped");
                    }
                }
                Err(error) => {
                    tracing::warn!(%bench, %addr, %error, "web UI cannot listen (is the port taken?)");
                }
            }
        });
    }

    fn spawn_register(&mut self) {
        let Some(net) = self.net.clone() else { return };
        let shared = Arc::clone(&self.shared);
        self.link_tasks
            .spawn(async move { register(&shared, &net).await });
    }

    /// Sends `msg` to this boot after `seconds` of phone time.
    fn after(&mut self, seconds: f64, msg: Internal) {
        let clock = self.shared.clock;
        let done = self.sender();
        self.boot_tasks.spawn(async move {
            clock.sleep(seconds).await;
            done(msg);
        });
    }

    /// A way for a task of the current boot to report back.
    fn sender(&self) -> impl Fn(Internal) + Send + 'static {
        let internal = self.internal.clone();
        let boot = self.boot_gen;
        move |msg| {
            // The phone's task is gone only at teardown; nothing to report to then.
            let _ = internal.send(Tagged { boot, msg });
        }
    }
}

/// After the first IP address of a boot: syslog, provisioning, firmware check. Returns what
/// to tell the phone's task: the boot goes on to REGISTER, or a new firmware needs a reboot.
async fn network_stage(shared: &Shared, net: &Net) -> Internal {
    let running = shared.flash().firmware.version;
    shared
        .log(
            net,
            Severity::Info,
            &format!("boot: firmware {running} started"),
        )
        .await;

    match shared.provisioning_url() {
        Some(base) => {
            let round =
                provision::fetch_round(net, &base, shared.spec.model, &shared.spec.mac_hex()).await;
            shared.update_flash(|flash| {
                for (_, file) in &round.applied {
                    flash.apply(file);
                }
            });
            if round.reached_server {
                let message = format!("provisioning: done, {} files applied", round.applied.len());
                shared.log(net, Severity::Info, &message).await;
            } else {
                let message = "provisioning: server not reached";
                shared.log(net, Severity::Error, message).await;
            }
        }
        None => {
            shared
                .log(net, Severity::Error, "provisioning: no provisioning URL")
                .await;
        }
    }

    if let Some(url) = shared.flash().firmware_url {
        match check_firmware(shared, net, &url, &running).await {
            FirmwareCheck::Same => {}
            FirmwareCheck::Failed(message) => shared.log(net, Severity::Error, &message).await,
            FirmwareCheck::Flash(firmware) => {
                let message = format!("firmware: flashing {}", firmware.version);
                shared.log(net, Severity::Info, &message).await;
                shared.set_screen(Screen::UpdatingFirmware);
                shared.clock.sleep(FLASH_S).await;
                shared.update_flash(|flash| flash.firmware = firmware);
                return Internal::Flashed;
            }
        }
    }
    Internal::NetworkStageDone
}

enum FirmwareCheck {
    Same,
    Failed(String),
    Flash(Firmware),
}

/// Downloads the image at the firmware URL and decides: same version, refused, or flash.
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
        // The same version is skipped silently (public fact).
        Ok(firmware) if firmware.version == running => FirmwareCheck::Same,
        Ok(firmware) => FirmwareCheck::Flash(firmware),
    }
}

/// Registers account 1 and keeps the registration fresh; any failure ends the attempts
/// until the next boot or link-up.
async fn register(shared: &Shared, net: &Net) {
    let flash = shared.flash();
    let account = &flash.account;
    if !account.is_configured() {
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
        &shared.user_agent(),
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

/// The Auto-P call-home: the four provisioning requests under `<provisioning URL>/autop/`,
/// applied as they come. No reboot and no new REGISTER follow.
async fn call_home(shared: &Shared, net: &Net) {
    let Some(base) = shared.provisioning_url() else {
        shared.set_notice(Some(UPDATE_FAILED));
        shared
            .log(
                net,
                Severity::Error,
                "autop: call-home failed: no provisioning URL",
            )
            .await;
        return;
    };
    let base = provision::join(&base, AUTOP_PATH);
    let round = provision::fetch_round(net, &base, shared.spec.model, &shared.spec.mac_hex()).await;
    shared.update_flash(|flash| {
        for (_, file) in &round.applied {
            flash.apply(file);
        }
    });
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

/// Where a recovery reads its package from.
enum Source {
    Tftp(Net),
    Usb,
    /// The phone's network interface could not be set up (its address is taken).
    Broken(String),
}

/// The recovery after the menu: read, check, flash and reboot; or `Update failed` with the
/// flash untouched.
async fn recover(shared: &Shared, source: Source) {
    let bench = &shared.spec.bench;
    let outcome = match source {
        Source::Tftp(net) => read_from_tftp(shared, &net).await,
        Source::Usb => read_from_usb(shared).await,
        Source::Broken(reason) => Err(RecoveryError::Network { reason }),
    }
    .and_then(|package| {
        recovery::verify::verify(&package, shared.spec.model).map_err(RecoveryError::from)
    });
    match outcome {
        Ok(firmware) => {
            tracing::info!(%bench, version = %firmware.version, "Rom check ok: flashing the recovery package");
            shared.set_screen(Screen::Flashing);
            shared.clock.sleep(RECOVERY_FLASH_S).await;
            // The recovered phone runs the package's firmware with factory settings.
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

/// Entry 1: once DHCP has given an address, the three files in order from the TFTP server;
/// the first failure ends the read.
async fn read_from_tftp(shared: &Shared, net: &Net) -> Result<recovery::Package, RecoveryError> {
    let server = shared.spec.tftp_server.ok_or(RecoveryError::NoTftpServer)?;
    // No cable: the bootloader waits for a link and an address, as the firmware does.
    let mut online = shared.online.subscribe();
    if online.wait_for(|online| *online).await.is_err() {
        return Err(RecoveryError::Network {
            reason: "the phone's network state is gone".into(),
        });
    }
    let mut files = Vec::new();
    for part in Part::ALL {
        let model = shared.spec.model;
        shared.set_screen(Screen::RecoveryTftp { model, part });
        let name = part.file_name(model);
        let bytes =
            recovery::tftp_client::read_file(net, server, &name, shared.clock.tftp_wait()).await?;
        files.push((part, name, bytes));
    }
    Ok(recovery::Package { files })
}

/// Entry 2: the three files from the stick in the USB slot.
async fn read_from_usb(shared: &Shared) -> Result<recovery::Package, RecoveryError> {
    let image = shared.spec.usb_image.clone();
    let model = shared.spec.model;
    // Reading a stick is blocking file I/O; keep it off the runtime's workers.
    let read =
        tokio::task::spawn_blocking(move || recovery::usb::read_package(image.as_deref(), model))
            .await
            .map_err(|error| RecoveryError::StickReader {
                reason: error.to_string(),
            })?;
    Ok(read?)
}
