//! The lab file as written: serde types that mirror its TOML shape (unknown keys rejected),
//! and the reading of each section on its own, so that one broken bench does not hide the
//! mistakes of the next. Values keep their spans so that the checks of `check.rs` can point
//! at the offending line.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::de::{self, EnumAccess, VariantAccess as _, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config_error::{FileProblems, join_key};
use crate::drivers::power::RelayBoardKind;
use crate::drivers::power::registry::{all_own_keys, kind_named, kind_names, refusal};
use crate::lab::RelayKind;
use crate::lab::relay_entry::OwnKeys;

/// `[lab]`: what the lab is called and how fast its clock runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabSection {
    /// Shown in reports and used to tell the virtual lab from a rack.
    pub name: Spanned<String>,
    /// Multiplies every timeout; range-checked in `check.rs`.
    pub time_scale: Spanned<f64>,
    /// Where bench leases and crash journals live, shared by every harness process that
    /// drives this rack; relative to the lab file.
    #[serde(default)]
    pub lock_dir: Option<Spanned<String>>,
}

/// `[lab_faults]`: what a run does after a lab fault; every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabFaults {
    /// Attempts of a case after a lab fault; range-checked in `check.rs`.
    #[serde(default)]
    pub retries: Option<Spanned<u32>>,
    /// The health check's wait for provisioning per power cycle, in real seconds.
    #[serde(default)]
    pub health_check_timeout_s: Option<Spanned<u64>>,
}

/// `[endpoints]`: bind addresses as text, parsed in `check.rs` for a message that shows the
/// expected `ip:port` form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoints {
    /// The Intermedia provisioning stand-in (HTTP).
    pub provisioning: Spanned<String>,
    /// The foreign provisioning server (HTTP).
    pub foreign_provisioning: Spanned<String>,
    /// The recovery TFTP server (UDP).
    pub tftp: Spanned<String>,
    /// The SIP registrar (UDP).
    pub sip: Spanned<String>,
    /// The syslog collector (UDP).
    pub syslog: Spanned<String>,
}

/// One `[[relay_board]]`: the keys every board has, and its kind's own keys as the kind read
/// them. Which own keys an entry may hold depends on its `kind`; the kind's file under
/// `drivers/power/` reads and checks them while the file is read, where their exact place is
/// still known.
#[derive(Debug, Clone)]
pub struct RawRelayBoard {
    /// Referenced by benches' `power.board` and `network.board`.
    pub name: Spanned<String>,
    /// Decides the wire protocol and how channels are numbered.
    pub kind: Spanned<RawRelayKind>,
    /// Stable device path of the board's serial port (serial kinds only).
    pub port: Option<Spanned<PathBuf>>,
    /// How many relays the board has (some kinds know it).
    pub channels: Option<Spanned<u16>>,
    /// The kind with the settings of its own keys; `None` when a problem was recorded.
    pub settings: Option<RelayKind>,
    /// How many identical entries this one stands for (`count.rs`); 1 when omitted.
    pub count: Option<Spanned<u32>>,
}

/// The keys every `[[relay_board]]` has, whatever its kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonRelayKeys {
    name: Spanned<String>,
    kind: Spanned<RawRelayKind>,
    #[serde(default)]
    port: Option<Spanned<PathBuf>>,
    #[serde(default)]
    channels: Option<Spanned<u16>>,
    #[serde(default)]
    count: Option<Spanned<u32>>,
}

/// The common keys, in the order the "unknown field" message lists them before the kinds'.
const COMMON_RELAY_KEYS: [&str; 5] = ["name", "kind", "port", "channels", "count"];

