//! The virtual bench's reader of the lab file.
//!
//! The twin reads the same lab file as the harness, with its own types: the two share no code,
//! so a lab file that one of them misreads shows up as a wiring mismatch on the wire instead
//! of being hidden by a common parser. The format is the harness's (README, "The lab file"):
//! [`LabFile`] accepts and refuses what the harness's reader does (the test
//! `harness/tests/lab_readers_agree.rs` holds the two to that), one module per table under
//! `lab/`. [`TwinLab`] is what the virtual bench builds from it (`lab/buildable.rs` and the
//! `[twin]` table); parts a real rack adds (USB relays, PDUs, a block device for the stick)
//! are read, checked and set aside.

mod actuator;
mod bench;
mod buildable;
mod checker;
mod count;
mod endpoints;
mod keymap;
mod lab_table;
mod relay_board;
mod twin;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use self::checker::Checker;

/// The eight supported models, spelled as the lab file and the firmware folders spell them.
pub const MODELS: [&str; 8] = [
    "T40P", "T41P", "T42G", "T46G", "T48G", "T42S", "T46S", "T48S",
];

/// Every key name a keymap may use.
pub const KEY_NAMES: [&str; 25] = [
    "speaker", "ok", "cancel", "f1", "f2", "f3", "f4", "up", "down", "left", "right", "1", "2",
    "3", "4", "5", "6", "7", "8", "9", "0", "star", "pound", "mute", "headset",
];

/// Why the lab file (or a firmware manifest it points to) cannot drive the virtual bench.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The file could not be read.
    #[error("cannot read {path}: {source} (check the path given with --lab)")]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// The failed read.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML, or a field has the wrong type; the message holds the line.
    #[error("{file}: {message}")]
    Syntax {
        /// The file (or description of the text) that was parsed.
        file: String,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// A value is present but wrong, or a reference points nowhere.
    #[error("{file}: `{key}`: {problem}")]
    Invalid {
        /// The file that holds the key.
        file: String,
        /// The dotted key path, e.g. `bench[2].power.board`.
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
}

/// The lab file's tables, each read by its own module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLab {
    lab: lab_table::RawLabTable,
    endpoints: endpoints::RawEndpoints,
    lab_faults: Option<lab_table::RawLabFaults>,
    #[serde(default)]
    relay_board: Vec<relay_board::RawRelayBoard>,
    #[serde(default)]
    actuator: Vec<actuator::RawActuator>,
    #[serde(default)]
    keymap: BTreeMap<String, BTreeMap<String, i64>>,
    bench: Option<Vec<bench::RawBench>>,
    twin: Option<toml::Table>,
}

/// The protocol a relay board speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    /// CH340 LCUS boards: binary frames, channels from 1.
    Lcus,
    /// Numato modules: ASCII commands, channels from 0.
    Numato,
}

/// A relay board the bench publishes on a pseudo-terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinRelayBoard {
    /// The name benches refer to.
    pub name: String,
    /// Its protocol.
    pub kind: RelayKind,
    /// Where hosts find it.
    pub port: PathBuf,
    /// How many relays it has.
    pub channels: u16,
}

impl TwinRelayBoard {
    /// The channel numbers printed on the board.
    pub fn channel_range(&self) -> std::ops::RangeInclusive<u16> {
        match self.kind {
            RelayKind::Lcus => 1..=self.channels,
            RelayKind::Numato => 0..=self.channels - 1,
        }
    }
}

/// A button actuator the bench publishes on a pseudo-terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinActuator {
    /// The name benches refer to.
    pub name: String,
    /// Where hosts find it.
    pub port: PathBuf,
    /// Its output count; channels are 1..=channels.
    pub channels: u16,
}

/// A relay channel, as the lab file wires it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TwinRelayChannel {
    /// The relay board's name.
    pub board: String,
    /// The channel as printed on the board.
    pub channel: u16,
}

