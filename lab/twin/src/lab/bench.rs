//! `[[bench]]`: one phone and its wiring. Every reference is resolved and every relay,
//! actuator channel, MAC, address and stick is claimed once, because a wiring mistake
//! found at run time would power-cycle or press keys of the wrong phone.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::actuator::Actuators;
use super::checker::{Checker, unique};
use super::count::{self, Countable};
use super::keymap::Keymaps;
use super::relay_board::Boards;
use super::{LabError, MODELS, TwinBench, TwinRelayChannel};

/// A phone's web UI port when the lab file leaves it out.
const DEFAULT_WEB_PORT: u16 = 80;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBench {
    name: String,
    model: String,
    mac: String,
    ip: String,
    web_port: Option<i64>,
    power: RawRelayChannel,
    network: Option<RawRelayChannel>,
    actuator: String,
    keymap: String,
    #[allow(dead_code)] // the harness's concern; read so a wrong value is refused
    safe_power: Option<RawPowerState>,
    #[allow(dead_code)] // the harness's concern; read so a wrong value is refused
    approval: Option<RawApproval>,
    #[allow(dead_code)] // the harness's concern; read so a wrong shape is refused
    approved: Option<RawApproved>,
    usb: Option<RawUsb>,
    dhcp_interface: Option<String>,
    /// How many benches this entry stands for (`count.rs`).
    count: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelayChannel {
    board: String,
    channel: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawPowerState {
    On,
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawApproval {
    None,
    Required,
}

/// `approved = { by = "...", scenarios = [...] }`: which scenarios the lab holds an
/// approval for; the harness checks it, the twin only reads its shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the harness's concern
struct RawApproved {
    by: String,
    scenarios: Vec<String>,
}

/// A bench's USB stick: an image file on the virtual bench, or a USB-SD-mux's block device
/// on a rack (which the twin has no use for).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsb {
    image: Option<String>,
    device: Option<String>,
    size_mb: Option<i64>,
}

impl Countable for RawBench {
    fn count(&self) -> Option<i64> {
        self.count
    }

    fn copy(&self, n: u32) -> Result<RawBench, String> {
        let mut copy = self.clone();
        copy.name = count::name(&self.name, n);
        copy.mac = count::mac(&self.mac, n)?;
        copy.ip = count::ip(&self.ip, n)?;
        copy.power.board = count::name(&self.power.board, n);
        if let Some(network) = &mut copy.network {
            network.board = count::name(&network.board, n);
        }
        copy.actuator = count::name(&self.actuator, n);
        // Each copy is another phone, on a veth of its own.
        copy.dhcp_interface = self.dhcp_interface.as_ref().map(|i| count::name(i, n));
        if let Some(usb) = &mut copy.usb {
            let repath = |text: &String| {
                count::path(Path::new(text), n)
                    .to_string_lossy()
                    .into_owned()
            };
            usb.image = usb.image.as_ref().map(repath);
            usb.device = usb.device.as_ref().map(repath);
        }
        Ok(copy)
    }
}

/// What the benches refer to.
pub(super) struct Wiring<'a> {
    pub(super) boards: &'a Boards,
    pub(super) actuators: &'a Actuators,
    pub(super) keymaps: &'a Keymaps,
}

pub(super) fn read(
    check: &mut Checker,
    raw: &[(usize, RawBench)],
    wiring: &Wiring<'_>,
    base_dir: &Path,
) -> Result<Vec<TwinBench>, LabError> {
    unique(check, "bench", raw.iter().map(|(_, b)| b.name.as_str()))?;
    // (actuator, channel) to the bench whose key it presses.
    let mut fingers: BTreeMap<(String, u16), String> = BTreeMap::new();
    let mut benches = Vec::new();
    // `index` is the entry's place in the file: the copies of a `count` share it.
    for &(index, ref bench) in raw {
        let key = |field: &str| format!("bench[{index}].{field}");
        check.file_name(key("name"), &bench.name)?;
        let model = MODELS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(bench.model.trim()))
            .ok_or_else(|| {
                check.invalid(
                    key("model"),
                    format!(
                        "expected one of {}, found `{}`",
                        MODELS.join(" "),
                        bench.model
                    ),
                )
            })?;
        let mac = mac(check, key("mac"), &bench.mac)?;
        let ip = ip(check, key("ip"), &bench.ip)?;
        let web_port = match bench.web_port {
            None => DEFAULT_WEB_PORT,
            Some(port) => u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    check.invalid(
                        key("web_port"),
                        format!("expected a port from 1 to 65535, found {port}"),
                    )
                })?,
        };
        let power = relay_channel(check, key("power"), &bench.power, wiring.boards)?;
        let network = bench
            .network
            .as_ref()
            .map(|n| relay_channel(check, key("network"), n, wiring.boards))
            .transpose()?;
        let channels = wiring.actuators.channels(&bench.actuator).ok_or_else(|| {
            check.invalid(
                key("actuator"),
                format!("no [[actuator]] is named `{}`", bench.actuator),
            )
        })?;
        let keys = wiring.keymaps.get(&bench.keymap).ok_or_else(|| {
            check.invalid(key("keymap"), format!("no [keymap.{}] table", bench.keymap))
        })?;
        if let Some((&channel, name)) = keys.iter().find(|(c, _)| **c > channels) {
            return Err(check.invalid(
                format!("keymap.{}.{name}", bench.keymap),
                format!(
                    "channel {channel} does not exist on actuator `{}` ({channels} channels)",
                    bench.actuator
                ),
            ));
        }
        // Benches may share an actuator only on distinct channels: one output is one key
        // of one phone.
        for &channel in keys.keys() {
            let finger = (bench.actuator.clone(), channel);
            if let Some(other) = fingers.get(&finger) {
                return Err(check.invalid(
                    key("actuator"),
                    format!(
                        "channel {channel} of actuator `{}` already presses a key of bench `{other}`",
                        bench.actuator
                    ),
                ));
            }
        }
        for &channel in keys.keys() {
            fingers.insert((bench.actuator.clone(), channel), bench.name.clone());
        }
        let usb_image = usb(check, &key("usb"), bench.usb.as_ref(), base_dir)?;
        let dhcp_interface = bench
            .dhcp_interface
            .as_deref()
            .map(|name| dhcp_interface(check, key("dhcp_interface"), name))
            .transpose()?;
        benches.push(TwinBench {
            entry: index,
            name: bench.name.clone(),
            model: (*model).to_string(),
            mac,
            ip,
            web_port,
            power,
            network,
            actuator: bench.actuator.clone(),
            keys: keys.clone(),
            usb_image,
            dhcp_interface,
        });
    }
    Ok(benches)
}

