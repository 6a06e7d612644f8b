//! The checked lab inventory: what `lab::load` produces from a lab file once every field and
//! every cross-reference has been validated. Nothing here can be malformed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;

// A bench's model is a row of the table of models; re-exported for the lab checker.
pub use super::models::Model;

use crate::drivers::power::RelayBoardKind;
use crate::dyn_eq::DynEq;

/// A whole lab: its benches and the hardware they are wired to.
#[derive(Debug, Clone, PartialEq)]
pub struct Lab {
    /// The file it was read from (for messages and for resolving relative paths).
    pub source: PathBuf,
    /// The lab's own name, which reports and the history group runs by.
    pub name: String,
    /// Multiplies every harness timeout (1.0 on a real rack).
    pub time_scale: f64,
    /// Where the endpoints the phones call listen.
    pub endpoints: EndpointsConfig,
    /// The relay boards that switch power and network links.
    pub relay_boards: Vec<RelayBoard>,
    /// The devices that press the phones' keys.
    pub actuators: Vec<Actuator>,
    /// The benches, one phone each.
    pub benches: Vec<Bench>,
    /// The raw `[twin]` table, untouched: only the virtual bench reads it.
    pub twin: Option<toml::Table>,
    /// Where bench leases and crash journals live (`[lab] lock_dir`, resolved against the
    /// lab file's folder); `None`: `--lock-dir` or the host default.
    pub lock_dir: Option<PathBuf>,
    /// What a run does after a lab fault (`[lab_faults]`): retries and the health check.
    pub faults: FaultPolicy,
}

/// How a run treats a lab fault, so that a broken relay or a hung phone costs one case a
/// second attempt instead of a night's results, and never reads as a firmware failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPolicy {
    /// How many more times a case runs after a lab fault, each time only once the bench
    /// passed its health check.
    pub retries: u32,
    /// How long the health check waits, after each power cycle, for the phone to fetch its
    /// config from the lab's provisioning server (real seconds, scaled by `time_scale` like
    /// every other wait of the harness).
    pub health_check_timeout_s: u64,
}

impl FaultPolicy {
    /// One retry: a nightly survives a single glitch (a USB hub reset, a slow boot) without
    /// hiding a bench that keeps failing.
    pub const DEFAULT_RETRIES: u32 = 1;
    /// Five minutes: a T4x boots and provisions in about two, a firmware flash excepted.
    pub const DEFAULT_HEALTH_CHECK_TIMEOUT_S: u64 = 300;
}

impl Default for FaultPolicy {
    fn default() -> Self {
        FaultPolicy {
            retries: FaultPolicy::DEFAULT_RETRIES,
            health_check_timeout_s: FaultPolicy::DEFAULT_HEALTH_CHECK_TIMEOUT_S,
        }
    }
}

/// Bind addresses of the servers the phones call. Port 0 picks a free port.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointsConfig {
    /// The lab's provisioning server, the one the phones are configured to call.
    pub provisioning: SocketAddr,
    /// A provisioning server of someone else, for phones re-provisioned away from the lab.
    pub foreign_provisioning: SocketAddr,
    /// The TFTP recovery server.
    pub tftp: SocketAddr,
    /// The SIP registrar.
    pub sip: SocketAddr,
    /// The syslog receiver.
    pub syslog: SocketAddr,
}

/// One relay board: power and network-link relays (and relay-driven keys) hang off it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayBoard {
    /// The board's name, which benches refer to it by.
    pub name: String,
    /// The board's make, which decides how it is spoken to.
    pub kind: RelayKind,
    /// Stable device path of the board's serial port, e.g. a /dev/serial/by-id link; `None`
    /// for the kinds that are not serial devices (USB-HID relays, YKUSH, pdudaemon).
    pub port: Option<PathBuf>,
    /// How many relays it has.
    pub channels: u16,
}