impl RawRelayBoard {
    /// Reads entry `index`: the common keys by shape, then the kind's own keys by the kind.
    /// A key no kind knows ends the entry, as serde's `deny_unknown_fields` would, with the
    /// same message; a key of another kind is refused with the message its owners give.
    fn read(
        index: usize,
        entry: &Spanned<DeValue<'_>>,
        problems: &mut FileProblems<'_>,
    ) -> Option<RawRelayBoard> {
        let path = format!("relay_board[{index}]");
        let DeValue::Table(table) = entry.get_ref() else {
            return problems
                .deserialize::<CommonRelayKeys>(&path, entry)
                .and(None);
        };
        let kinds_keys = all_own_keys();
        let mut common = DeTable::new();
        let mut own = Vec::new();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            if COMMON_RELAY_KEYS.contains(&name) {
                common.insert(key.clone(), value.clone());
            } else if kinds_keys.contains(&name) {
                own.push((name, value));
            } else {
                let expected: Vec<&str> = COMMON_RELAY_KEYS
                    .iter()
                    .copied()
                    .chain(kinds_keys.iter().copied())
                    .collect();
                problems.at(
                    &key.span(),
                    join_key(&path, name),
                    format!(
                        "unknown field `{name}`, expected one of {}",
                        expected
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                return None;
            }
        }
        let common: CommonRelayKeys =
            problems.deserialize(&path, &Spanned::new(entry.span(), DeValue::Table(common)))?;
        let kind = common.kind.get_ref().0;
        let mut refused = false;
        for (key, value) in &own {
            if !kind.own_keys().iter().any(|mine| mine.name == *key) {
                problems.at(
                    &value.span(),
                    join_key(&path, key),
                    refusal(key, kind.name()),
                );
                refused = true;
            }
        }
        own.retain(|(key, _)| kind.own_keys().iter().any(|mine| mine.name == *key));
        let settings = kind.settings(&mut OwnKeys::new(path, entry.span(), own, problems));
        Some(RawRelayBoard {
            name: common.name,
            kind: common.kind,
            port: common.port,
            channels: common.channels,
            count: common.count,
            settings: settings.filter(|_| !refused),
        })
    }
}

/// `kind` of a relay board: one of the registered kinds, looked up by its lab-file name.
#[derive(Clone, Copy)]
pub struct RawRelayKind(pub &'static dyn RelayBoardKind);

impl RawRelayKind {
    /// The kind as written in the lab file, for messages.
    pub fn as_str(self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Debug for RawRelayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawRelayKind({:?})", self.0.name())
    }
}

/// Read as serde reads a unit-variant enum, so an unknown kind gets serde's own "unknown
/// variant" message, listing the registered kinds.
impl<'de> Deserialize<'de> for RawRelayKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;

        impl<'de> Visitor<'de> for KindVisitor {
            type Value = RawRelayKind;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a relay board kind")
            }

            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<RawRelayKind, A::Error> {
                let (name, variant): (String, A::Variant) = data.variant()?;
                let kind = kind_named(&name)
                    .ok_or_else(|| de::Error::unknown_variant(&name, kind_names()))?;
                variant.unit_variant()?;
                Ok(RawRelayKind(kind))
            }
        }

        deserializer.deserialize_enum("RawRelayKind", kind_names(), KindVisitor)
    }
}

/// One `[[actuator]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActuator {
    /// Referenced by benches' `actuator`.
    pub name: Spanned<String>,
    /// What presses the keys (`serial` when omitted).
    #[serde(default)]
    pub kind: Option<Spanned<RawActuatorKind>>,
    /// Stable device path of a serial actuator's port.
    #[serde(default)]
    pub port: Option<Spanned<PathBuf>>,
    /// How many outputs a serial actuator has (numbered from 1, PROTOCOL.md).
    #[serde(default)]
    pub channels: Option<Spanned<u16>>,
    /// The `[[relay_board]]` whose relays press the keys of a relay actuator.
    #[serde(default)]
    pub relay_board: Option<Spanned<String>>,
    /// The relay pressed by actuator channel 1, 2, ... of a relay actuator.
    #[serde(default)]
    pub relays: Option<Spanned<Vec<u16>>>,
    /// How many identical entries this one stands for (`count.rs`); 1 when omitted.
    #[serde(default)]
    pub count: Option<Spanned<u32>>,
}

/// `kind` of an actuator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawActuatorKind {
    /// The serial button actuator of lab/actuator/PROTOCOL.md.
    #[default]
    Serial,
    /// Relays of a relay board soldered across the keys.
    Relay,
}

/// A `{ board, channel }` reference of a bench.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelayChannel {
    /// Name of a `[[relay_board]]`.
    pub board: Spanned<String>,
    /// As printed on the board.
    pub channel: Spanned<u16>,
}

/// `safe_power` of a bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPowerState {
    /// Leave the phone powered after a run.
    On,
    /// Cut the phone's power after a run (the default: nothing runs unattended).
    #[default]
    Off,
}

/// `approval` of a bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawApproval {
    /// Destructive scenarios run freely.
    #[default]
    None,
    /// Destructive scenarios need a recorded approval.
    Required,
}

/// `approved = { by = "...", scenarios = ["glob", ...] }` of a bench.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApproved {
    /// Who approved, or the ticket that records it (one line).
    pub by: Spanned<String>,
    /// Glob patterns over scenario names the approval covers.
    pub scenarios: Spanned<Vec<Spanned<String>>>,
}

