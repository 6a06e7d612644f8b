//! The phone's boot state machine: one task per phone receives the bench's physical events
//! and the milestones of its own session tasks, and decides what runs next (B1-B4, N1-N4,
//! L1-L2, V2-V8).
//!
//! Work that must stop with the power lives in `boot_tasks`; work that must stop with the
//! link lives in `link_tasks`. Both sets are shut down (and awaited, so sockets are closed)
//! before the next event is handled, which keeps a fast power cycle from racing the old
//! session's sockets. Every milestone carries the boot it belongs to, so one from a session
//! that has ended is dropped instead of steering the new one.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use super::Physical;
use super::dhcp;
use super::flash::Flash;
use super::keypad::Action;
use super::model::Key;
use super::net::Net;
use super::recovery::Part;
use super::recovery::menu::{Entry, Menu, MenuAction};
use super::recovery::sequence::{self, Source};
use super::screen::{Screen, UPDATE_FAILED};
use super::serve::serve;
use super::session::{self, StageEnd};
use super::shared::{LONG_PRESS_REMOVED_ON, Shared};
use super::timing::{BOOTLOADER_S, FIRMWARE_START_S};
use super::web::WebUi;

/// A milestone of a session task, tagged with the boot it belongs to.
struct Tagged {
    boot: u64,
    milestone: Milestone,
}

enum Milestone {
    BootloaderDone,
    FirmwareStarted,
    /// DHCP gave an address to the link session `link`.
    DhcpDone {
        link: u64,
    },
    /// The boot's provisioning and firmware check ended.
    BootStageDone(StageEnd),
    /// The recovery is over (flashed and rebooted, or aborted): boot the firmware in flash.
    RecoveryEnded,
}

/// What the phone is doing; every state carries what only it needs.
enum Phase {
    /// No power.
    Off,
    /// The bootloader runs; it sampled the speaker key as it started (B1).
    Bootloader { speaker_held: bool },
    /// Fault hook (B3): the boot stopped after the bootloader.
    Hung,
    /// The recovery menu waits for a key (L2).
    RecoveryMenu(Menu),
    /// A recovery entry runs; `over_network` when it needs DHCP (V2).
    Recovering { over_network: bool },
    /// The firmware starts.
    Starting,
    /// The firmware runs.
    Running(Running),
}

/// The running firmware's session.
struct Running {
    /// `None` when the phone's address could not be used: it stays off the network.
    net: Option<Net>,
    /// Web sessions live in this router: they survive a pulled cable, not a reboot (N5, S2).
    router: Router,
    progress: BootStage,
    /// The call-home in flight, if any (A5: one at a time).
    autop: Option<AbortHandle>,
}

/// How far this boot's first network stage got: it runs once per boot, and REGISTER waits
/// for it (F5, N4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum BootStage {
    /// No address yet this boot.
    Waiting,
    /// Provisioning and the firmware check run.
    InProgress,
    /// Done: each new address goes straight to REGISTER.
    Done,
}

/// What the bench sets and the phone only samples: it outlasts every power session.
struct Inputs {
    /// The network cable is connected.
    link: bool,
    /// Fault hook: boots stop after the bootloader (B3).
    hang: bool,
    /// Keys the actuator holds down.
    held: HashSet<Key>,
}

struct Machine {
    shared: Arc<Shared>,
    milestones: mpsc::UnboundedSender<Tagged>,
    web: WebUi,
    inputs: Inputs,
    phase: Phase,
    /// Counts boots, so milestones of an ended boot are told from the current one's.
    boot_gen: u64,
    /// Counts cable changes, so a DHCP answer for a pulled cable is dropped.
    link_gen: u64,
    boot_tasks: JoinSet<()>,
    link_tasks: JoinSet<()>,
}