/// The unicast MAC on the phone's label: its provisioning file and DHCP reservation are
/// keyed by it, so no two benches share one.
fn mac(check: &mut Checker, key: String, text: &str) -> Result<[u8; 6], LabError> {
    let mac = parse_mac(text.trim()).ok_or_else(|| {
        check.invalid(
            &key,
            format!("expected a MAC like 00:15:65:4a:a9:37, found `{text}`"),
        )
    })?;
    if mac[0] & 0x01 != 0 || mac == [0; 6] {
        return Err(check.invalid(key, "a phone's MAC is the unicast address on its label"));
    }
    if !check.macs.insert(mac) {
        return Err(check.invalid(key, "is already another bench's MAC"));
    }
    Ok(mac)
}

/// The network interface a twin phone asks DHCP on: a Linux interface name (1 to 15
/// characters, no `/`, whitespace or `:`), not another bench's.
fn dhcp_interface(check: &mut Checker, key: String, name: &str) -> Result<String, LabError> {
    let usable = (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | ':'))
        && name != "."
        && name != "..";
    if !usable {
        return Err(check.invalid(
            key,
            format!(
                "expected a network interface name (1 to 15 characters, no spaces, `/` or `:`), found `{name}`"
            ),
        ));
    }
    if !check.interfaces.insert(name.to_owned()) {
        return Err(check.invalid(
            key,
            format!("`{name}` is already another bench's interface"),
        ));
    }
    Ok(name.to_owned())
}