/// One `[[bench]]`: a phone and its wiring, names still unresolved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBench {
    /// Unique bench name, used on the command line and in reports.
    pub name: Spanned<String>,
    /// A T4x model name, checked against the eight supported ones.
    pub model: Spanned<String>,
    /// The phone's MAC address as text.
    pub mac: Spanned<String>,
    /// The phone's IPv4 address as text.
    pub ip: Spanned<String>,
    /// The phone's web UI port (80 when omitted).
    #[serde(default)]
    pub web_port: Option<Spanned<u16>>,
    /// The relay that powers the phone.
    pub power: RawRelayChannel,
    /// The relay in the phone's network cable, if it has one.
    #[serde(default)]
    pub network: Option<RawRelayChannel>,
    /// Name of an `[[actuator]]`.
    pub actuator: Spanned<String>,
    /// Name of a `[keymap.<name>]` table.
    pub keymap: Spanned<String>,
    /// Power state the bench is left in.
    #[serde(default)]
    pub safe_power: RawPowerState,
    /// Whether destructive scenarios need approval.
    #[serde(default)]
    pub approval: RawApproval,
    /// An approval the lab holds for some destructive scenarios on this bench.
    #[serde(default)]
    pub approved: Option<Spanned<RawApproved>>,
    /// The USB stick in the phone's port, if the bench has one the lab can write.
    #[serde(default)]
    pub usb: Option<Spanned<RawUsb>>,
    /// The interface a twin phone asks DHCP on (the virtual bench's concern: read and
    /// checked so that both readers accept the same files).
    #[serde(default)]
    pub dhcp_interface: Option<Spanned<String>>,
    /// How many identical entries this one stands for (`count.rs`); 1 when omitted.
    #[serde(default)]
    pub count: Option<Spanned<u32>>,
}

/// `usb = { image = "..." }` or `usb = { device = "...", size_mb = N }` of a bench.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsb {
    /// An image file standing for the stick (the virtual bench reads it).
    #[serde(default)]
    pub image: Option<Spanned<String>>,
    /// The block device of a USB-SD-mux's host side.
    #[serde(default)]
    pub device: Option<Spanned<String>>,
    /// The device's size, checked before every write.
    #[serde(default)]
    pub size_mb: Option<Spanned<u64>>,
}

/// One `key = channel` line of a keymap.
#[derive(Debug, Clone)]
pub struct RawKeyBinding {
    /// The key name as written.
    pub key: String,
    /// Where the key name is written.
    pub key_span: Range<usize>,
    /// The actuator channel.
    pub channel: u16,
    /// Where the channel is written.
    pub channel_span: Range<usize>,
}

/// One `[keymap.<name>]` table whose every line was readable.
#[derive(Debug, Clone)]
pub struct RawKeymap {
    /// The table's name, referenced by benches' `keymap`.
    pub name: String,
    /// Where the table is declared.
    pub span: Range<usize>,
    /// The bindings, in key order.
    pub bindings: Vec<RawKeyBinding>,
}

/// An entry of an array of tables with its index in the file, kept because entries that
/// failed to read are left out and the key paths must still name the right entry.
#[derive(Debug, Clone)]
pub struct Indexed<T> {
    /// Position in the array, from 0.
    pub index: usize,
    /// Where the entry starts (its `[[...]]` header).
    pub span: Range<usize>,
    /// The entry.
    pub item: T,
}

/// Everything readable of a lab file. Entries that failed to read are absent, and their
/// names (when readable) are listed so that references to them are not reported a second
/// time as "does not exist".
#[derive(Debug, Clone, Default)]
pub struct RawLab {
    /// `[lab]`, if present and readable.
    pub lab: Option<RawLabSection>,
    /// `[endpoints]`, if present and readable.
    pub endpoints: Option<RawEndpoints>,
    /// `[lab_faults]`, if present and readable.
    pub lab_faults: Option<RawLabFaults>,
    /// The readable `[[relay_board]]` entries.
    pub relay_boards: Vec<Indexed<RawRelayBoard>>,
    /// The readable `[[actuator]]` entries.
    pub actuators: Vec<Indexed<RawActuator>>,
    /// The `[keymap.*]` tables.
    pub keymaps: Vec<RawKeymap>,
    /// The readable `[[bench]]` entries.
    pub benches: Vec<Indexed<RawBench>>,
    /// `[twin]`, kept as it is.
    pub twin: Option<toml::Table>,
    /// Names of relay boards that exist but failed to read.
    pub broken_boards: BTreeSet<String>,
    /// Names of actuators that exist but failed to read.
    pub broken_actuators: BTreeSet<String>,
    /// Names of keymaps that exist but have an unreadable line.
    pub broken_keymaps: BTreeSet<String>,
}

/// The top-level keys of a lab file, for the "unknown key" message.
const SECTIONS: [&str; 8] = [
    "lab",
    "endpoints",
    "lab_faults",
    "relay_board",
    "actuator",
    "keymap",
    "bench",
    "twin",
];