/// The phone's task: runs until `Shutdown` or until every `Phone` handle is gone.
pub(crate) async fn run(shared: Arc<Shared>, mut events: mpsc::UnboundedReceiver<Physical>) {
    let (milestones, mut milestones_rx) = mpsc::unbounded_channel();
    let web = WebUi::new(
        shared.spec.model.name(),
        shared.admin_password.subscribe(),
        shared.spec.time_scale,
    );
    let mut machine = Machine {
        shared,
        milestones,
        web,
        inputs: Inputs {
            link: true,
            hang: false,
            held: HashSet::new(),
        },
        phase: Phase::Off,
        boot_gen: 0,
        link_gen: 0,
        boot_tasks: JoinSet::new(),
        link_tasks: JoinSet::new(),
    };
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Physical::Shutdown) | None => break,
                Some(event) => machine.physical(event).await,
            },
            Some(tagged) = milestones_rx.recv() => machine.milestone(tagged).await,
            // Reap finished tasks so a long-running bench does not accumulate them.
            Some(_) = machine.boot_tasks.join_next() => {}
            Some(_) = machine.link_tasks.join_next() => {}
        }
    }
    machine.stop_session().await;
    tracing::debug!(bench = %machine.shared.spec.bench, "phone shut down");
}

impl Machine {
    fn powered(&self) -> bool {
        !matches!(self.phase, Phase::Off)
    }

    async fn physical(&mut self, event: Physical) {
        match event {
            Physical::Power(true) if !self.powered() => self.start_boot(),
            // B2
            Physical::Power(false) if self.powered() => self.stop_session().await,
            Physical::Link(connected) if connected != self.inputs.link => {
                self.inputs.link = connected;
                self.link_gen += 1;
                if connected {
                    // N4, V2: the link comes back where something waits for an address.
                    if matches!(
                        self.phase,
                        Phase::Running(_) | Phase::Recovering { over_network: true }
                    ) {
                        self.spawn_dhcp();
                    }
                } else {
                    self.drop_link().await;
                }
            }
            // K1: a key acts when pressed.
            Physical::Key(key, true) => {
                self.inputs.held.insert(key);
                if self.powered() {
                    self.key_pressed(key);
                }
            }
            Physical::Key(key, false) => {
                self.inputs.held.remove(&key);
            }
            Physical::Hang(hang) => self.inputs.hang = hang,
            _ => {}
        }
    }

    async fn milestone(&mut self, tagged: Tagged) {
        if tagged.boot != self.boot_gen || !self.powered() {
            return; // from a session that has ended
        }
        match tagged.milestone {
            Milestone::BootloaderDone => self.bootloader_done(),
            Milestone::FirmwareStarted => self.firmware_started(),
            Milestone::DhcpDone { link } => {
                if link != self.link_gen || !self.inputs.link {
                    return;
                }
                match self.phase {
                    // V2: the bootloader has an address but no web UI and no provisioning.
                    Phase::Recovering { .. } => self.shared.set_online(true),
                    Phase::Running(_) => self.network_up(),
                    _ => {}
                }
            }
            Milestone::BootStageDone(StageEnd::Registering) => {
                if let Phase::Running(running) = &mut self.phase {
                    running.progress = BootStage::Done;
                }
                if self.shared.is_online() {
                    self.spawn_register();
                }
            }
            Milestone::BootStageDone(StageEnd::Reboot) => {
                // B4: the new firmware is in flash; reboot without the power being cut.
                self.stop_session().await;
                self.start_boot();
            }
            Milestone::RecoveryEnded => {
                // V6, V7: the recovery's own reboots are done (or it gave up): the firmware
                // in flash starts, as after any bootloader.
                self.stop_session().await;
                self.new_boot();
                self.start_firmware_or_menu();
            }
        }
    }

    /// Ends the power session (B2): every task and socket goes at once; RAM is lost.
    async fn stop_session(&mut self) {
        self.boot_tasks.shutdown().await;
        self.link_tasks.shutdown().await;
        self.phase = Phase::Off;
        self.shared.lose_ram();
    }

