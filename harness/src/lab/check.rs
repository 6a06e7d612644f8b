//! From the lab file as written to the checked `Lab`: every value is range-checked and every
//! name reference resolved, and the wiring is checked as a whole (one relay channel per use,
//! one phone per MAC and IP, a keymap that fits its actuator), because a wiring mistake
//! found at run time would power-cycle or press keys of the wrong phone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{
    Actuator, ActuatorKind, Approval, Bench, EndpointsConfig, FaultPolicy, Key, Lab, Mac, Model,
    PowerState, RelayBoard, RelayChannel,
};
use super::model::{StandingApproval, UsbConfig};
use super::name::{NAME_MAX_LEN, unsafe_name_message};
use super::raw::{
    Indexed, RawActuator, RawActuatorKind, RawApproval, RawBench, RawEndpoints, RawKeymap, RawLab,
    RawLabFaults, RawPowerState, RawRelayBoard, RawRelayChannel, quoted_list,
};
use super::raw::{RawApproved, RawUsb};
use super::relay_entry::{MAX_CHANNELS, RelayEntry};
use crate::config_error::{FileProblems, join_key};
use crate::drivers::power::registry::{Reach, RelayBoardKind};

/// The keys the harness presses in its scenarios and recovery procedures (the speaker key
/// for the recovery menu, the softkeys and OK/cancel for popups, the digits and `*`/`#` for
/// `dial`). A keymap without one of them could leave a scenario stuck half-way.
pub const HARNESS_KEYS: [&str; 19] = [
    "speaker", "ok", "cancel", "f1", "f2", "f3", "f4", "0", "1", "2", "3", "4", "5", "6", "7", "8",
    "9", "star", "pound",
];

/// The highest `time_scale`: above it a real rack's timeouts would run for hours.
const MAX_TIME_SCALE: f64 = 10.0;

/// The lowest `time_scale`: one second of phone time is then one millisecond of wall time.
/// The harness and the twin sleep on timers that tick in milliseconds, and the actuator
/// holds a key for whole milliseconds (`engine.rs` rounds a scaled hold and keeps it at
/// least 1 ms), so below this the steps of the phone's timing table that differ by a second
/// (DHCP 2 s, bootloader 3 s in the twin's `timing.rs`) round to the same tick, a power
/// cycle's 5 s off and a tap's 0.1 s collapse to nothing, and which event comes first is
/// left to chance: a transcript that differs for that reason would read as a fail. The
/// virtual lab runs at 0.01.
const MIN_TIME_SCALE: f64 = 0.001;

/// How many names a "no relay board (actuator, keymap) named ..." message lists before it
/// counts the rest: every name in every such message would grow the report of a large file
/// with the square of its size.
const MAX_LISTED_NAMES: usize = 12;

/// Above this many retries a bench that keeps breaking would hold a nightly up for hours
/// and hide that it needs a person.
const MAX_RETRIES: u32 = 5;

/// Above an hour the phone is not booting slowly, it is not booting.
const MAX_HEALTH_CHECK_TIMEOUT_S: u64 = 3600;

/// The longest `approved.by`: a name or a ticket reference, shown with every case.
const MAX_APPROVED_BY_BYTES: usize = 200;

/// A relay board as far as benches need it.
struct BoardInfo {
    kind: &'static dyn RelayBoardKind,
    /// `None` when the board's own channel count is invalid (already reported).
    channels: Option<u16>,
    /// Where its name is written, for the duplicate-name message.
    name_span: Range<usize>,
}

/// An actuator as far as benches need it.
struct ActuatorInfo {
    /// `None` when the actuator's own channel count is invalid (already reported).
    channels: Option<u16>,
    /// Where its name is written, for the duplicate-name message.
    name_span: Range<usize>,
}

/// What the checks remember of earlier entries to find clashes. Every clash is a map
/// lookup, never a scan of the earlier entries, so that a file with many entries is checked
/// in n·log n.
#[derive(Default)]
struct Seen {
    bench_names: BTreeMap<String, (usize, Range<usize>)>,
    /// Bench index to its name, for messages that point back at an earlier bench.
    bench_names_by_index: BTreeMap<usize, String>,
    macs: BTreeMap<Mac, usize>,
    ips: BTreeMap<Ipv4Addr, usize>,
    /// DHCP interfaces of twin phones, to the bench that asks on each.
    dhcp_interfaces: BTreeMap<String, usize>,
    /// (board, channel) to the key path that uses it and its span.
    relay_uses: BTreeMap<(String, u16), (String, Range<usize>)>,
    /// (actuator, channel) to the earlier bench whose key it presses.
    actuator_uses: BTreeMap<(String, u16), usize>,
    /// Device files (serial ports, USB sticks and their images), compared as written once
    /// `.` and doubled `/` are dropped, to the key path that uses each and its span.
    devices: BTreeMap<PathBuf, (String, Range<usize>)>,
    /// Where a relay board without a device file is found (its USB serial, its PDU), to the
    /// key path of the first board found there and its span.
    board_addresses: BTreeMap<String, (String, Range<usize>)>,
    /// (keymap, actuator) pairs whose channel ranges were already checked.
    keymap_fits: BTreeSet<(String, String)>,
    /// Relay boards that press keys, to the actuator name and key path that uses them.
    key_boards: BTreeMap<String, (String, String)>,
}

