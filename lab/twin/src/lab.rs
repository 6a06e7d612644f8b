//! The virtual bench's reader of the lab file.
//!
//! The twin reads the same lab file as the harness, with its own types: the two share no code,
//! so a lab file that one of them misreads shows up as a wiring mismatch on the wire instead
//! of being hidden by a common parser. Keys the twin does not need are tolerated (the harness
//! checks those); what the twin does need is checked here, with errors naming the file and key.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The eight supported models, spelled as the lab file and the firmware folders spell them.
pub const MODELS: [&str; 8] = [
    "T40P", "T41P", "T42G", "T46G", "T48G", "T42S", "T46S", "T48S",
];

/// Every key name a keymap may use.
pub const KEY_NAMES: [&str; 25] = [
    "speaker", "ok", "cancel", "f1", "f2", "f3", "f4", "up", "down", "left", "right", "1", "2",
    "3", "4", "5", "6", "7", "8", "9", "0", "star", "pound", "mute", "headset",
];

/// Largest Numato board the virtual bench builds (one-digit relay ids).
const NUMATO_MAX_CHANNELS: u16 = 32;

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

#[derive(Debug, Deserialize)]
struct RawLab {
    lab: RawLabTable,
    endpoints: RawEndpoints,
    #[serde(default)]
    relay_board: Vec<RawRelayBoard>,
    #[serde(default)]
    actuator: Vec<RawActuator>,
    #[serde(default)]
    keymap: BTreeMap<String, BTreeMap<String, i64>>,
    #[serde(default)]
    bench: Vec<RawBench>,
    twin: Option<RawTwin>,
}

#[derive(Debug, Deserialize)]
struct RawLabTable {
    time_scale: f64,
}

#[derive(Debug, Deserialize)]
struct RawEndpoints {
    provisioning: String,
    tftp: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawRelayBoard {
    name: String,
    kind: String,
    port: PathBuf,
    channels: i64,
}

#[derive(Debug, Deserialize)]
struct RawActuator {
    name: String,
    port: PathBuf,
    channels: i64,
}

#[derive(Debug, Deserialize)]
struct RawBench {
    name: String,
    model: String,
    mac: String,
    ip: String,
    web_port: i64,
    power: RawRelayChannel,
    network: Option<RawRelayChannel>,
    actuator: String,
    keymap: String,
    usb: Option<RawUsb>,
}

/// A bench's USB stick: an image file on the virtual bench, or a USB-SD-mux's block device
/// on a rack (which the twin has no use for).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsb {
    image: Option<PathBuf>,
    device: Option<String>,
    #[allow(dead_code)] // read so the rack form parses; only the harness uses it
    size_mb: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelayChannel {
    board: String,
    channel: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwin {
    firmware_dir: PathBuf,
    initial_firmware: String,
}

#[derive(Debug, Deserialize)]
struct RawManifest {
    #[serde(default)]
    image: Vec<RawImage>,
}

#[derive(Debug, Deserialize)]
struct RawImage {
    generation: String,
    rom: PathBuf,
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

impl TwinLab {
    /// Reads and checks a lab file; relative paths resolve against its folder.
    pub fn from_file(path: &Path) -> Result<TwinLab, LabError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        parse(&text, &base_dir, path.display().to_string())
    }

    /// Checks lab text as if it were a file in `base_dir`.
    pub fn from_str(text: &str, base_dir: &Path) -> Result<TwinLab, LabError> {
        parse(
            text,
            base_dir,
            format!("lab text (in {})", base_dir.display()),
        )
    }

    /// The DHCP option 66 URL a factory-fresh phone gets: the provisioning endpoint. `None`
    /// when the lab file leaves its port to be picked at run time (port 0): only the process
    /// that bound it knows the URL.
    pub fn provisioning_url(&self) -> Option<String> {
        (self.provisioning.port() != 0).then(|| format!("http://{}/", self.provisioning))
    }

    /// The recovery TFTP server phones are told about (DHCP next-server / option 150).
    /// `None` when the lab file has none or leaves its port to be picked at run time.
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
        let folder = self.firmware_dir.join(model);
        let manifest = folder.join("manifest.toml");
        let file = manifest.display().to_string();
        let text = std::fs::read_to_string(&manifest).map_err(|source| LabError::Invalid {
            file: self.source.clone(),
            key: "twin.firmware_dir".into(),
            problem: format!(
                "cannot read {file}: {source} (generate the fixtures, or fix the folder)"
            ),
        })?;
        let raw: RawManifest = toml::from_str(&text).map_err(|err| LabError::Syntax {
            file: file.clone(),
            message: err.to_string(),
        })?;
        let image = raw
            .image
            .iter()
            .find(|i| i.generation == self.initial_firmware)
            .ok_or_else(|| {
                let known: Vec<&str> = raw.image.iter().map(|i| i.generation.as_str()).collect();
                LabError::Invalid {
                    file: self.source.clone(),
                    key: "twin.initial_firmware".into(),
                    problem: format!(
                        "{file} has no [[image]] of generation `{}` (it has: {})",
                        self.initial_firmware,
                        known.join(", ")
                    ),
                }
            })?;
        let rom = folder.join(&image.rom);
        if !rom.is_file() {
            return Err(LabError::Invalid {
                file,
                key: format!("image.rom (generation `{}`)", image.generation),
                problem: format!("{} does not exist", rom.display()),
            });
        }
        Ok(rom)
    }
}

/// Builds errors that name the lab file.
struct Checker {
    file: String,
}

impl Checker {
    fn invalid(&self, key: impl Into<String>, problem: impl Into<String>) -> LabError {
        LabError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    fn count(&self, key: String, value: i64, max: u16) -> Result<u16, LabError> {
        match u16::try_from(value) {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(
                key,
                format!("expected a channel count from 1 to {max}, found {value}"),
            )),
        }
    }