/// One bench: a twin phone and the hardware wired to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinBench {
    /// Where its `[[bench]]` entry is in the lab file, from 0 (messages name it); the
    /// copies a `count` makes share their entry's.
    pub entry: usize,
    /// The bench's name (fault commands use it).
    pub name: String,
    /// One of `MODELS`.
    pub model: String,
    /// The phone's MAC address.
    pub mac: [u8; 6],
    /// The phone's own loopback address.
    pub ip: Ipv4Addr,
    /// The port of its web UI.
    pub web_port: u16,
    /// The relay in its power supply (closed = powered).
    pub power: TwinRelayChannel,
    /// The relay in its network cable (closed = connected); none means always connected.
    pub network: Option<TwinRelayChannel>,
    /// The actuator pressing its keys.
    pub actuator: String,
    /// Actuator channel to key name (one of `KEY_NAMES`), from the bench's keymap.
    pub keys: BTreeMap<u16, String>,
    /// The USB stick image in the phone's slot (`usb = { image = ... }`), resolved against
    /// the lab file's folder; no file there means no stick. `None`: no stick slot wired (or
    /// a rack's block device, which the virtual bench cannot use).
    pub usb_image: Option<PathBuf>,
    /// `dhcp_interface`: the network interface the twin phone asks a DHCP server on (a lab
    /// VLAN in a network namespace); `None`: the static `ip` and the endpoints' option 66.
    pub dhcp_interface: Option<String>,
}

impl TwinBench {
    /// `00:15:65:00:00:46`, for display.
    pub fn mac_colons(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// What the virtual bench needs from a lab file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TwinLab {
    /// The file it came from (or a description of the text), for messages.
    pub source: String,
    /// The folder relative paths are resolved against.
    pub base_dir: PathBuf,
    /// Multiplies every delay of the twin phones.
    pub time_scale: f64,
    /// The provisioning endpoint's address (`[endpoints] provisioning`).
    pub provisioning: SocketAddr,
    /// The recovery TFTP endpoint's address (`[endpoints] tftp`), if the file has one.
    pub tftp: Option<SocketAddr>,
    /// The relay boards, in file order.
    pub relay_boards: Vec<TwinRelayBoard>,
    /// The actuators, in file order.
    pub actuators: Vec<TwinActuator>,
    /// The benches, in file order.
    pub benches: Vec<TwinBench>,
    /// The firmware fixtures folder, resolved against `base_dir`.
    pub firmware_dir: PathBuf,
    /// The generation every phone runs at bench start.
    pub initial_firmware: String,
}

/// A relay board of a kind the virtual bench does not build (`usb-hid-relay`, `ykush`,
/// `pdudaemon`): read and checked, so that benches and relay actuators can refer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherBoard {
    /// The name benches refer to.
    pub name: String,
    /// The kind, as the lab file writes it.
    pub kind: String,
    /// How many relays or ports it has, numbered from 1.
    pub channels: u16,
}

/// Keys pressed by the relays of a relay board (`kind = "relay"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayActuator {
    /// The name benches refer to.
    pub name: String,
    /// The board whose relays press the keys.
    pub relay_board: String,
    /// `relays[n - 1]` is the relay (board numbering) pressed by actuator channel `n`.
    pub relays: Vec<u16>,
}

/// A lab file as the format allows it, checked as the harness checks it, before anything
/// the virtual bench in particular needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LabFile {
    /// The file it came from (or a description of the text), for messages.
    pub source: String,
    /// The folder relative paths are resolved against.
    pub base_dir: PathBuf,
    /// `[lab] name`.
    pub name: String,
    /// `[lab] time_scale`.
    pub time_scale: f64,
    /// `[endpoints] provisioning`.
    pub provisioning: SocketAddr,
    /// `[endpoints] tftp`.
    pub tftp: SocketAddr,
    /// The LCUS and Numato boards, in file order.
    pub relay_boards: Vec<TwinRelayBoard>,
    /// The boards of other kinds, in file order.
    pub other_boards: Vec<OtherBoard>,
    /// The serial actuators, in file order.
    pub actuators: Vec<TwinActuator>,
    /// The relay actuators, in file order.
    pub relay_actuators: Vec<RelayActuator>,
    /// The benches, in file order.
    pub benches: Vec<TwinBench>,
    /// The `[twin]` table as written.
    pub twin: Option<toml::Table>,
}

impl LabFile {
    /// Reads and checks a lab file; relative paths resolve against its folder.
    pub fn read(path: &Path) -> Result<LabFile, LabError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        parse(&text, &base_dir, path.display().to_string())
    }

    /// Checks lab text as if it were a file in `base_dir`.
    pub fn from_str(text: &str, base_dir: &Path) -> Result<LabFile, LabError> {
        parse(
            text,
            base_dir,
            format!("lab text (in {})", base_dir.display()),
        )
    }
}

