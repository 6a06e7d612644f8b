//! `[keymap.<name>]`: which actuator channel presses which key. A keymap must bind every
//! key the harness presses, or a scenario could stop half-way; the twin refuses what the
//! harness refuses.

use std::collections::BTreeMap;

use super::checker::Checker;
use super::{KEY_NAMES, LabError};

/// The keys the harness presses in its scenarios and recovery procedures.
const HARNESS_KEYS: [&str; 19] = [
    "speaker", "ok", "cancel", "f1", "f2", "f3", "f4", "0", "1", "2", "3", "4", "5", "6", "7", "8",
    "9", "star", "pound",
];

/// Each keymap as actuator channel to key name.
pub(super) type Keymaps = BTreeMap<String, BTreeMap<u16, String>>;

pub(super) fn read(
    check: &Checker,
    raw: &BTreeMap<String, BTreeMap<String, i64>>,
) -> Result<Keymaps, LabError> {
    let mut keymaps = Keymaps::new();
    for (map_name, map) in raw {
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
        let missing: Vec<&str> = HARNESS_KEYS
            .into_iter()
            .filter(|key| !map.contains_key(*key))
            .collect();
        if !missing.is_empty() {
            return Err(check.invalid(
                format!("keymap.{map_name}"),
                format!("missing keys the harness presses: {}", missing.join(", ")),
            ));
        }
        keymaps.insert(map_name.clone(), by_channel);
    }
    Ok(keymaps)
}