    /// A new boot of this power session: its tasks' milestones are told from the old ones'.
    fn new_boot(&mut self) {
        self.boot_gen += 1;
    }

    /// B1: the bootloader samples the speaker key as it starts.
    fn start_boot(&mut self) {
        self.new_boot();
        self.phase = Phase::Bootloader {
            speaker_held: self.inputs.held.contains(&Key::Speaker),
        };
        self.shared.set_screen(Screen::Booting);
        self.after(BOOTLOADER_S, Milestone::BootloaderDone);
    }

    fn bootloader_done(&mut self) {
        let Phase::Bootloader { speaker_held } = self.phase else {
            return;
        };
        if self.inputs.hang {
            // B3: the boot stops here, nothing reaches the network.
            self.phase = Phase::Hung;
            return;
        }
        if !self.shared.flash().firmware_intact {
            // S5: a half-written firmware cannot start; the bootloader shows the recovery
            // menu whether or not the speaker key is held.
            tracing::warn!(bench = %self.shared.spec.bench, "no whole firmware in flash: recovery menu");
            self.show_recovery_menu();
            return;
        }
        if speaker_held {
            let build_date = self.shared.flash().firmware.declaration.build_date;
            if build_date.as_str() < LONG_PRESS_REMOVED_ON {
                // L1
                tracing::info!(bench = %self.shared.spec.bench, "Long Press: factory reset");
                self.shared.update_flash(Flash::factory_reset);
            } else {
                // L2: the bootloader shows the recovery menu and waits.
                self.show_recovery_menu();
                return;
            }
        }
        self.start_firmware();
    }

    fn show_recovery_menu(&mut self) {
        self.phase = Phase::RecoveryMenu(Menu::default());
        self.shared.set_screen(Screen::RecoveryMenu);
    }

    /// Starts the firmware in flash; with none whole (S5) the recovery menu stays instead.
    fn start_firmware_or_menu(&mut self) {
        if self.shared.flash().firmware_intact {
            self.start_firmware();
        } else {
            self.show_recovery_menu();
        }
    }

    fn start_firmware(&mut self) {
        self.phase = Phase::Starting;
        self.shared.set_screen(Screen::Initializing);
        self.after(FIRMWARE_START_S, Milestone::FirmwareStarted);
    }

    /// N1: `No Service` until DHCP gives an address; with no cable it waits.
    fn firmware_started(&mut self) {
        self.shared.set_screen(Screen::NoService);
        let net = match self.shared.new_net() {
            Ok(net) => Some(net),
            Err(error) => {
                tracing::error!(bench = %self.shared.spec.bench, %error, "phone stays off the network");
                None
            }
        };
        let online = net.is_some();
        self.phase = Phase::Running(Running {
            net,
            router: self.web.router(),
            progress: BootStage::Waiting,
            autop: None,
        });
        if online && self.inputs.link {
            self.spawn_dhcp();
        }
    }

    /// An address: the web UI listens (N5); the first address of a boot starts
    /// provisioning (P1), later ones REGISTER again once that is done (N4).
    fn network_up(&mut self) {
        let Phase::Running(running) = &mut self.phase else {
            return;
        };
        let Some(net) = running.net.clone() else {
            return;
        };
        let progress = running.progress;
        if progress == BootStage::Waiting {
            running.progress = BootStage::InProgress;
        }
        self.shared.set_online(true);
        self.spawn_web();
        match progress {
            BootStage::Waiting => {
                let shared = Arc::clone(&self.shared);
                let done = self.reporter();
                self.boot_tasks.spawn(async move {
                    let end = session::boot_stage(&shared, &net).await;
                    done(Milestone::BootStageDone(end));
                });
            }
            BootStage::Done => self.spawn_register(),
            BootStage::InProgress => {}
        }
    }

    /// N3: the address is gone at once, and with it every link task (web listener,
    /// registration, call-home).
    async fn drop_link(&mut self) {
        self.link_tasks.shutdown().await;
        self.shared.set_online(false);
        if let Phase::Running(running) = &mut self.phase {
            running.autop = None;
            self.shared.set_screen(Screen::NoService);
        }
    }