/// Checks a read lab file. Returns the `Lab` only when neither reading nor checking found
/// anything wrong.
pub(crate) fn check(raw: RawLab, source: &Path, problems: &mut FileProblems<'_>) -> Option<Lab> {
    let mut checker = Checker {
        problems,
        base_dir: source.parent().unwrap_or(Path::new(".")).to_path_buf(),
        boards: BTreeMap::new(),
        actuators: BTreeMap::new(),
        seen: Seen::default(),
    };

    let lab_section = raw
        .lab
        .as_ref()
        .and_then(|lab| checker.lab_section(lab.name.clone(), &lab.time_scale));
    let lock_dir = raw
        .lab
        .as_ref()
        .and_then(|lab| lab.lock_dir.as_ref())
        .and_then(|dir| checker.lock_dir(source, dir));
    let endpoints = raw.endpoints.as_ref().and_then(|e| checker.endpoints(e));
    let faults = match &raw.lab_faults {
        Some(faults) => checker.lab_faults(faults),
        None => Some(FaultPolicy::default()),
    };
    let relay_boards: Vec<RelayBoard> = raw
        .relay_boards
        .iter()
        .filter_map(|b| checker.relay_board(b))
        .collect();
    let boards_by_name: BTreeMap<&str, &RelayBoard> = relay_boards
        .iter()
        .map(|board| (board.name.as_str(), board))
        .collect();
    let actuators: Vec<Actuator> = raw
        .actuators
        .iter()
        .filter_map(|a| checker.actuator(a, &boards_by_name, &raw.broken_boards))
        .collect();
    for keymap in &raw.keymaps {
        checker.keymap(keymap);
    }
    let keymaps: BTreeMap<&str, &RawKeymap> =
        raw.keymaps.iter().map(|k| (k.name.as_str(), k)).collect();
    let benches: Vec<Bench> = raw
        .benches
        .iter()
        .filter_map(|b| checker.bench(b, &raw, &keymaps))
        .collect();

    if !checker.problems.is_empty() {
        return None;
    }
    let (name, time_scale) = lab_section?;
    Some(Lab {
        source: source.to_path_buf(),
        name,
        time_scale,
        endpoints: endpoints?,
        relay_boards,
        actuators,
        benches,
        twin: raw.twin,
        lock_dir,
        faults: faults?,
    })
}

struct Checker<'p, 't> {
    problems: &'p mut FileProblems<'t>,
    /// The lab file's folder: relative paths in the file are relative to it.
    base_dir: PathBuf,
    boards: BTreeMap<String, BoardInfo>,
    actuators: BTreeMap<String, ActuatorInfo>,
    seen: Seen,
}

impl Checker<'_, '_> {
    fn lab_section(
        &mut self,
        name: Spanned<String>,
        time_scale: &Spanned<f64>,
    ) -> Option<(String, f64)> {
        let scale = *time_scale.get_ref();
        let mut ok = self.lab_name(&name);
        // Written so that NaN fails too.
        if !(MIN_TIME_SCALE..=MAX_TIME_SCALE).contains(&scale) {
            self.problems.at(
                &time_scale.span(),
                "lab.time_scale",
                format!("time_scale must be {MIN_TIME_SCALE} to {MAX_TIME_SCALE} (1.0 on a real rack, 0.01 on the virtual lab; below {MIN_TIME_SCALE} the phones' delays shrink under the timers' millisecond), found {}", shown_number(scale)),
            );
            ok = false;
        }
        ok.then(|| (name.into_inner(), scale))
    }

    /// A lock folder must name a folder: an empty value would silently put leases in the
    /// current directory, where another process would not look.
    fn lock_dir(&mut self, source: &Path, dir: &Spanned<String>) -> Option<PathBuf> {
        let text = dir.get_ref().trim();
        if text.is_empty() {
            self.problems.at(
                &dir.span(),
                "lab.lock_dir",
                "lock_dir must name a folder (e.g. \"/run/yealink-lab\"), found an empty string",
            );
            return None;
        }
        let base = source.parent().unwrap_or(Path::new("."));
        Some(base.join(text))
    }

    /// The fault policy; an absent key keeps its default.
    fn lab_faults(&mut self, raw: &RawLabFaults) -> Option<FaultPolicy> {
        let mut policy = FaultPolicy::default();
        let mut ok = true;
        if let Some(retries) = &raw.retries {
            let value = *retries.get_ref();
            if value > MAX_RETRIES {
                self.problems.at(
                    &retries.span(),
                    "lab_faults.retries",
                    format!(
                        "retries must be 0 to {MAX_RETRIES} (attempts of a case after a lab fault; 0 never retries), found {value}"
                    ),
                );
                ok = false;
            }
            policy.retries = value;
        }
        if let Some(timeout) = &raw.health_check_timeout_s {
            let value = *timeout.get_ref();
            if !(1..=MAX_HEALTH_CHECK_TIMEOUT_S).contains(&value) {
                self.problems.at(
                    &timeout.span(),
                    "lab_faults.health_check_timeout_s",
                    format!(
                        "health_check_timeout_s must be 1 to {MAX_HEALTH_CHECK_TIMEOUT_S} (real seconds a phone gets to fetch its config after a power cycle), found {value}"
                    ),
                );
                ok = false;
            }
            policy.health_check_timeout_s = value;
        }
        ok.then_some(policy)
    }

    fn endpoints(&mut self, raw: &RawEndpoints) -> Option<EndpointsConfig> {
        let fields = [
            ("provisioning", &raw.provisioning, "HTTP"),
            ("foreign_provisioning", &raw.foreign_provisioning, "HTTP"),
            ("tftp", &raw.tftp, "UDP"),
            ("sip", &raw.sip, "UDP"),
            ("syslog", &raw.syslog, "UDP"),
        ];
        let mut parsed: Vec<Option<SocketAddr>> = Vec::new();
        for (index, (field, text, protocol)) in fields.iter().enumerate() {
            let path = format!("endpoints.{field}");
            let Ok(address) = text.get_ref().trim().parse::<SocketAddr>() else {
                self.problems.at(
                    &text.span(),
                    path,
                    format!(
                        "`{}` is not an address `ip:port` such as `127.0.0.1:18080` (host names are not resolved)",
                        text.get_ref()
                    ),
                );
                parsed.push(None);
                continue;
            };
            // The phones are IPv4 hosts (a bench's `ip`) and reach the servers from there:
            // the URL they are given and the twin phones' sockets are IPv4 only, so a server
            // on an IPv6 address is never called and every case would end in a timeout.
            if address.is_ipv6() {
                self.problems.at(
                    &text.span(),
                    path,
                    format!(
                        "`{address}` is an IPv6 address: the phones reach the lab's servers over IPv4, so bind an IPv4 address such as `127.0.0.1:18080` or `0.0.0.0:18080`"
                    ),
                );
                parsed.push(None);
                continue;
            }
            // Two servers of one protocol on one fixed address: the second bind would fail
            // at run time, which would look like a lab fault.
            let clash =
                fields[..index]
                    .iter()
                    .zip(&parsed)
                    .find(|((_, _, other_protocol), other)| {
                        other_protocol == protocol
                            && **other == Some(address)
                            && address.port() != 0
                    });
            if let Some(((other_field, _, _), _)) = clash {
                self.problems.at(
                    &text.span(),
                    path,
                    format!(
                        "`{address}` is already the address of endpoints.{other_field}: two {protocol} servers cannot share one port"
                    ),
                );
            }
            parsed.push(Some(address));
        }
        let [provisioning, foreign_provisioning, tftp, sip, syslog] = parsed[..] else {
            return None;
        };
        Some(EndpointsConfig {
            provisioning: provisioning?,
            foreign_provisioning: foreign_provisioning?,
            tftp: tftp?,
            sip: sip?,
            syslog: syslog?,
        })
    }