impl RelayBoard {
    /// The board's kind in the registry of relay-board kinds.
    pub fn board_kind(&self) -> &'static dyn RelayBoardKind {
        self.kind.board_kind()
    }

    /// The lowest channel number, as printed on the board (its kind decides).
    pub fn first_channel(&self) -> u16 {
        self.board_kind().first_channel()
    }

    /// Every channel number of the board, as printed on it.
    pub fn channel_numbers(&self) -> RangeInclusive<u16> {
        self.board_kind().channel_numbers(self.channels)
    }

    /// Where the board is found, for messages and `lab check`: its serial port, its USB
    /// ids and serial number, or its pdudaemon URL.
    pub fn address(&self) -> String {
        if let Some(port) = &self.port {
            return port.display().to_string();
        }
        self.board_kind()
            .address(&self.kind)
            .unwrap_or_else(|| "(no port)".to_string())
    }
}

/// A relay board's kind with the settings its own lab-file keys gave. The settings are a
/// type of the kind's file under `drivers/power/` (an LCUS frame, a pdudaemon URL), so a new
/// kind adds no variant here; only that kind reads them back, through [`RelayKind::settings`].
#[derive(Clone)]
pub struct RelayKind {
    kind: &'static dyn RelayBoardKind,
    settings: Arc<dyn BoardSettings>,
}

/// What a kind keeps from its own lab-file keys.
pub trait BoardSettings: DynEq + fmt::Debug + Send + Sync {}

impl<T: DynEq + fmt::Debug + Send + Sync> BoardSettings for T {}

impl RelayKind {
    /// A board of `kind` with `settings`.
    pub fn new(kind: &'static dyn RelayBoardKind, settings: impl BoardSettings) -> RelayKind {
        RelayKind {
            kind,
            settings: Arc::new(settings),
        }
    }

    /// The registered kind these settings belong to.
    pub fn board_kind(&self) -> &'static dyn RelayBoardKind {
        self.kind
    }

    /// Its `kind = "..."` in the lab file.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The settings, when they are of type `S` (the kind's own type; `None` for another).
    pub fn settings<S: 'static>(&self) -> Option<&S> {
        self.settings.as_any().downcast_ref::<S>()
    }
}

impl fmt::Debug for RelayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?})", self.name(), self.settings)
    }
}

impl PartialEq for RelayKind {
    fn eq(&self, other: &RelayKind) -> bool {
        self.name() == other.name() && self.settings.same_as(other.settings.as_any())
    }
}

/// The device that presses a bench's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Actuator {
    /// Its name, which benches refer to it by.
    pub name: String,
    /// Stable device path of a serial actuator's port; `None` for relay-driven keys.
    pub port: Option<PathBuf>,
    /// Actuator channels, from 1 (for relay-driven keys: how many relays are mapped).
    pub channels: u16,
    /// What presses the keys.
    pub kind: ActuatorKind,
}

impl Actuator {
    /// Where the actuator is found, for messages and `lab check`.
    pub fn address(&self) -> String {
        match (&self.port, &self.kind) {
            (Some(port), _) => port.display().to_string(),
            (None, ActuatorKind::Relay { board, .. }) => {
                format!("relay board `{}` ({})", board.name, board.address())
            }
            (None, ActuatorKind::Serial) => "(no port)".to_string(),
        }
    }
}

/// What presses a bench's keys.
#[derive(Debug, Clone, PartialEq)]
pub enum ActuatorKind {
    /// The button actuator of lab/actuator/PROTOCOL.md on a serial port.
    Serial,
    /// Relays soldered across the keys' contacts.
    Relay {
        /// The board whose relays press the keys; it powers and switches nothing else.
        board: RelayBoard,
        /// `relays[n - 1]` is the relay (board numbering) pressed by actuator channel `n`.
        relays: Vec<u16>,
    },
}

