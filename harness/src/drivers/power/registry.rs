//! What a relay-board kind is, and how the lab file and the drivers find one in
//! [`RELAY_KINDS`].
//!
//! A kind is one file of this folder: its lab-file name, the keys it reads from its
//! `[[relay_board]]` entry and their checks, its channel numbering and how it opens. The
//! lab-file checks and [`crate::drivers::open_power_switch`] ask the kind and never list the
//! kinds themselves, so no two places can disagree about, say, where a board's channels
//! start.

use std::ops::RangeInclusive;
use std::sync::LazyLock;

use crate::drivers::{DeviceRef, DriverError, PowerSwitch};
use crate::lab::relay_entry::{OwnKeys, RelayEntry};
use crate::lab::{RelayBoard, RelayKind};

use super::RELAY_KINDS;

/// One kind of relay board: everything the harness knows about it apart from its protocol.
pub trait RelayBoardKind: Sync {
    /// Its `kind = "..."` in the lab file.
    fn name(&self) -> &'static str;

    /// The lowest channel number, as printed on the board.
    fn first_channel(&self) -> u16 {
        1
    }

    /// The channels of a board of this kind with `count` relays (none when `count` is 0).
    fn channel_numbers(&self, count: u16) -> RangeInclusive<u16> {
        let first = self.first_channel();
        match count.checked_sub(1) {
            Some(last) => first..=first.saturating_add(last),
            // A board without relays has no channel, whatever its first number.
            #[expect(clippy::reversed_empty_ranges, reason = "empty on purpose")]
            None => 1..=0,
        }
    }

    /// How the harness reaches a board of this kind.
    fn reach(&self) -> Reach;

    /// The keys of a `[[relay_board]]` entry this kind reads besides `name`, `kind`, `port`
    /// and `channels`; any other kind's key in its entry is refused.
    fn own_keys(&self) -> &'static [BoardKey] {
        &[]
    }

    /// Reads and checks `channels`: by default required, 1 to [`MAX_CHANNELS`].
    ///
    /// [`MAX_CHANNELS`]: crate::lab::relay_entry::MAX_CHANNELS
    fn channels(&self, entry: &mut RelayEntry<'_, '_, '_>) -> Option<u16> {
        entry.required_channels()
    }

    /// Reads and checks this kind's own keys (those of [`Self::own_keys`] that the entry has)
    /// into its settings; `None` once a problem is recorded.
    fn settings(&self, keys: &mut OwnKeys<'_, '_, '_, '_>) -> Option<RelayKind>;

    /// Where a board of this kind without a serial port is found (its USB ids and serial,
    /// its PDU), for messages and for telling two entries of one board apart; `kind` holds
    /// the settings this kind's [`Self::settings`] made.
    fn address(&self, _kind: &RelayKind) -> Option<String> {
        None
    }

    /// Opens the driver of a checked board of this kind; switches nothing.
    fn open(&self, board: &RelayBoard) -> Result<Box<dyn PowerSwitch>, DriverError>;
}

/// How a board is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Through its serial port: `port` is required.
    SerialPort,
    /// Not through a serial port (a `port` is refused); says how, for that message.
    Elsewhere(&'static str),
}

/// A kind-specific key of a `[[relay_board]]` entry.
#[derive(Debug, Clone, Copy)]
pub struct BoardKey {
    /// The key as written.
    pub name: &'static str,
    /// The message when a board of another kind (named by the argument) has the key;
    /// `None` says which kinds use it.
    pub refusal: Option<fn(&str) -> String>,
}

impl BoardKey {
    /// A key whose refusal names the kinds that use it.
    pub const fn new(name: &'static str) -> BoardKey {
        BoardKey {
            name,
            refusal: None,
        }
    }
}

/// The kind named `name` in a lab file.
pub fn kind_named(name: &str) -> Option<&'static dyn RelayBoardKind> {
    RELAY_KINDS.iter().copied().find(|kind| kind.name() == name)
}

/// The kinds' names, in list order (for serde's "unknown variant" message).
pub fn kind_names() -> &'static [&'static str] {
    static NAMES: LazyLock<Vec<&'static str>> =
        LazyLock::new(|| RELAY_KINDS.iter().map(|kind| kind.name()).collect());
    &NAMES
}

/// Every kind-specific key of any kind, each once, in list order (after the common keys,
/// for the "unknown field" message and the refusals).
pub fn all_own_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for key in RELAY_KINDS.iter().flat_map(|kind| kind.own_keys()) {
        if !keys.contains(&key.name) {
            keys.push(key.name);
        }
    }
    keys
}