    /// A relay board: the keys every board has are checked here, the rest by its kind.
    fn relay_board(&mut self, entry: &Indexed<RawRelayBoard>) -> Option<RelayBoard> {
        let path = format!("relay_board[{}]", entry.index);
        let board = &entry.item;
        let name = board.name.get_ref().clone();
        let board_kind = board.kind.get_ref().0;
        let kind_name = board_kind.name();
        let mut ok = self.file_name(&format!("{path}.name"), &board.name, "a relay board's name");
        let port = match board_kind.reach() {
            Reach::SerialPort => match &board.port {
                Some(port) => {
                    ok &= self.non_empty_path(&format!("{path}.port"), port)
                        && self.claim_serial_port(&format!("{path}.port"), port);
                    Some(port.get_ref().clone())
                }
                None => {
                    self.missing(&entry.span, &path, "port", &format!(
                        "a `{kind_name}` board needs `port`: its serial device (a /dev/serial/by-id link)"
                    ));
                    ok = false;
                    None
                }
            },
            Reach::Elsewhere(how) => {
                ok &= self.refused(
                    &path,
                    "port",
                    board.port.as_ref().map(Spanned::span),
                    &format!("a `{kind_name}` board has no serial port: {how}"),
                );
                None
            }
        };
        let mut kind_entry = RelayEntry::new(entry, kind_name, self.problems);
        let channels = board_kind.channels(&mut kind_entry);
        // The kind read its own keys with the file (`raw.rs`), where their places are known.
        let kind = board.settings.clone();
        ok &= channels.is_some() && kind.is_some();
        if let Some(first) = self.boards.get(&name) {
            let first = self.problems.line_of(&first.name_span);
            self.problems.at(
                &board.name.span(),
                format!("{path}.name"),
                format!("duplicate relay board name `{name}` (first defined at line {first})"),
            );
            return None;
        }
        self.boards.insert(
            name.clone(),
            BoardInfo {
                kind: board_kind,
                channels,
                name_span: board.name.span(),
            },
        );
        let board = RelayBoard {
            name,
            kind: kind.filter(|_| ok)?,
            port,
            channels: channels?,
        };
        if board.port.is_none() && !self.claim_board_address(&path, &board, &entry.span) {
            return None;
        }
        Some(board)
    }

    /// Claims a serial port for one board or actuator: whatever their kinds, two drivers
    /// on one port would mix their frames and switch or press the wrong thing.
    fn claim_serial_port(&mut self, path: &str, port: &Spanned<PathBuf>) -> bool {
        self.claim_device(
            path,
            port.get_ref(),
            port.span(),
            "one serial port is one device, and two drivers on it would mix their frames",
        )
    }

    /// Claims a device file (a serial port, a USB stick or its image) for one use.
    fn claim_device(&mut self, path: &str, file: &Path, span: Range<usize>, why: &str) -> bool {
        // `/dev//x` and `/dev/./x` are `/dev/x`; links are not followed (`lab check` opens
        // the devices).
        let normal: PathBuf = file.components().collect();
        if let Some((user, user_span)) = self.seen.devices.get(&normal) {
            let line = self.problems.line_of(user_span);
            self.problems.at(
                &span,
                path,
                format!(
                    "`{}` is already used by {user} (line {line}): {why}",
                    file.display()
                ),
            );
            return false;
        }
        self.seen.devices.insert(normal, (path.to_string(), span));
        true
    }

    /// Claims where a board without a serial port is found (its USB ids and serial number,
    /// or its PDU): two entries found at one place are one board under two names.
    fn claim_board_address(&mut self, path: &str, board: &RelayBoard, span: &Range<usize>) -> bool {
        let address = board.address();
        if let Some((user, user_span)) = self.seen.board_addresses.get(&address) {
            let line = self.problems.line_of(user_span);
            self.problems.at(
                span,
                path,
                format!(
                    "relay board `{}` is found at {address}, like {user} (line {line}): one board cannot be two entries (give each its own `serial`, or its own `pdu`)",
                    board.name
                ),
            );
            return false;
        }
        self.seen
            .board_addresses
            .insert(address, (path.to_string(), span.clone()));
        true
    }

