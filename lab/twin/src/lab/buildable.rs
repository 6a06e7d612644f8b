//! What the virtual bench builds, on top of what the lab-file format allows: twin phones on
//! loopback (or on a DHCP interface), LCUS and Numato boards it can publish, serial actuators. A lab beyond that
//! is refused here with the key to change, instead of starting a bench whose phones could
//! never be powered or pressed (a case that fails for that reason would read as a fail of
//! the firmware).

use super::{LabError, LabFile, RelayKind};

/// Largest Numato board the virtual bench builds (one-digit relay ids).
const NUMATO_MAX_CHANNELS: u16 = 32;

pub(super) fn check(lab: &LabFile) -> Result<(), LabError> {
    let invalid = |key: String, problem: String| LabError::Invalid {
        file: lab.source.clone(),
        key,
        problem,
    };
    for (index, board) in lab.relay_boards.iter().enumerate() {
        if board.kind == RelayKind::Numato && board.channels > NUMATO_MAX_CHANNELS {
            return Err(invalid(
                format!("relay_board[{index}].channels"),
                format!(
                    "the virtual bench builds Numato boards of up to {NUMATO_MAX_CHANNELS} channels, found {}",
                    board.channels
                ),
            ));
        }
    }
    for bench in &lab.benches {
        let index = bench.entry;
        if !bench.ip.is_loopback() && bench.dhcp_interface.is_none() {
            return Err(invalid(
                format!("bench[{index}].ip"),
                format!(
                    "twin phones live on 127.0.0.0/8 unless they ask DHCP on an interface \
                     (`dhcp_interface`); found `{}`",
                    bench.ip
                ),
            ));
        }
        let wired = std::iter::once(("power", &bench.power))
            .chain(bench.network.as_ref().map(|n| ("network", n)));
        for (field, relay) in wired {
            if let Some(other) = lab.other_boards.iter().find(|b| b.name == relay.board) {
                return Err(invalid(
                    format!("bench[{index}].{field}.board"),
                    format!(
                        "the virtual bench builds `lcus` and `numato` boards, not `{}` (`{}`)",
                        other.kind, other.name
                    ),
                ));
            }
        }
        if lab.relay_actuators.iter().any(|a| a.name == bench.actuator) {
            return Err(invalid(
                format!("bench[{index}].actuator"),
                format!(
                    "the virtual bench presses keys with serial actuators only; `{}` is a relay actuator",
                    bench.actuator
                ),
            ));
        }
    }
    Ok(())
}