impl RawLab {
    /// Reads every section of a parsed lab document, recording each shape or type mistake
    /// and going on with the rest.
    pub(crate) fn read(root: &Spanned<DeValue<'_>>, problems: &mut FileProblems<'_>) -> RawLab {
        let mut raw = RawLab::default();
        let DeValue::Table(top) = root.get_ref() else {
            return raw;
        };
        for (key, value) in top.iter() {
            let name: &str = key.get_ref();
            match name {
                "lab" => raw.lab = problems.deserialize("lab", value),
                "endpoints" => raw.endpoints = problems.deserialize("endpoints", value),
                "lab_faults" => raw.lab_faults = problems.deserialize("lab_faults", value),
                "relay_board" => {
                    for (index, span, entry) in entries(name, value, problems) {
                        match RawRelayBoard::read(index, entry, problems) {
                            Some(item) => raw.relay_boards.push(Indexed { index, span, item }),
                            None => raw.broken_boards.extend(entry_name(entry)),
                        }
                    }
                }
                "actuator" => {
                    for (index, span, entry) in entries(name, value, problems) {
                        match problems.deserialize(&format!("actuator[{index}]"), entry) {
                            Some(item) => raw.actuators.push(Indexed { index, span, item }),
                            None => raw.broken_actuators.extend(entry_name(entry)),
                        }
                    }
                }
                "bench" => {
                    for (index, span, entry) in entries(name, value, problems) {
                        if let Some(item) = problems.deserialize(&format!("bench[{index}]"), entry)
                        {
                            raw.benches.push(Indexed { index, span, item });
                        }
                    }
                }
                "keymap" => raw.read_keymaps(value, problems),
                "twin" => raw.twin = problems.deserialize("twin", value),
                _ => problems.at(
                    &key.span(),
                    join_key("", name),
                    format!(
                        "unknown key `{name}`, expected one of {}",
                        quoted_list(&SECTIONS)
                    ),
                ),
            }
        }
        let missing = |section: &str| !top.iter().any(|(k, _)| k.get_ref() == section);
        let start = 0..0;
        if missing("lab") {
            problems.at(
                &start,
                "lab",
                "missing table `[lab]` (with `name` and `time_scale`)",
            );
        }
        if missing("endpoints") {
            problems.at(
                &start,
                "endpoints",
                "missing table `[endpoints]` (with `provisioning`, `foreign_provisioning`, `tftp`, `sip` and `syslog`)",
            );
        }
        if missing("bench") {
            problems.at(
                &start,
                "bench",
                "the lab has no `[[bench]]`: nothing could run",
            );
        }
        super::count::expand(&mut raw, problems);
        raw
    }

    fn read_keymaps(&mut self, value: &Spanned<DeValue<'_>>, problems: &mut FileProblems<'_>) {
        let DeValue::Table(maps) = value.get_ref() else {
            problems.at(
                &value.span(),
                "keymap",
                "expected tables `[keymap.<name>]` mapping key names to actuator channels",
            );
            return;
        };
        for (map_name, map) in maps.iter() {
            let map_path = join_key("keymap", map_name.get_ref());
            let DeValue::Table(lines) = map.get_ref() else {
                problems.at(
                    &map.span(),
                    map_path,
                    "expected a table mapping key names to actuator channels",
                );
                self.broken_keymaps.insert(map_name.get_ref().to_string());
                continue;
            };
            let mut keymap = RawKeymap {
                name: map_name.get_ref().to_string(),
                span: map.span(),
                bindings: Vec::new(),
            };
            let mut readable = true;
            for (key, channel) in lines.iter() {
                let path = join_key(&map_path, key.get_ref());
                match problems.deserialize::<u16>(&path, channel) {
                    Some(number) => keymap.bindings.push(RawKeyBinding {
                        key: key.get_ref().to_string(),
                        key_span: key.span(),
                        channel: number,
                        channel_span: channel.span(),
                    }),
                    None => readable = false,
                }
            }
            if readable {
                self.keymaps.push(keymap);
            } else {
                self.broken_keymaps.insert(keymap.name);
            }
        }
    }
}

/// The entries of an `[[array]]` of tables, with their index and header span; a value of
/// another shape is recorded as a problem and yields nothing.
pub(crate) fn entries<'v, 'i>(
    name: &str,
    value: &'v Spanned<DeValue<'i>>,
    problems: &mut FileProblems<'_>,
) -> Vec<(usize, Range<usize>, &'v Spanned<DeValue<'i>>)> {
    let DeValue::Array(array) = value.get_ref() else {
        problems.at(
            &value.span(),
            name,
            format!("expected an array of tables `[[{name}]]`"),
        );
        return Vec::new();
    };
    array
        .iter()
        .enumerate()
        .map(|(index, entry)| (index, entry.span(), entry))
        .collect()
}

/// The `name` of an entry that failed to read, if that much is readable.
fn entry_name(entry: &Spanned<DeValue<'_>>) -> Option<String> {
    let DeValue::Table(table) = entry.get_ref() else {
        return None;
    };
    table
        .get("name")
        .and_then(|name| name.get_ref().as_str())
        .map(str::to_string)
}

/// `a`, `b` and `c`: how messages list the accepted values.
pub(crate) fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