    fn actuator(
        &mut self,
        entry: &Indexed<RawActuator>,
        boards: &BTreeMap<&str, &RelayBoard>,
        broken_boards: &BTreeSet<String>,
    ) -> Option<Actuator> {
        let path = format!("actuator[{}]", entry.index);
        let actuator = &entry.item;
        let name = actuator.name.get_ref().clone();
        let mut ok = self.file_name(
            &format!("{path}.name"),
            &actuator.name,
            "an actuator's name",
        );
        let kind = actuator
            .kind
            .as_ref()
            .map_or(RawActuatorKind::Serial, |k| *k.get_ref());
        let (port, channels, checked_kind) = match kind {
            RawActuatorKind::Serial => {
                for (key, span) in [
                    (
                        "relay_board",
                        actuator.relay_board.as_ref().map(Spanned::span),
                    ),
                    ("relays", actuator.relays.as_ref().map(Spanned::span)),
                ] {
                    ok &= self.refused(
                        &path,
                        key,
                        span,
                        &format!("`{key}` applies to actuators of `kind = \"relay\"`; a serial actuator presses keys itself"),
                    );
                }
                let port = match &actuator.port {
                    Some(port) => {
                        ok &= self.non_empty_path(&format!("{path}.port"), port)
                            && self.claim_serial_port(&format!("{path}.port"), port);
                        Some(port.get_ref().clone())
                    }
                    None => {
                        self.missing(&entry.span, &path, "port",
                            "a serial actuator needs `port`: its serial device (a /dev/serial/by-id link)");
                        ok = false;
                        None
                    }
                };
                let channels = match &actuator.channels {
                    Some(channels) => self.channel_count(&format!("{path}.channels"), channels),
                    None => {
                        self.missing(
                            &entry.span,
                            &path,
                            "channels",
                            "missing `channels`: how many outputs the actuator has",
                        );
                        None
                    }
                };
                (port, channels, Some(ActuatorKind::Serial))
            }
            RawActuatorKind::Relay => {
                for (key, span, why) in [
                    (
                        "port",
                        actuator.port.as_ref().map(Spanned::span),
                        "its relay board is the device",
                    ),
                    (
                        "channels",
                        actuator.channels.as_ref().map(Spanned::span),
                        "it has one channel per entry of `relays`",
                    ),
                ] {
                    ok &= self.refused(
                        &path,
                        key,
                        span,
                        &format!("a relay actuator has no `{key}`: {why}"),
                    );
                }
                let relay_kind = self.relay_keys(entry, &path, &name, boards, broken_boards);
                let channels = match &relay_kind {
                    Some(ActuatorKind::Relay { relays, .. }) => u16::try_from(relays.len()).ok(),
                    _ => None,
                };
                (None, channels, relay_kind)
            }
        };
        ok &= channels.is_some() && checked_kind.is_some();
        if let Some(first) = self.actuators.get(&name) {
            let first = self.problems.line_of(&first.name_span);
            self.problems.at(
                &actuator.name.span(),
                format!("{path}.name"),
                format!("duplicate actuator name `{name}` (first defined at line {first})"),
            );
            return None;
        }
        self.actuators.insert(
            name.clone(),
            ActuatorInfo {
                channels,
                name_span: actuator.name.span(),
            },
        );
        let kind = checked_kind?;
        ok.then(|| Actuator {
            name,
            port,
            channels: channels.unwrap_or(0),
            kind,
        })
    }

    /// Resolves a relay actuator's board and relays, and claims them so that no bench
    /// powers or switches a phone through a relay that presses a key.
    fn relay_keys(
        &mut self,
        entry: &Indexed<RawActuator>,
        path: &str,
        name: &str,
        boards: &BTreeMap<&str, &RelayBoard>,
        broken_boards: &BTreeSet<String>,
    ) -> Option<ActuatorKind> {
        let actuator = &entry.item;
        let Some(board_name) = &actuator.relay_board else {
            self.missing(&entry.span, path, "relay_board",
                "a relay actuator needs `relay_board`: the name of the `[[relay_board]]` whose relays press the keys");
            return None;
        };
        let Some(relays) = &actuator.relays else {
            self.missing(
                &entry.span,
                path,
                "relays",
                "a relay actuator needs `relays`: the relay pressed by actuator channel 1, 2, ...",
            );
            return None;
        };
        let Some(info) = self.boards.get(board_name.get_ref()) else {
            if !broken_boards.contains(board_name.get_ref()) {
                self.problems.at(
                    &board_name.span(),
                    format!("{path}.relay_board"),
                    format!(
                        "no relay board named `{}` ({})",
                        board_name.get_ref(),
                        listing(
                            "relay boards",
                            self.boards.keys().map(String::as_str),
                            self.boards.len()
                        )
                    ),
                );
            }
            return None;
        };
        let numbers = info.kind.channel_numbers(info.channels?);
        let (first, last) = (*numbers.start(), *numbers.end());
        if relays.get_ref().is_empty() {
            self.problems.at(
                &relays.span(),
                format!("{path}.relays"),
                "`relays` must list at least one relay: the one pressed by actuator channel 1",
            );
            return None;
        }
        let mut ok = true;
        let mut seen = BTreeSet::new();
        for relay in relays.get_ref() {
            if !numbers.contains(relay) {
                self.problems.at(
                    &relays.span(),
                    format!("{path}.relays"),
                    format!(
                        "relay {relay} does not exist on relay board `{}` (it has channels {first}-{last})",
                        board_name.get_ref()
                    ),
                );
                ok = false;
            } else if !seen.insert(*relay) {
                self.problems.at(
                    &relays.span(),
                    format!("{path}.relays"),
                    format!("relay {relay} is listed twice: one relay presses one key"),
                );
                ok = false;
            } else {
                let claim = (board_name.get_ref().clone(), *relay);
                if let Some((user, user_span)) = self.seen.relay_uses.get(&claim) {
                    let line = self.problems.line_of(user_span);
                    self.problems.at(
                        &relays.span(),
                        format!("{path}.relays"),
                        format!(
                            "relay {relay} of relay board `{}` is already used by {user} (line {line})",
                            board_name.get_ref()
                        ),
                    );
                    ok = false;
                } else {
                    self.seen
                        .relay_uses
                        .insert(claim, (format!("{path}.relays"), relays.span()));
                }
            }
        }
        self.seen
            .key_boards
            .entry(board_name.get_ref().clone())
            .or_insert_with(|| (name.to_string(), path.to_string()));
        let board = boards.get(board_name.get_ref().as_str())?;
        ok.then(|| ActuatorKind::Relay {
            board: (*board).clone(),
            relays: relays.get_ref().clone(),
        })
    }