    fn key_pressed(&mut self, key: Key) {
        match &mut self.phase {
            // L2
            Phase::RecoveryMenu(menu) => match menu.press(key) {
                MenuAction::Stay => {}
                MenuAction::Leave => self.start_firmware_or_menu(),
                MenuAction::Enter(entry) => self.start_recovery(entry),
            },
            // K2-K4
            Phase::Running(_) => {
                let action = self.shared.press_idle_key(key);
                if action == Action::StartAutoP {
                    self.start_autop();
                }
            }
            // K1: nothing while booting, hung or starting.
            _ => {}
        }
    }

    /// Runs a recovery entry (V2, V4); either way the phone then boots the firmware in flash.
    fn start_recovery(&mut self, entry: Entry) {
        let source = match entry {
            Entry::Tftp => {
                self.phase = Phase::Recovering { over_network: true };
                self.shared.set_screen(Screen::RecoveryTftp {
                    model: self.shared.spec.model,
                    part: Part::Kernel,
                });
                match self.shared.new_net() {
                    Ok(net) => {
                        if self.inputs.link {
                            self.spawn_dhcp();
                        }
                        Source::Tftp(net)
                    }
                    Err(error) => Source::Broken(error.to_string()),
                }
            }
            Entry::Usb => {
                self.phase = Phase::Recovering {
                    over_network: false,
                };
                self.shared.set_screen(Screen::RecoveryUsb);
                Source::Usb
            }
        };
        let shared = Arc::clone(&self.shared);
        let done = self.reporter();
        self.boot_tasks.spawn(async move {
            sequence::recover(&shared, source).await;
            done(Milestone::RecoveryEnded);
        });
    }

    /// A1, A5: no address fails at once; one call-home at a time.
    fn start_autop(&mut self) {
        let Phase::Running(running) = &mut self.phase else {
            return;
        };
        if running
            .autop
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let Some(net) = running.net.clone().filter(|_| self.shared.is_online()) else {
            // No IP address: the fetch fails before anything is sent.
            self.shared.set_notice(Some(UPDATE_FAILED));
            return;
        };
        let shared = Arc::clone(&self.shared);
        running.autop = Some(
            self.link_tasks
                .spawn(async move { session::call_home(&shared, &net).await }),
        );
    }

    /// N1, N6: the static address after the DHCP delay, or a real DHCP exchange.
    fn spawn_dhcp(&mut self) {
        let link = self.link_gen;
        let shared = Arc::clone(&self.shared);
        let done = self.reporter();
        self.link_tasks.spawn(async move {
            if dhcp::bring_up(&shared).await {
                done(Milestone::DhcpDone { link });
            }
        });
    }

    fn spawn_web(&mut self) {
        let Phase::Running(running) = &self.phase else {
            return;
        };
        let router = running.router.clone();
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
        let Phase::Running(Running { net: Some(net), .. }) = &self.phase else {
            return;
        };
        let net = net.clone();
        let shared = Arc::clone(&self.shared);
        self.link_tasks
            .spawn(async move { session::register(&shared, &net).await });
    }

    /// Reports `milestone` to this boot after `seconds` of phone time.
    fn after(&mut self, seconds: f64, milestone: Milestone) {
        let clock = self.shared.clock;
        let done = self.reporter();
        self.boot_tasks.spawn(async move {
            clock.sleep(seconds).await;
            done(milestone);
        });
    }

    /// A way for a task of the current boot to report back.
    fn reporter(&self) -> impl Fn(Milestone) + Send + 'static {
        let milestones = self.milestones.clone();
        let boot = self.boot_gen;
        move |milestone| {
            // The phone's task is gone only at teardown; nothing to report to then.
            let _ = milestones.send(Tagged { boot, milestone });
        }
    }
}