/// One phone and everything wired to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bench {
    /// The bench's name, used on the command line, in leases and in reports.
    pub name: String,
    /// The phone's model, which decides the scenarios and the firmware it gets.
    pub model: Model,
    /// The phone's MAC: the endpoints tell benches apart by it.
    pub mac: Mac,
    /// The phone's address on the lab network.
    pub ip: Ipv4Addr,
    /// The port of the phone's web UI.
    pub web_port: u16,
    /// The relay that powers the phone.
    pub power: RelayChannel,
    /// A relay in the phone's network cable: closed = connected.
    pub network: Option<RelayChannel>,
    /// Name of the actuator (an entry of `Lab::actuators`).
    pub actuator: String,
    /// Key name (`speaker`, `ok`, `f4`, `1`, `star`, ...) to actuator channel.
    pub keys: BTreeMap<Key, u16>,
    /// The power state the bench is left in on any exit.
    pub safe_power: PowerState,
    /// Whether destructive scenarios need `--approval` on this bench.
    pub approval: Approval,
    /// The destructive scenarios the lab file records as approved on this bench (only on
    /// a bench with `approval = "required"`); others still need `--approval`.
    pub approved: Option<StandingApproval>,
    /// The USB stick in the phone's port, when the lab can write one.
    pub usb: Option<UsbConfig>,
}

/// One relay of one board.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayChannel {
    /// Name of the board (an entry of `Lab::relay_boards`).
    pub board: String,
    /// As printed on the board (LCUS from 1, Numato from 0).
    pub channel: u16,
}

/// A bench's power, as its relay leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    /// Powered.
    On,
    /// Unpowered.
    Off,
}

/// Whether a bench may be reset or reflashed without a named approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Any scenario may run.
    None,
    /// Destructive scenarios need `--approval` (a phone someone depends on).
    Required,
}

/// An approval recorded in the lab file for some destructive scenarios on one bench: the
/// KB asks for Tier 2's approval before a device is reset, and a lab that holds one for a
/// named set of scenarios writes it down where every run reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingApproval {
    /// Who approved, or the ticket that records it: shown with every case it covers.
    pub by: String,
    /// Glob patterns over scenario names (checked when the lab file is read).
    pub scenarios: Vec<String>,
}

impl StandingApproval {
    /// Whether the approval covers the scenario named `scenario`.
    pub fn covers(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|pattern| {
            globset::Glob::new(pattern)
                .map(|glob| glob.compile_matcher().is_match(scenario))
                .unwrap_or(false)
        })
    }
}

/// A phone's MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// `00:15:65:4a:a9:37` or `0015654aa937`, either case.
    pub fn parse(text: &str) -> Option<Mac> {
        let hex: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
        if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 6];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(Mac(bytes))
    }

    /// `0015654aa937`: the form of MAC config file names.
    pub fn plain(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `00:15:65:4a:a9:37`: the form of the User-Agent.
    pub fn colons(&self) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// A physical key of a T4x phone, named as in the lab file's keymap.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub String);

impl Key {
    /// Every key name a keymap may use.
    pub const NAMES: [&'static str; 25] = [
        "speaker", "ok", "cancel", "f1", "f2", "f3", "f4", "up", "down", "left", "right", "1", "2",
        "3", "4", "5", "6", "7", "8", "9", "0", "star", "pound", "mute", "headset",
    ];

    /// The key that dials `c` (`0`-`9`, `*`, `#`).
    pub fn for_digit(c: char) -> Option<Key> {
        match c {
            '0'..='9' => Some(Key(c.to_string())),
            '*' => Some(Key("star".into())),
            '#' => Some(Key("pound".into())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The USB stick in the phone's port: where the harness puts the recovery stick it builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbConfig {
    /// The virtual bench's stick: an image file the twin reads; no file means no stick.
    ImageFile {
        /// The image file the twin phone reads as its stick.
        path: PathBuf,
    },
    /// A USB-SD-mux's host side on a rack: the whole disk, written raw.
    BlockDevice {
        /// The disk, best a stable `/dev/disk/by-id/usb-...` link.
        path: PathBuf,
        /// The disk's size in MiB (as `lsblk -b` bytes / 1048576), checked before every
        /// write so a wrong path can never overwrite another disk.
        size_mb: u64,
    },
}
