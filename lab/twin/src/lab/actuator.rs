//! `[[actuator]]`: what presses a bench's keys. A serial actuator (lab/actuator/
//! PROTOCOL.md) is built on a pseudo-terminal; keys pressed by the relays of a relay board
//! are read and checked, and the virtual bench refuses to start a bench wired that way
//! (`buildable.rs`) rather than leave its keys unpressed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::checker::{Checker, unique};
use super::count::{self, Countable};
use super::relay_board::{Boards, MAX_CHANNELS};
use super::{LabError, RelayActuator, TwinActuator};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawActuator {
    name: String,
    kind: Option<String>,
    port: Option<PathBuf>,
    channels: Option<i64>,
    relay_board: Option<String>,
    relays: Option<Vec<i64>>,
    /// How many actuators this entry stands for (`count.rs`).
    count: Option<i64>,
}

impl Countable for RawActuator {
    fn count(&self) -> Option<i64> {
        self.count
    }

    fn copy(&self, n: u32) -> Result<RawActuator, String> {
        let mut copy = self.clone();
        copy.name = count::name(&self.name, n);
        copy.port = self.port.as_deref().map(|p| count::path(p, n));
        copy.relay_board = self.relay_board.as_deref().map(|b| count::name(b, n));
        Ok(copy)
    }
}

/// Every actuator of the file, by kind.
pub(super) struct Actuators {
    pub(super) serial: Vec<TwinActuator>,
    pub(super) relay: Vec<RelayActuator>,
}

impl Actuators {
    /// The channel count of the actuator named `name`, if there is one.
    pub(super) fn channels(&self, name: &str) -> Option<u16> {
        if let Some(actuator) = self.serial.iter().find(|a| a.name == name) {
            return Some(actuator.channels);
        }
        self.relay
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| u16::try_from(a.relays.len()).ok())
    }
}

pub(super) fn read(
    check: &mut Checker,
    raw: &[(usize, RawActuator)],
    boards: &Boards,
    base_dir: &Path,
) -> Result<Actuators, LabError> {
    unique(check, "actuator", raw.iter().map(|(_, a)| a.name.as_str()))?;
    let mut actuators = Actuators {
        serial: Vec::new(),
        relay: Vec::new(),
    };
    // `index` is the entry's place in the file: the copies of a `count` share it.
    for &(index, ref actuator) in raw {
        let key = |field: &str| format!("actuator[{index}].{field}");
        check.file_name(key("name"), &actuator.name)?;
        match actuator.kind.as_deref().unwrap_or("serial") {
            "serial" => {
                let why = "applies to actuators of `kind = \"relay\"` only";
                check.refuse_present(key("relay_board"), &actuator.relay_board, why)?;
                check.refuse_present(key("relays"), &actuator.relays, why)?;
                let port = actuator.port.as_ref().ok_or_else(|| {
                    check.invalid(key("port"), "a serial actuator needs its port")
                })?;
                if port.as_os_str().is_empty() {
                    return Err(check.invalid(key("port"), "must not be empty"));
                }
                check.claim_device(key("port"), port)?;
                let channels = actuator
                    .channels
                    .ok_or_else(|| check.invalid(key("channels"), "missing"))?;
                let channels = check.count(key("channels"), channels, MAX_CHANNELS)?;
                actuators.serial.push(TwinActuator {
                    name: actuator.name.clone(),
                    port: base_dir.join(port),
                    channels,
                });
            }
            "relay" => {
                let why = "a relay actuator has no such key: its relay board is the device";
                check.refuse_present(key("port"), &actuator.port, why)?;
                check.refuse_present(key("channels"), &actuator.channels, why)?;
                let relay_actuator = relay_keys(check, index, actuator, boards)?;
                actuators.relay.push(relay_actuator);
            }
            other => {
                return Err(check.invalid(
                    key("kind"),
                    format!("expected `serial` or `relay`, found `{other}`"),
                ));
            }
        }
    }
    Ok(actuators)
}

/// A relay actuator's board and relays, claimed so that no bench powers or switches a
/// phone through a relay that presses a key.
fn relay_keys(
    check: &mut Checker,
    index: usize,
    actuator: &RawActuator,
    boards: &Boards,
) -> Result<RelayActuator, LabError> {
    let key = |field: &str| format!("actuator[{index}].{field}");
    let board = actuator
        .relay_board
        .as_ref()
        .ok_or_else(|| check.invalid(key("relay_board"), "a relay actuator needs it"))?;
    let relays = actuator
        .relays
        .as_ref()
        .ok_or_else(|| check.invalid(key("relays"), "a relay actuator needs it"))?;
    let range = boards.channel_range(board).ok_or_else(|| {
        check.invalid(
            key("relay_board"),
            format!("no [[relay_board]] is named `{board}`"),
        )
    })?;
    if relays.is_empty() {
        return Err(check.invalid(key("relays"), "must list at least one relay"));
    }
    let mut seen = BTreeSet::new();
    let mut checked = Vec::new();
    for &relay in relays {
        let number = u16::try_from(relay)
            .ok()
            .filter(|r| range.contains(r))
            .ok_or_else(|| {
                check.invalid(
                    key("relays"),
                    format!("relay {relay} does not exist on `{board}`"),
                )
            })?;
        if !seen.insert(number) {
            return Err(check.invalid(key("relays"), format!("relay {relay} is listed twice")));
        }
        check.claim_relay(key("relays"), board, number)?;
        checked.push(number);
    }
    check
        .key_boards
        .entry(board.clone())
        .or_insert_with(|| actuator.name.clone());
    Ok(RelayActuator {
        name: actuator.name.clone(),
        relay_board: board.clone(),
        relays: checked,
    })
}