    /// Records that a required key is absent, at the entry's header.
    fn missing(&mut self, entry_span: &Range<usize>, path: &str, key: &str, message: &str) {
        self.problems
            .at(entry_span, format!("{path}.{key}"), message.to_string());
    }

    /// Records a key the entry's kind does not use; true when it is absent.
    fn refused(
        &mut self,
        path: &str,
        key: &str,
        span: Option<Range<usize>>,
        message: &str,
    ) -> bool {
        let Some(span) = span else {
            return true;
        };
        self.problems
            .at(&span, format!("{path}.{key}"), message.to_string());
        false
    }

    /// Checks a keymap on its own; whether its channels fit an actuator is checked per bench.
    fn keymap(&mut self, keymap: &RawKeymap) {
        let map_path = join_key("keymap", &keymap.name);
        let mut bindings: Vec<_> = keymap.bindings.iter().collect();
        bindings.sort_by_key(|b| b.key_span.start);
        let mut channel_owner: BTreeMap<u16, (&str, Range<usize>)> = BTreeMap::new();
        for binding in bindings {
            let path = join_key(&map_path, &binding.key);
            if !Key::NAMES.contains(&binding.key.as_str()) {
                self.problems.at(
                    &binding.key_span,
                    path.clone(),
                    format!(
                        "unknown key `{}`, expected one of {}",
                        binding.key,
                        quoted_list(&Key::NAMES)
                    ),
                );
            }
            if binding.channel == 0 {
                self.problems.at(
                    &binding.channel_span,
                    path,
                    "channel 0 does not exist: actuator channels count from 1",
                );
                continue;
            }
            if let Some((owner, owner_span)) = channel_owner.get(&binding.channel) {
                let line = self.problems.line_of(owner_span);
                self.problems.at(
                    &binding.channel_span,
                    path,
                    format!(
                        "channel {} is already bound to key `{owner}` (line {line})",
                        binding.channel
                    ),
                );
                continue;
            }
            channel_owner.insert(
                binding.channel,
                (binding.key.as_str(), binding.key_span.clone()),
            );
        }
        let missing: Vec<&str> = HARNESS_KEYS
            .iter()
            .copied()
            .filter(|key| !keymap.bindings.iter().any(|b| b.key == *key))
            .collect();
        if !missing.is_empty() {
            self.problems.at(
                &keymap.span,
                map_path,
                format!("missing keys the harness presses: {}", missing.join(", ")),
            );
        }
    }

    fn bench(
        &mut self,
        entry: &Indexed<RawBench>,
        raw: &RawLab,
        keymaps: &BTreeMap<&str, &RawKeymap>,
    ) -> Option<Bench> {
        let index = entry.index;
        let path = format!("bench[{index}]");
        let bench = &entry.item;
        let mut ok = self.file_name(&format!("{path}.name"), &bench.name, "a bench's name");

        let name = bench.name.get_ref().clone();
        if let Some((first, first_span)) = self.seen.bench_names.get(&name) {
            let line = self.problems.line_of(first_span);
            self.problems.at(
                &bench.name.span(),
                format!("{path}.name"),
                format!("duplicate bench name `{name}` (bench[{first}], line {line})"),
            );
            ok = false;
        } else {
            self.seen
                .bench_names
                .insert(name.clone(), (index, bench.name.span()));
            self.seen.bench_names_by_index.insert(index, name.clone());
        }

        let model = Model::parse(bench.model.get_ref().trim());
        if model.is_none() {
            let valid: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
            self.problems.at(
                &bench.model.span(),
                format!("{path}.model"),
                format!(
                    "unknown model `{}`, expected one of {}",
                    bench.model.get_ref(),
                    valid.join(", ")
                ),
            );
        }

        let mac = self.mac(&path, index, &bench.mac);
        let ip = self.ip(&path, index, &bench.ip);

        let web_port = match &bench.web_port {
            None => 80,
            Some(port) if *port.get_ref() == 0 => {
                self.problems.at(
                    &port.span(),
                    format!("{path}.web_port"),
                    "web_port 0 is not a port the phone's web UI can listen on (80 when omitted)",
                );
                ok = false;
                0
            }
            Some(port) => *port.get_ref(),
        };

        let power = self.relay_channel(&format!("{path}.power"), &bench.power, &raw.broken_boards);
        let network = match &bench.network {
            Some(link) => {
                let checked =
                    self.relay_channel(&format!("{path}.network"), link, &raw.broken_boards);
                ok &= checked.is_some();
                checked
            }
            None => None,
        };

        let keys = self.bench_keys(&path, index, bench, raw, keymaps);
        let usb = match &bench.usb {
            Some(usb) => {
                let checked = self.usb(&format!("{path}.usb"), usb.get_ref(), &usb.span());
                ok &= checked.is_some();
                checked
            }
            None => None,
        };

        if let Some(interface) = &bench.dhcp_interface {
            ok &= self.dhcp_interface(&path, index, interface);
        }

        let approved = match &bench.approved {
            Some(approved) => {
                let checked = self.approved(&path, bench.approval, approved);
                ok &= checked.is_some();
                checked
            }
            None => None,
        };

        let bench = Bench {
            name,
            model: model?,
            mac: mac?,
            ip: ip?,
            web_port,
            power: power?,
            network,
            actuator: bench.actuator.get_ref().clone(),
            keys: keys?,
            safe_power: match bench.safe_power {
                RawPowerState::On => PowerState::On,
                RawPowerState::Off => PowerState::Off,
            },
            approval: match bench.approval {
                RawApproval::None => Approval::None,
                RawApproval::Required => Approval::Required,
            },
            approved,
            usb,
        };
        ok.then_some(bench)
    }