/// The message for `key` in the entry of a `kind_name` board whose kind does not use it.
pub fn refusal(key: &str, kind_name: &str) -> String {
    let owners: Vec<(&'static str, &BoardKey)> = RELAY_KINDS
        .iter()
        .flat_map(|kind| {
            kind.own_keys()
                .iter()
                .filter(|own| own.name == key)
                .map(|own| (kind.name(), own))
        })
        .collect();
    if let Some(refusal) = owners.iter().find_map(|(_, own)| own.refusal) {
        return refusal(kind_name);
    }
    let names: Vec<String> = owners.iter().map(|(name, _)| format!("`{name}`")).collect();
    match names.split_last() {
        Some((only, [])) => {
            format!("`{key}` applies to {only} boards only, not to a `{kind_name}` board")
        }
        Some((last, rest)) => format!(
            "`{key}` applies to {} and {last} boards, not to a `{kind_name}` board",
            rest.join(", ")
        ),
        None => format!("`{key}` applies to no relay board kind"),
    }
}

/// How a USB board is found, for the message refusing its `port`.
pub(crate) const ON_THE_USB_BUS: &str =
    "it is found on the USB bus, by its `serial` when there are several";

/// A board whose checked settings are another kind's than the entry it was opened by:
/// only a hand-built `RelayBoard` can be one, and it is refused rather than guessed at.
pub(crate) fn settings_mismatch(kind: &dyn RelayBoardKind, board: &RelayBoard) -> DriverError {
    DriverError::Unsupported {
        device: Box::new(DeviceRef::relay_board(board)),
        request: format!("open it as a `{}` board", kind.name()),
        reason: format!("its settings are not a `{}` board's", kind.name()),
    }
}

/// Which of several boards of one USB kind is meant: the settings of the USB-HID relay and
/// YKUSH kinds, which are found on the USB bus rather than at a port.
#[derive(Debug, Clone, PartialEq)]
pub struct UsbSelection {
    /// The board's USB serial number; `None` takes the only board plugged in.
    pub serial: Option<String>,
}

impl UsbSelection {
    /// Reads `serial`: trimmed, and `None` when absent or blank (then the only board
    /// plugged in is taken); `None` overall once a wrong type is recorded.
    pub(crate) fn read(keys: &mut OwnKeys<'_, '_, '_, '_>) -> Option<UsbSelection> {
        let serial = keys.get::<String>("serial").ok()?;
        Some(UsbSelection {
            serial: serial
                .map(|serial| serial.get_ref().trim().to_string())
                .filter(|serial| !serial.is_empty()),
        })
    }

    /// `serial 1234` or `the only one plugged in`, for a USB board's address.
    pub(crate) fn shown(&self) -> String {
        match &self.serial {
            Some(serial) => format!("serial {serial}"),
            None => "the only one plugged in".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_unique_and_found_by_name() {
        for name in kind_names() {
            assert_eq!(kind_named(name).map(|kind| kind.name()), Some(*name));
        }
        let unique: std::collections::BTreeSet<&str> = kind_names().iter().copied().collect();
        assert_eq!(unique.len(), RELAY_KINDS.len());
        assert!(kind_named("hid").is_none());
    }

    #[test]
    fn numato_counts_from_0_and_every_other_kind_from_1() {
        for kind in RELAY_KINDS {
            let first = if kind.name() == "numato" { 0 } else { 1 };
            assert_eq!(kind.first_channel(), first, "{}", kind.name());
            assert_eq!(
                kind.channel_numbers(4),
                first..=first + 3,
                "{}",
                kind.name()
            );
            assert!(kind.channel_numbers(0).is_empty(), "{}", kind.name());
        }
    }

    #[test]
    fn an_unknown_kind_gets_serdes_message_listing_the_registered_kinds() {
        #[derive(Debug, serde::Deserialize)]
        struct Entry {
            #[expect(dead_code, reason = "only the refusal is looked at")]
            kind: crate::lab::raw::RawRelayKind,
        }
        let error = toml::from_str::<Entry>("kind = \"hid\"\n").unwrap_err();
        assert!(
            error.message().contains(
                "unknown variant `hid`, expected one of `lcus`, `numato`, `usb-hid-relay`, `ykush`, `pdudaemon`"
            ),
            "{error}"
        );
    }

    /// A hand-built board whose settings are another kind's is refused, never opened as
    /// something else.
    #[test]
    fn a_kind_refuses_to_open_another_kinds_settings() {
        let board = RelayBoard {
            name: "mixed".into(),
            kind: RelayKind::new(&super::super::numato::NUMATO, ()),
            port: None,
            channels: 4,
        };
        for kind in RELAY_KINDS.iter().filter(|kind| kind.name() != "numato") {
            let Err(error) = kind.open(&board) else {
                panic!("`{}` opened Numato settings", kind.name());
            };
            assert!(
                matches!(error, DriverError::Unsupported { .. }) && !error.is_lab_fault(),
                "{}: {error}",
                kind.name()
            );
        }
    }

    #[test]
    fn a_key_shared_by_two_kinds_names_both_in_its_refusal() {
        assert_eq!(
            refusal("serial", "lcus"),
            "`serial` applies to `usb-hid-relay` and `ykush` boards, not to a `lcus` board"
        );
        assert_eq!(
            refusal("pdu", "ykush"),
            "`pdu` applies to `pdudaemon` boards only, not to a `ykush` board"
        );
        assert_eq!(
            all_own_keys(),
            ["frame", "serial", "url", "pdu", "timeout_s"]
        );
    }
}