impl TwinLab {
    /// Reads a lab file and checks that the virtual bench can build it.
    pub fn from_file(path: &Path) -> Result<TwinLab, LabError> {
        TwinLab::from_lab_file(LabFile::read(path)?)
    }

    /// Checks lab text as if it were a file in `base_dir`, for the virtual bench.
    pub fn from_str(text: &str, base_dir: &Path) -> Result<TwinLab, LabError> {
        TwinLab::from_lab_file(LabFile::from_str(text, base_dir)?)
    }

    /// What the virtual bench builds of a checked lab file: it needs the `[twin]` table,
    /// phones on loopback (or asking DHCP on an interface), and boards and actuators it can
    /// publish.
    pub fn from_lab_file(file: LabFile) -> Result<TwinLab, LabError> {
        buildable::check(&file)?;
        let (firmware_dir, initial_firmware) =
            twin::read(&file.source, file.twin.as_ref(), &file.base_dir)?;
        Ok(TwinLab {
            source: file.source,
            base_dir: file.base_dir,
            time_scale: file.time_scale,
            provisioning: file.provisioning,
            tftp: Some(file.tftp),
            relay_boards: file.relay_boards,
            actuators: file.actuators,
            benches: file.benches,
            firmware_dir,
            initial_firmware,
        })
    }

    /// The DHCP option 66 URL a factory-fresh phone gets: the provisioning endpoint. `None`
    /// when the lab file leaves its port to be picked at run time (port 0): only the process
    /// that bound it knows the URL.
    pub fn provisioning_url(&self) -> Option<String> {
        (self.provisioning.port() != 0).then(|| format!("http://{}/", self.provisioning))
    }

    /// The recovery TFTP server of phones without DHCP: option 66's host, with the TFTP
    /// endpoint's port (a real bootloader asks on port 69 only). `None` when the lab file
    /// leaves its port to be picked at run time.
    pub fn tftp_server(&self) -> Option<SocketAddr> {
        self.tftp.filter(|addr| addr.port() != 0)
    }

    /// A bench by name.
    pub fn bench(&self, name: &str) -> Option<&TwinBench> {
        self.benches.iter().find(|b| b.name == name)
    }

    /// The `.rom` a phone of `model` runs at bench start: the `initial_firmware` generation of
    /// `<firmware_dir>/<MODEL>/manifest.toml`.
    pub fn initial_firmware_path(&self, model: &str) -> Result<PathBuf, LabError> {
        twin::initial_firmware_path(
            &self.source,
            &self.firmware_dir,
            &self.initial_firmware,
            model,
        )
    }
}

/// Reads each table in the order references need them: boards before the actuators that
/// press keys with their relays, both before the benches.
fn parse(text: &str, base_dir: &Path, file: String) -> Result<LabFile, LabError> {
    let raw: RawLab = toml::from_str(text).map_err(|err| LabError::Syntax {
        file: file.clone(),
        message: err.to_string(),
    })?;
    let mut check = Checker::new(file.clone());
    let (name, time_scale) = lab_table::read(&check, &raw.lab)?;
    if let Some(faults) = &raw.lab_faults {
        lab_table::read_faults(&check, faults)?;
    }
    let endpoints = endpoints::read(&check, &raw.endpoints)?;
    let relay_boards = count::expand(&check, "relay_board", raw.relay_board)?;
    let raw_actuators = count::expand(&check, "actuator", raw.actuator)?;
    let boards = relay_board::read(&mut check, &relay_boards, base_dir)?;
    let actuators = actuator::read(&mut check, &raw_actuators, &boards, base_dir)?;
    let keymaps = keymap::read(&check, &raw.keymap)?;
    let raw_benches = raw
        .bench
        .ok_or_else(|| check.invalid("bench", "the lab has no [[bench]]: nothing could run"))?;
    let raw_benches = count::expand(&check, "bench", raw_benches)?;
    let wiring = bench::Wiring {
        boards: &boards,
        actuators: &actuators,
        keymaps: &keymaps,
    };
    let benches = bench::read(&mut check, &raw_benches, &wiring, base_dir)?;
    Ok(LabFile {
        source: file,
        base_dir: base_dir.to_path_buf(),
        name,
        time_scale,
        provisioning: endpoints.provisioning,
        tftp: endpoints.tftp,
        relay_boards: boards.built,
        other_boards: boards.other,
        actuators: actuators.serial,
        relay_actuators: actuators.relay,
        benches,
        twin: raw.twin,
    })
}