    /// A twin phone's DHCP interface: a Linux interface name (1 to 15 characters, no
    /// whitespace, `/` or `:`), one phone per interface.
    fn dhcp_interface(&mut self, path: &str, index: usize, name: &Spanned<String>) -> bool {
        let text = name.get_ref();
        let usable = (1..=15).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | ':'))
            && text != "."
            && text != "..";
        if !usable {
            self.problems.at(
                &name.span(),
                format!("{path}.dhcp_interface"),
                format!(
                    "expected a network interface name (1 to 15 characters, no spaces, `/` or `:`), found `{text}`"
                ),
            );
            return false;
        }
        if let Some(first) = self.seen.dhcp_interfaces.get(text) {
            let first = self
                .seen
                .bench_names_by_index
                .get(first)
                .cloned()
                .unwrap_or_default();
            self.problems.at(
                &name.span(),
                format!("{path}.dhcp_interface"),
                format!("`{text}` is already the DHCP interface of bench `{first}`"),
            );
            return false;
        }
        self.seen.dhcp_interfaces.insert(text.clone(), index);
        true
    }

    /// `approved`: only on a bench that requires approval (elsewhere it would mean
    /// nothing, and a reader would take the bench for a guarded one), one line saying who
    /// approved, and at least one valid scenario pattern.
    fn approved(
        &mut self,
        path: &str,
        approval: RawApproval,
        approved: &Spanned<RawApproved>,
    ) -> Option<StandingApproval> {
        let key = format!("{path}.approved");
        let mut ok = true;
        if approval != RawApproval::Required {
            self.problems.at(
                &approved.span(),
                key.clone(),
                "`approved` needs `approval = \"required\"`: on a bench that needs no approval it records nothing",
            );
            ok = false;
        }
        let raw = approved.get_ref();
        let by = raw.by.get_ref().trim();
        if by.is_empty() || by.contains(['\n', '\r']) || by.len() > MAX_APPROVED_BY_BYTES {
            self.problems.at(
                &raw.by.span(),
                format!("{key}.by"),
                format!(
                    "who approved must be one line of 1 to {MAX_APPROVED_BY_BYTES} bytes (a name or a ticket)"
                ),
            );
            ok = false;
        }
        if raw.scenarios.get_ref().is_empty() {
            self.problems.at(
                &raw.scenarios.span(),
                format!("{key}.scenarios"),
                "an approval covers at least one scenario pattern",
            );
            ok = false;
        }
        for (i, pattern) in raw.scenarios.get_ref().iter().enumerate() {
            if let Err(e) = globset::Glob::new(pattern.get_ref()) {
                self.problems.at(
                    &pattern.span(),
                    format!("{key}.scenarios[{i}]"),
                    format!("`{}` is not a scenario pattern: {e}", pattern.get_ref()),
                );
                ok = false;
            }
        }
        ok.then(|| StandingApproval {
            by: by.to_string(),
            scenarios: raw
                .scenarios
                .get_ref()
                .iter()
                .map(|p| p.get_ref().clone())
                .collect(),
        })
    }

    /// A stick is either an image file or a sized block device, never both, and it is in
    /// one bench only: two benches writing one stick would overwrite each other's recovery
    /// package, and the case that reads the other's would fail for nothing in the firmware.
    fn usb(&mut self, path: &str, usb: &RawUsb, table_span: &Range<usize>) -> Option<UsbConfig> {
        let config = self.usb_shape(path, usb, table_span)?;
        let (key, text) = match (&config, &usb.image, &usb.device) {
            (UsbConfig::ImageFile { .. }, Some(image), _) => ("image", image),
            (UsbConfig::BlockDevice { .. }, _, Some(device)) => ("device", device),
            _ => return Some(config),
        };
        let file = match &config {
            UsbConfig::ImageFile { path } | UsbConfig::BlockDevice { path, .. } => path.clone(),
        };
        self.claim_device(
            &format!("{path}.{key}"),
            &file,
            text.span(),
            "a stick is in one phone's port, and two benches writing it would overwrite each other's recovery package",
        )
        .then_some(config)
    }

    fn usb_shape(
        &mut self,
        path: &str,
        usb: &RawUsb,
        table_span: &Range<usize>,
    ) -> Option<UsbConfig> {
        let empty = |text: &Spanned<String>| text.get_ref().trim().is_empty();
        match (&usb.image, &usb.device, &usb.size_mb) {
            // Relative to the lab file, as the twin reads it: the stick the harness writes
            // is the one the twin phone finds, whatever the current folder.
            (Some(image), None, None) if !empty(image) => Some(UsbConfig::ImageFile {
                path: self.base_dir.join(image.get_ref()),
            }),
            (None, Some(device), Some(size)) if !empty(device) && *size.get_ref() > 0 => {
                Some(UsbConfig::BlockDevice {
                    path: PathBuf::from(device.get_ref()),
                    size_mb: *size.get_ref(),
                })
            }
            (Some(_), Some(device), _) => {
                self.problems.at(
                    &device.span(),
                    format!("{path}.device"),
                    "a stick is either `image` or `device`, not both",
                );
                None
            }
            (Some(_), None, Some(size)) => {
                self.problems.at(
                    &size.span(),
                    format!("{path}.size_mb"),
                    "`size_mb` goes with `device`, not with `image`",
                );
                None
            }
            (None, Some(device), None) => {
                self.problems.at(
                    &device.span(),
                    format!("{path}.size_mb"),
                    "a block device needs `size_mb`: the stick's size, checked before every write",
                );
                None
            }
            (None, Some(_), Some(size)) if *size.get_ref() == 0 => {
                self.problems.at(
                    &size.span(),
                    format!("{path}.size_mb"),
                    "size_mb must be more than 0",
                );
                None
            }
            (Some(text), ..) | (None, Some(text), _) => {
                self.problems
                    .at(&text.span(), path.to_string(), "the path is empty");
                None
            }
            (None, None, _) => {
                self.problems.at(
                    table_span,
                    path.to_string(),
                    "expected `usb = { image = \"<file>\" }` or `usb = { device = \"<path>\", size_mb = <n> }`",
                );
                None
            }
        }
    }

    fn mac(&mut self, path: &str, index: usize, text: &Spanned<String>) -> Option<Mac> {
        let Some(mac) = Mac::parse(text.get_ref().trim()) else {
            self.problems.at(
                &text.span(),
                format!("{path}.mac"),
                format!("`{}` is not a MAC address (expected six hex bytes such as `00:15:65:4a:a9:37`)", text.get_ref()),
            );
            return None;
        };
        if let Some(problem) = station_problem(&mac) {
            self.problems.at(
                &text.span(),
                format!("{path}.mac"),
                format!(
                    "MAC {} is {problem}: a phone's MAC is the unicast address on its label",
                    mac.colons()
                ),
            );
            return None;
        }
        if let Some(first) = self.seen.macs.get(&mac) {
            let first_name = self.bench_name(*first);
            self.problems.at(
                &text.span(),
                format!("{path}.mac"),
                format!(
                    "MAC {} is already the MAC of bench `{first_name}` (bench[{first}])",
                    mac.colons()
                ),
            );
            return None;
        }
        self.seen.macs.insert(mac, index);
        Some(mac)
    }

    fn ip(&mut self, path: &str, index: usize, text: &Spanned<String>) -> Option<Ipv4Addr> {
        let ip = match text.get_ref().trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip,
            Ok(IpAddr::V6(_)) => {
                self.problems.at(
                    &text.span(),
                    format!("{path}.ip"),
                    format!(
                        "`{}` is an IPv6 address: T4x phones are addressed by IPv4",
                        text.get_ref()
                    ),
                );
                return None;
            }
            Err(_) => {
                self.problems.at(
                    &text.span(),
                    format!("{path}.ip"),
                    format!(
                        "`{}` is not an IPv4 address such as `192.168.10.41`",
                        text.get_ref()
                    ),
                );
                return None;
            }
        };
        let group = if ip.is_unspecified() {
            Some("the unspecified address")
        } else if ip.is_broadcast() {
            Some("the broadcast address")
        } else if ip.is_multicast() {
            Some("a multicast address")
        } else {
            None
        };
        if let Some(group) = group {
            self.problems.at(
                &text.span(),
                format!("{path}.ip"),
                format!("IP {ip} is {group}: a phone's address is one host's (the one its DHCP reservation gives it)"),
            );
            return None;
        }
        if let Some(first) = self.seen.ips.get(&ip) {
            let first_name = self.bench_name(*first);
            self.problems.at(
                &text.span(),
                format!("{path}.ip"),
                format!("IP {ip} is already the address of bench `{first_name}` (bench[{first}])"),
            );
            return None;
        }
        self.seen.ips.insert(ip, index);
        Some(ip)
    }

    /// Resolves a `{ board, channel }` reference and claims the channel for this use.
    fn relay_channel(
        &mut self,
        path: &str,
        raw: &RawRelayChannel,
        broken: &BTreeSet<String>,
    ) -> Option<RelayChannel> {
        let board_name = raw.board.get_ref();
        let channel = *raw.channel.get_ref();
        let Some(board) = self.boards.get(board_name) else {
            if !broken.contains(board_name) {
                self.problems.at(
                    &raw.board.span(),
                    format!("{path}.board"),
                    format!(
                        "no relay board named `{board_name}` ({})",
                        listing(
                            "relay boards",
                            self.boards.keys().map(String::as_str),
                            self.boards.len()
                        )
                    ),
                );
            }
            return None;
        };
        if let Some((actuator, actuator_path)) = self.seen.key_boards.get(board_name) {
            self.problems.at(
                &raw.board.span(),
                format!("{path}.board"),
                format!(
                    "relay board `{board_name}` presses the keys of actuator `{actuator}` ({actuator_path}): a board wired to keys must not switch power or network too"
                ),
            );
            return None;
        }
        let range = board.kind.channel_numbers(board.channels?);
        if !range.contains(&channel) {
            self.problems.at(
                &raw.channel.span(),
                format!("{path}.channel"),
                format!(
                    "channel {channel} does not exist on relay board `{board_name}` (it has channels {}-{})",
                    range.start(),
                    range.end()
                ),
            );
            return None;
        }
        let claim = (board_name.clone(), channel);
        if let Some((user, user_span)) = self.seen.relay_uses.get(&claim) {
            let line = self.problems.line_of(user_span);
            self.problems.at(
                &raw.channel.span(),
                format!("{path}.channel"),
                format!("channel {channel} of relay board `{board_name}` is already used by {user} (line {line})"),
            );
            return None;
        }
        self.seen
            .relay_uses
            .insert(claim, (path.to_string(), raw.channel.span()));
        Some(RelayChannel {
            board: board_name.clone(),
            channel,
        })
    }

    /// Resolves the bench's actuator and keymap, checks the keymap fits the actuator and
    /// does not press keys of another bench on a shared actuator.
    fn bench_keys(
        &mut self,
        path: &str,
        index: usize,
        bench: &RawBench,
        raw: &RawLab,
        keymaps: &BTreeMap<&str, &RawKeymap>,
    ) -> Option<BTreeMap<Key, u16>> {
        let actuator_name = bench.actuator.get_ref();
        let actuator_channels = match self.actuators.get(actuator_name) {
            Some(info) => info.channels,
            None => {
                if !raw.broken_actuators.contains(actuator_name) {
                    self.problems.at(
                        &bench.actuator.span(),
                        format!("{path}.actuator"),
                        format!(
                            "no actuator named `{actuator_name}` ({})",
                            listing(
                                "actuators",
                                self.actuators.keys().map(String::as_str),
                                self.actuators.len()
                            )
                        ),
                    );
                }
                None
            }
        };
        let keymap_name = bench.keymap.get_ref();
        let Some(keymap) = keymaps.get(keymap_name.as_str()) else {
            if !raw.broken_keymaps.contains(keymap_name) {
                self.problems.at(
                    &bench.keymap.span(),
                    format!("{path}.keymap"),
                    format!(
                        "no keymap named `{keymap_name}` ({})",
                        listing("keymaps", keymaps.keys().copied(), keymaps.len())
                    ),
                );
            }
            return None;
        };
        let channels = actuator_channels?;

        let pair = (keymap_name.clone(), actuator_name.clone());
        if !self.seen.keymap_fits.contains(&pair) {
            self.seen.keymap_fits.insert(pair);
            let bench_name = bench.name.get_ref();
            for binding in keymap.bindings.iter().filter(|b| b.channel > channels) {
                self.problems.at(
                    &binding.channel_span,
                    join_key(&join_key("keymap", keymap_name), &binding.key),
                    format!(
                        "channel {} is outside actuator `{actuator_name}` (it has channels 1-{channels}), which bench `{bench_name}` ({path}) drives with this keymap",
                        binding.channel
                    ),
                );
            }
        }

        // Benches may share an actuator only on distinct channels: one output is one key of
        // one phone.
        let used: BTreeSet<u16> = keymap.bindings.iter().map(|b| b.channel).collect();
        let mut overlap: Option<(usize, u16)> = None;
        for channel in used {
            let claim = (actuator_name.clone(), channel);
            match self.seen.actuator_uses.get(&claim) {
                Some(other) => {
                    // The earliest bench it clashes with, at its lowest shared channel.
                    if overlap.is_none_or(|(first, _)| *other < first) {
                        overlap = Some((*other, channel));
                    }
                }
                None => {
                    self.seen.actuator_uses.insert(claim, index);
                }
            }
        }
        if let Some((other, channel)) = overlap {
            let other_name = self.bench_name(other);
            self.problems.at(
                &bench.actuator.span(),
                format!("{path}.actuator"),
                format!(
                    "channel {channel} of actuator `{actuator_name}` already presses a key of bench `{other_name}` (bench[{other}]); benches sharing an actuator need keymaps on distinct channels"
                ),
            );
            return None;
        }

        Some(
            keymap
                .bindings
                .iter()
                .map(|b| (Key(b.key.clone()), b.channel))
                .collect(),
        )
    }

    fn channel_count(&mut self, path: &str, channels: &Spanned<u16>) -> Option<u16> {
        let count = *channels.get_ref();
        if (1..=MAX_CHANNELS).contains(&count) {
            return Some(count);
        }
        self.problems.at(
            &channels.span(),
            path,
            format!("channels must be 1 to {MAX_CHANNELS}, found {count}"),
        );
        None
    }

    fn non_empty(&mut self, path: &str, text: &Spanned<String>, what: &str) -> bool {
        if !text.get_ref().trim().is_empty() {
            return true;
        }
        self.problems
            .at(&text.span(), path, format!("{what} must not be empty"));
        false
    }

    fn non_empty_path(&mut self, path: &str, port: &Spanned<PathBuf>) -> bool {
        if !port.get_ref().as_os_str().is_empty() {
            return true;
        }
        self.problems.at(
            &port.span(),
            path,
            "the serial port path must not be empty (use the board's /dev/serial/by-id link)",
        );
        false
    }

    fn bench_name(&self, index: usize) -> String {
        self.seen
            .bench_names_by_index
            .get(&index)
            .cloned()
            .unwrap_or_default()
    }

    /// A name that becomes a file name (a lease, a TFTP folder, a run folder's files):
    /// non-empty, then in the one safe alphabet of `name.rs`.
    fn file_name(&mut self, path: &str, text: &Spanned<String>, what: &str) -> bool {
        if !self.non_empty(path, text, what) {
            return false;
        }
        let Some(message) = unsafe_name_message(what, text.get_ref()) else {
            return true;
        };
        self.problems.at(&text.span(), path, message);
        false
    }

    /// The lab's name is shown, not used as a file name: one line of every report and
    /// listing, so no control characters and no more than a name's length.
    fn lab_name(&mut self, name: &Spanned<String>) -> bool {
        if !self.non_empty("lab.name", name, "the lab's name") {
            return false;
        }
        let text = name.get_ref();
        let length = text.chars().count();
        let problem = if let Some(c) = text.chars().find(|c| c.is_control()) {
            format!(
                "the lab's name holds the control character `{}`: it is one line of every report",
                c.escape_debug()
            )
        } else if length > NAME_MAX_LEN {
            format!(
                "the lab's name has {length} characters, at most {NAME_MAX_LEN} fit a report's title"
            )
        } else {
            return true;
        };
        self.problems.at(&name.span(), "lab.name", problem);
        false
    }
}

