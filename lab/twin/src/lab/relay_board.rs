//! `[[relay_board]]`: the boards that switch power, network cables or keys. The virtual
//! bench builds LCUS and Numato boards on pseudo-terminals; the kinds a real rack adds
//! (USB-HID relays, YKUSH hubs, pdudaemon PDUs) are read and checked, then set aside.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::checker::{Checker, unique};
use super::count::{self, Countable};
use super::{LabError, OtherBoard, RelayKind, TwinRelayBoard};

/// Relay boards sold for labs have at most 64 outputs; more is a typo.
pub(super) const MAX_CHANNELS: u16 = 64;
const YKUSH_PORTS: u16 = 3;
const MAX_HID_RELAYS: u16 = 8;
const MAX_PDU_TIMEOUT_S: i64 = 600;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelayBoard {
    name: String,
    kind: String,
    port: Option<PathBuf>,
    channels: Option<i64>,
    frame: Option<RawLcusFrame>,
    serial: Option<String>,
    url: Option<String>,
    pdu: Option<String>,
    timeout_s: Option<i64>,
    /// How many boards this entry stands for (`count.rs`).
    count: Option<i64>,
}

/// Read so that a board with other frame bytes is accepted; the twin's LCUS board speaks
/// the common frame only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the values are checked by the type; the twin does not use them
struct RawLcusFrame {
    header: Option<u8>,
    on: Option<u8>,
    off: Option<u8>,
}

impl Countable for RawRelayBoard {
    fn count(&self) -> Option<i64> {
        self.count
    }

    fn copy(&self, n: u32) -> Result<RawRelayBoard, String> {
        let mut copy = self.clone();
        copy.name = count::name(&self.name, n);
        copy.port = self.port.as_deref().map(|p| count::path(p, n));
        Ok(copy)
    }
}

/// Every board of the file: the ones the virtual bench builds, and the others.
pub(super) struct Boards {
    pub(super) built: Vec<TwinRelayBoard>,
    pub(super) other: Vec<OtherBoard>,
}

impl Boards {
    /// The channels printed on the board named `name`, if there is one.
    pub(super) fn channel_range(&self, name: &str) -> Option<std::ops::RangeInclusive<u16>> {
        if let Some(board) = self.built.iter().find(|b| b.name == name) {
            return Some(board.channel_range());
        }
        self.other
            .iter()
            .find(|b| b.name == name)
            .map(|b| 1..=b.channels)
    }
}

pub(super) fn read(
    check: &mut Checker,
    raw: &[(usize, RawRelayBoard)],
    base_dir: &Path,
) -> Result<Boards, LabError> {
    unique(
        check,
        "relay_board",
        raw.iter().map(|(_, b)| b.name.as_str()),
    )?;
    let mut boards = Boards {
        built: Vec::new(),
        other: Vec::new(),
    };
    // `index` is the entry's place in the file: the copies of a `count` share it.
    for &(index, ref board) in raw {
        let key = |field: &str| format!("relay_board[{index}].{field}");
        check.file_name(key("name"), &board.name)?;
        let kind = board.kind.as_str();
        let serial_device = matches!(kind, "lcus" | "numato");
        if !matches!(
            kind,
            "lcus" | "numato" | "usb-hid-relay" | "ykush" | "pdudaemon"
        ) {
            return Err(check.invalid(
                key("kind"),
                format!("expected `lcus`, `numato`, `usb-hid-relay`, `ykush` or `pdudaemon`, found `{kind}`"),
            ));
        }
        if kind != "lcus" {
            check.refuse_present(key("frame"), &board.frame, "applies to LCUS boards only")?;
        }
        if !matches!(kind, "usb-hid-relay" | "ykush") {
            check.refuse_present(
                key("serial"),
                &board.serial,
                "applies to `usb-hid-relay` and `ykush` boards only",
            )?;
        }
        if kind != "pdudaemon" {
            let why = "applies to `pdudaemon` boards only";
            check.refuse_present(key("url"), &board.url, why)?;
            check.refuse_present(key("pdu"), &board.pdu, why)?;
            check.refuse_present(key("timeout_s"), &board.timeout_s, why)?;
        }
        let channels = match (kind, board.channels) {
            ("ykush", None) => YKUSH_PORTS,
            ("ykush", Some(n)) if n != i64::from(YKUSH_PORTS) => {
                return Err(check.invalid(key("channels"), "a YKUSH has 3 ports"));
            }
            ("usb-hid-relay", Some(n)) => check.count(key("channels"), n, MAX_HID_RELAYS)?,
            (_, Some(n)) => check.count(key("channels"), n, MAX_CHANNELS)?,
            (_, None) => return Err(check.invalid(key("channels"), "missing")),
        };
        if serial_device {
            let port = board.port.as_ref().ok_or_else(|| {
                check.invalid(
                    key("port"),
                    format!("a `{kind}` board needs its serial device"),
                )
            })?;
            if port.as_os_str().is_empty() {
                return Err(check.invalid(key("port"), "must not be empty"));
            }
            check.claim_device(key("port"), port)?;
            boards.built.push(TwinRelayBoard {
                name: board.name.clone(),
                kind: if kind == "lcus" {
                    RelayKind::Lcus
                } else {
                    RelayKind::Numato
                },
                port: base_dir.join(port),
                channels,
            });
            continue;
        }
        check.refuse_present(key("port"), &board.port, "this kind has no serial port")?;
        let address = match kind {
            "pdudaemon" => {
                let text = |field: &str, value: &Option<String>| {
                    value
                        .as_deref()
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .ok_or_else(|| check.invalid(key(field), "a `pdudaemon` board needs it"))
                };
                let url = text("url", &board.url)?;
                let pdu = text("pdu", &board.pdu)?;
                if let Some(timeout) = board.timeout_s
                    && !(1..=MAX_PDU_TIMEOUT_S).contains(&timeout)
                {
                    return Err(check.invalid(
                        key("timeout_s"),
                        format!("expected 1 to {MAX_PDU_TIMEOUT_S}, found {timeout}"),
                    ));
                }
                format!("{url} pdu {pdu}")
            }
            // Found on the USB bus: by serial, or as the only one plugged in.
            _ => {
                let serial = board
                    .serial
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty());
                format!("{kind}, serial {}", serial.unwrap_or("(the only one)"))
            }
        };
        check.claim_board_address(format!("relay_board[{index}]"), address)?;
        boards.other.push(OtherBoard {
            name: board.name.clone(),
            kind: kind.to_string(),
            channels,
        });
    }
    Ok(boards)
}