    fn unique<'a>(
        &self,
        table: &str,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), LabError> {
        let mut seen = BTreeSet::new();
        for (index, name) in names.enumerate() {
            if name.is_empty() {
                return Err(self.invalid(format!("{table}[{index}].name"), "must not be empty"));
            }
            if !seen.insert(name) {
                return Err(self.invalid(
                    format!("{table}[{index}].name"),
                    format!("`{name}` is used twice"),
                ));
            }
        }
        Ok(())
    }
}

fn parse(text: &str, base_dir: &Path, file: String) -> Result<TwinLab, LabError> {
    let raw: RawLab = toml::from_str(text).map_err(|err| LabError::Syntax {
        file: file.clone(),
        message: err.to_string(),
    })?;
    let check = Checker { file: file.clone() };

    if !(raw.lab.time_scale.is_finite() && raw.lab.time_scale > 0.0) {
        return Err(check.invalid(
            "lab.time_scale",
            format!("expected a positive number, found {}", raw.lab.time_scale),
        ));
    }
    let provisioning: SocketAddr = raw.endpoints.provisioning.parse().map_err(|_| {
        check.invalid(
            "endpoints.provisioning",
            format!(
                "expected an address like 127.0.0.1:18080, found `{}`",
                raw.endpoints.provisioning
            ),
        )
    })?;
    let tftp = raw
        .endpoints
        .tftp
        .as_deref()
        .map(|text| {
            text.parse::<SocketAddr>().map_err(|_| {
                check.invalid(
                    "endpoints.tftp",
                    format!("expected an address like 127.0.0.1:10069, found `{text}`"),
                )
            })
        })
        .transpose()?;

    check.unique(
        "relay_board",
        raw.relay_board.iter().map(|b| b.name.as_str()),
    )?;
    check.unique("actuator", raw.actuator.iter().map(|a| a.name.as_str()))?;
    check.unique("bench", raw.bench.iter().map(|b| b.name.as_str()))?;

    let mut relay_boards = Vec::new();
    for (index, raw) in raw.relay_board.iter().enumerate() {
        let key = |field: &str| format!("relay_board[{index}].{field}");
        let kind = match raw.kind.as_str() {
            "lcus" => RelayKind::Lcus,
            "numato" => RelayKind::Numato,
            other => {
                return Err(check.invalid(
                    key("kind"),
                    format!("the virtual bench builds `lcus` or `numato` boards, not `{other}`"),
                ));
            }
        };
        let max = if kind == RelayKind::Numato {
            NUMATO_MAX_CHANNELS
        } else {
            u16::from(u8::MAX)
        };
        let channels = check.count(key("channels"), raw.channels, max)?;
        relay_boards.push(TwinRelayBoard {
            name: raw.name.clone(),
            kind,
            port: base_dir.join(&raw.port),
            channels,
        });
    }

    let mut actuators = Vec::new();
    for (index, raw) in raw.actuator.iter().enumerate() {
        let channels = check.count(
            format!("actuator[{index}].channels"),
            raw.channels,
            u16::MAX,
        )?;
        actuators.push(TwinActuator {
            name: raw.name.clone(),
            port: base_dir.join(&raw.port),
            channels,
        });
    }
    let mut ports = BTreeSet::new();
    for (key, port) in relay_boards
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("relay_board[{i}].port"), &b.port))
        .chain(
            actuators
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("actuator[{i}].port"), &a.port)),
        )
    {
        if !ports.insert(port.clone()) {
            return Err(check.invalid(
                key,
                format!("{} is already the port of another device", port.display()),
            ));
        }
    }

    let mut keymaps: BTreeMap<&str, BTreeMap<u16, String>> = BTreeMap::new();
    for (map_name, map) in &raw.keymap {
        let mut by_channel = BTreeMap::new();
        for (key_name, &channel) in map {
            let key = format!("keymap.{map_name}.{key_name}");
            if !KEY_NAMES.contains(&key_name.as_str()) {
                return Err(check.invalid(
                    key,
                    format!("unknown key; expected one of {}", KEY_NAMES.join(" ")),
                ));
            }
            let channel = u16::try_from(channel)
                .ok()
                .filter(|c| *c >= 1)
                .ok_or_else(|| {
                    check.invalid(
                        &key,
                        format!("expected an actuator channel from 1, found {channel}"),
                    )
                })?;
            if let Some(other) = by_channel.insert(channel, key_name.clone()) {
                return Err(
                    check.invalid(key, format!("channel {channel} already presses `{other}`"))
                );
            }
        }
        keymaps.insert(map_name, by_channel);
    }

    let mut benches = Vec::new();
    let mut wired: BTreeMap<TwinRelayChannel, String> = BTreeMap::new();
    let mut ips = BTreeSet::new();
    for (index, raw) in raw.bench.iter().enumerate() {
        let key = |field: &str| format!("bench[{index}].{field}");
        let model = MODELS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(&raw.model))
            .ok_or_else(|| {
                check.invalid(
                    key("model"),
                    format!(
                        "expected one of {}, found `{}`",
                        MODELS.join(" "),
                        raw.model
                    ),
                )
            })?;
        let mac = parse_mac(&raw.mac).ok_or_else(|| {
            check.invalid(
                key("mac"),
                format!("expected a MAC like 00:15:65:4a:a9:37, found `{}`", raw.mac),
            )
        })?;
        let ip: Ipv4Addr = raw
            .ip
            .parse()
            .ok()
            .filter(Ipv4Addr::is_loopback)
            .ok_or_else(|| {
                check.invalid(
                    key("ip"),
                    format!("twin phones live on 127.0.0.0/8; found `{}`", raw.ip),
                )
            })?;
        let web_port = u16::try_from(raw.web_port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                check.invalid(
                    key("web_port"),
                    format!("expected a port from 1 to 65535, found {}", raw.web_port),
                )
            })?;
        if !ips.insert((ip, web_port)) {
            return Err(check.invalid(
                key("ip"),
                format!("{ip}:{web_port} is already another bench's web address"),
            ));
        }
        let mut relay =
            |field: &str, raw_channel: &RawRelayChannel| -> Result<TwinRelayChannel, LabError> {
                let board = relay_boards
                    .iter()
                    .find(|b| b.name == raw_channel.board)
                    .ok_or_else(|| {
                        check.invalid(
                            format!("{}.board", key(field)),
                            format!("no [[relay_board]] is named `{}`", raw_channel.board),
                        )
                    })?;
                let range = board.channel_range();
                let channel = u16::try_from(raw_channel.channel)
                    .ok()
                    .filter(|c| range.contains(c))
                    .ok_or_else(|| {
                        check.invalid(
                            format!("{}.channel", key(field)),
                            format!(
                                "board `{}` has channels {} to {}, found {}",
                                board.name,
                                range.start(),
                                range.end(),
                                raw_channel.channel
                            ),
                        )
                    })?;
                let wiring = TwinRelayChannel {
                    board: board.name.clone(),
                    channel,
                };
                if let Some(other) = wired.insert(wiring.clone(), format!("{}.{field}", raw.name)) {
                    return Err(check.invalid(
                        format!("{}.channel", key(field)),
                        format!(
                            "channel {channel} of `{}` is already wired to {other}",
                            board.name
                        ),
                    ));
                }
                Ok(wiring)
            };
        let power = relay("power", &raw.power)?;
        let network = raw
            .network
            .as_ref()
            .map(|n| relay("network", n))
            .transpose()?;
        let actuator = actuators
            .iter()
            .find(|a| a.name == raw.actuator)
            .ok_or_else(|| {
                check.invalid(
                    key("actuator"),
                    format!("no [[actuator]] is named `{}`", raw.actuator),
                )
            })?;
        let keys = keymaps.get(raw.keymap.as_str()).ok_or_else(|| {
            check.invalid(key("keymap"), format!("no [keymap.{}] table", raw.keymap))
        })?;
        if let Some((&channel, name)) = keys.iter().find(|(c, _)| **c > actuator.channels) {
            return Err(check.invalid(
                format!("keymap.{}.{name}", raw.keymap),
                format!(
                    "channel {channel} does not exist on actuator `{}` ({} channels)",
                    actuator.name, actuator.channels
                ),
            ));
        }
        let usb_image = match &raw.usb {
            None => None,
            Some(RawUsb {
                image: Some(_),
                device: Some(_),
                ..
            }) => {
                return Err(check.invalid(
                    key("usb"),
                    "give either `image` (a stick image file) or `device` (a block device), not both",
                ));
            }
            Some(RawUsb {
                image: Some(image), ..
            }) if image.as_os_str().is_empty() => {
                return Err(check.invalid(key("usb.image"), "must not be empty"));
            }
            Some(RawUsb {
                image: Some(image), ..
            }) => Some(base_dir.join(image)),
            Some(RawUsb {
                device: Some(_), ..
            }) => None,
            Some(_) => {
                return Err(check.invalid(
                    key("usb"),
                    "expected `image = \"<stick image file>\"` or `device = \"/dev/...\"`",
                ));
            }
        };
        benches.push(TwinBench {
            name: raw.name.clone(),
            model: (*model).to_string(),
            mac,
            ip,
            web_port,
            power,
            network,
            actuator: actuator.name.clone(),
            keys: keys.clone(),
            usb_image,
        });
    }
    // Two benches sharing an actuator would press each other's keys.
    let mut actuator_users = BTreeMap::new();
    for (index, bench) in benches.iter().enumerate() {
        if let Some(other) = actuator_users.insert(bench.actuator.as_str(), bench.name.as_str()) {
            return Err(check.invalid(
                format!("bench[{index}].actuator"),
                format!(
                    "actuator `{}` already presses the keys of bench `{other}`",
                    bench.actuator
                ),
            ));
        }
    }

    let twin = raw.twin.ok_or_else(|| {
        check.invalid(
            "twin",
            "the virtual bench needs a [twin] table with firmware_dir and initial_firmware",
        )
    })?;
    if twin.initial_firmware.is_empty() {
        return Err(check.invalid(
            "twin.initial_firmware",
            "expected a generation name such as `current`",
        ));
    }

    Ok(TwinLab {
        source: file,
        base_dir: base_dir.to_path_buf(),
        time_scale: raw.lab.time_scale,
        provisioning,
        tftp,
        relay_boards,
        actuators,
        benches,
        firmware_dir: base_dir.join(&twin.firmware_dir),
        initial_firmware: twin.initial_firmware,
    })
}

/// `00:15:65:4a:a9:37`, `00-15-65-4A-A9-37` or `0015654aa937`.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let hex: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(mac)
}