/// A number as a message shows it: `1e-300`, not three hundred zeros.
fn shown_number(value: f64) -> String {
    let magnitude = value.abs();
    if value.is_finite() && value != 0.0 && !(1e-4..1e6).contains(&magnitude) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Why a MAC cannot be one phone's own address, if it cannot: the phone's provisioning file
/// and its DHCP reservation are keyed by it, and no phone sends from a group address.
fn station_problem(mac: &Mac) -> Option<&'static str> {
    if mac.0 == [0xff; 6] {
        Some("the broadcast address")
    } else if mac.0[0] & 0x01 != 0 {
        Some("a multicast address (the lowest bit of its first byte is set)")
    } else if mac.0 == [0; 6] {
        Some("all zeros, no device's address")
    } else {
        None
    }
}

/// `relay boards: `a`, `b`` or `no relay boards are defined`, for "does not exist" messages;
/// past `MAX_LISTED_NAMES` names, how many more there are.
fn listing<'n>(what: &str, names: impl Iterator<Item = &'n str>, total: usize) -> String {
    if total == 0 {
        return format!("no {what} are defined");
    }
    let quoted: Vec<String> = names
        .take(MAX_LISTED_NAMES)
        .map(|n| format!("`{n}`"))
        .collect();
    let more = total.saturating_sub(quoted.len());
    if more == 0 {
        format!("{what}: {}", quoted.join(", "))
    } else {
        format!("{what}: {} and {more} more", quoted.join(", "))
    }
}