/// One host's IPv4 address, not another bench's.
fn ip(check: &mut Checker, key: String, text: &str) -> Result<Ipv4Addr, LabError> {
    let ip = match text.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast()) => {
            ip
        }
        _ => {
            return Err(check.invalid(
                key,
                format!("expected one host's IPv4 address, found `{text}`"),
            ));
        }
    };
    if !check.ips.insert(ip) {
        return Err(check.invalid(key, format!("{ip} is already another bench's address")));
    }
    Ok(ip)
}

/// Resolves a `{ board, channel }` reference and claims the relay for this use.
fn relay_channel(
    check: &mut Checker,
    key: String,
    raw: &RawRelayChannel,
    boards: &Boards,
) -> Result<TwinRelayChannel, LabError> {
    let range = boards.channel_range(&raw.board).ok_or_else(|| {
        check.invalid(
            format!("{key}.board"),
            format!("no [[relay_board]] is named `{}`", raw.board),
        )
    })?;
    if let Some(actuator) = check.key_boards.get(&raw.board) {
        return Err(check.invalid(
            format!("{key}.board"),
            format!(
                "`{}` presses the keys of actuator `{actuator}`: it must not switch power or network too",
                raw.board
            ),
        ));
    }
    let channel = u16::try_from(raw.channel)
        .ok()
        .filter(|c| range.contains(c))
        .ok_or_else(|| {
            check.invalid(
                format!("{key}.channel"),
                format!(
                    "board `{}` has channels {} to {}, found {}",
                    raw.board,
                    range.start(),
                    range.end(),
                    raw.channel
                ),
            )
        })?;
    check.claim_relay(format!("{key}.channel"), &raw.board, channel)?;
    Ok(TwinRelayChannel {
        board: raw.board.clone(),
        channel,
    })
}

/// The stick image the twin phone reads, resolved against the lab file's folder; a rack's
/// block device is checked and gives the twin no stick.
fn usb(
    check: &mut Checker,
    key: &str,
    raw: Option<&RawUsb>,
    base_dir: &Path,
) -> Result<Option<PathBuf>, LabError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let empty = |text: &String| text.trim().is_empty();
    match (&raw.image, &raw.device, raw.size_mb) {
        (Some(_), Some(_), _) => Err(check.invalid(
            key,
            "give either `image` (a stick image file) or `device` (a block device), not both",
        )),
        (Some(image), None, _) if empty(image) => {
            Err(check.invalid(format!("{key}.image"), "must not be empty"))
        }
        (Some(_), None, Some(_)) => Err(check.invalid(
            format!("{key}.size_mb"),
            "`size_mb` goes with `device`, not with `image`",
        )),
        (Some(image), None, None) => {
            let path = base_dir.join(image);
            check.claim_device(format!("{key}.image"), &path)?;
            Ok(Some(path))
        }
        (None, Some(device), _) if empty(device) => {
            Err(check.invalid(format!("{key}.device"), "must not be empty"))
        }
        (None, Some(device), Some(size)) if size > 0 => {
            check.claim_device(format!("{key}.device"), Path::new(device))?;
            Ok(None)
        }
        (None, Some(_), _) => Err(check.invalid(
            format!("{key}.size_mb"),
            "a block device needs its size in MiB, more than 0",
        )),
        (None, None, _) => Err(check.invalid(
            key,
            "expected `image = \"<stick image file>\"` or `device = \"/dev/...\", size_mb = <n>`",
        )),
    }
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
