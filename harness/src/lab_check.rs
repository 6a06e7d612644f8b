//! `harness lab check`: every device of every bench opened and read, nothing switched or
//! pressed, so a wiring or permission problem shows before a run.
//!
//! It goes through the bench lifecycle like everything else that touches a bench: a bench
//! another process holds is reported as in use (and its devices, which that process has
//! open, are not touched); a free bench is claimed while it is read, so no run starts on it
//! halfway; a journal left by a crashed run is reported, not replayed (replaying switches).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::drivers::media::BlockDevice;
use crate::lab::{Bench, Lab, UsbConfig};
use crate::outcome::exit_code;
use crate::rack::Rack;
use crate::safety::lock::LockWait;
use crate::safety::owned::{Claim, ClaimError, claim};

/// Whether a device could be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// It answered.
    Found,
    /// It is missing or did not answer, as the driver explains it.
    Missing(String),
    /// Another process holds the bench (or a bench sharing the device): not touched.
    InUse(String),
}

/// One line of `lab check`: one device of one bench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCheck {
    /// The bench the device belongs to.
    pub bench: String,
    /// Its role and lab-file name (`power relay-power/1`, `actuator keys-t40p`, `usb`).
    pub device: String,
    /// Where it is looked for: serial port, USB ids, URL or file.
    pub address: String,
    /// Whether it answered.
    pub presence: Presence,
    /// What could be read: relay on/off, held keys, the stick.
    pub state: String,
}

/// Claims every free bench, reads each device once, and gives the benches up untouched.
pub async fn check_lab(lab: &Lab, lock_dir: &Path) -> Vec<DeviceCheck> {
    let mut claims: Vec<Claim> = Vec::new();
    let mut busy: Vec<(&Bench, String)> = Vec::new();
    for bench in &lab.benches {
        match claim(lock_dir, bench, "lab check", LockWait::NoWait, |_| {}).await {
            Ok(c) => claims.push(c),
            Err(ClaimError::Busy(e)) => busy.push((bench, e.to_string())),
            Err(e) => busy.push((bench, format!("cannot be claimed: {e}"))),
        }
    }
    // Devices a busy bench uses are open in its owner: opening them here would fail, or
    // take them from under it.
    let held_elsewhere: BTreeSet<&str> = busy
        .iter()
        .flat_map(|(bench, _)| device_names(bench))
        .collect();
    let free: Vec<&Bench> = claims.iter().map(Claim::bench).collect();
    let rack = Rack::open_except(lab, &free, &held_elsewhere);

    let mut rows = Vec::new();
    for bench in &lab.benches {
        if let Some((_, why)) = busy.iter().find(|(b, _)| b.name == bench.name) {
            rows.push(row(
                bench,
                "bench".into(),
                String::new(),
                Presence::InUse(why.clone()),
                "-",
            ));
            continue;
        }
        rows.extend(read_bench(lab, &rack, bench, &held_elsewhere).await);
        if let Some(claimed) = claims.iter().find(|c| c.bench().name == bench.name) {
            match claimed.leftover() {
                Ok(left) if left.is_empty() => {}
                Ok(_) => rows.push(row(
                    bench,
                    "journal".into(),
                    String::new(),
                    Presence::Found,
                    "left by a crashed or unsafe run: the next run or hand command makes the \
                     bench safe first",
                )),
                Err(e) => rows.push(row(
                    bench,
                    "journal".into(),
                    String::new(),
                    Presence::Missing(e.to_string()),
                    "-",
                )),
            }
        }
    }
    drop(rack);
    for claimed in claims {
        claimed.give_up();
    }
    rows
}

/// The lab-file names of the boards and actuator a bench uses.
fn device_names(bench: &Bench) -> impl Iterator<Item = &str> {
    std::iter::once(bench.power.board.as_str())
        .chain(bench.network.as_ref().map(|n| n.board.as_str()))
        .chain(std::iter::once(bench.actuator.as_str()))
}

/// The rows a bench's devices take, with their addresses, before anything is read.
fn device_rows(lab: &Lab, bench: &Bench) -> Vec<(String, String)> {
    let board_address = |name: &str| {
        lab.relay_boards
            .iter()
            .find(|b| b.name == name)
            .map_or_else(String::new, |b| b.address())
    };
    let mut out = vec![(
        format!("power {}/{}", bench.power.board, bench.power.channel),
        board_address(&bench.power.board),
    )];
    if let Some(link) = &bench.network {
        out.push((
            format!("network {}/{}", link.board, link.channel),
            board_address(&link.board),
        ));
    }
    let actuator_address = lab
        .actuators
        .iter()
        .find(|a| a.name == bench.actuator)
        .map_or_else(String::new, |a| a.address());
    out.push((format!("actuator {}", bench.actuator), actuator_address));
    out
}

/// Why a device shared with a bench in use is not read.
const SHARED_IN_USE: &str = "shared with a bench in use: that process has it open";

async fn read_bench(
    lab: &Lab,
    rack: &Rack,
    bench: &Bench,
    held_elsewhere: &BTreeSet<&str>,
) -> Vec<DeviceCheck> {
    let mut rows = Vec::new();
    let links = std::iter::once(&bench.power).chain(bench.network.as_ref());
    for ((device, address), link) in device_rows(lab, bench).into_iter().zip(links) {
        if held_elsewhere.contains(link.board.as_str()) {
            let presence = Presence::InUse(SHARED_IN_USE.into());
            rows.push(row(bench, device, address, presence, "-"));
            continue;
        }
        let (presence, state) = match rack.read_relay(&link.board, link.channel).await {
            Ok(Some(true)) => (Presence::Found, "relay on"),
            Ok(Some(false)) => (Presence::Found, "relay off"),
            Ok(None) => (Presence::Found, "not readable"),
            Err(e) => (Presence::Missing(e.to_string()), "-"),
        };
        rows.push(row(bench, device, address, presence, state));
    }
    let (device, address) = device_rows(lab, bench).pop().expect("an actuator row");
    let read = if held_elsewhere.contains(bench.actuator.as_str()) {
        Err(None)
    } else {
        rack.read_held(&bench.actuator).await.map_err(Some)
    };
    let (presence, state) = match read {
        Err(None) => (Presence::InUse(SHARED_IN_USE.into()), "-".to_string()),
        Ok(held) if held.is_empty() => (Presence::Found, "no key held".to_string()),
        Ok(held) => {
            let list: Vec<String> = held.iter().map(u16::to_string).collect();
            (Presence::Found, format!("held: {}", list.join(", ")))
        }
        Err(Some(e)) => (Presence::Missing(e.to_string()), "-".to_string()),
    };
    rows.push(row(bench, device, address, presence, &state));
    if let Some(usb) = &bench.usb {
        rows.push(usb_row(&bench.name, usb));
    }
    rows
}

fn row(
    bench: &Bench,
    device: String,
    address: String,
    presence: Presence,
    state: &str,
) -> DeviceCheck {
    DeviceCheck {
        bench: bench.name.clone(),
        device,
        address,
        presence,
        state: state.to_string(),
    }
}

/// The USB stick of a bench: an image file (the virtual stick) or a block device.
pub fn usb_row(bench: &str, usb: &UsbConfig) -> DeviceCheck {
    let (address, presence, state) = match usb {
        UsbConfig::ImageFile { path } => {
            // The virtual stick: no file is no stick inserted, which is a state, not a fault.
            let state = match std::fs::metadata(path) {
                Ok(meta) => format!("image file present ({} bytes)", meta.len()),
                Err(_) => "no image file (no stick inserted)".to_string(),
            };
            (path.display().to_string(), Presence::Found, state)
        }
        UsbConfig::BlockDevice { path, size_mb } => {
            match BlockDevice::new(path.clone(), *size_mb).check(0) {
                Ok(disk) => (
                    path.display().to_string(),
                    Presence::Found,
                    format!(
                        "block device {} ({} MiB)",
                        disk.resolved.display(),
                        disk.bytes / 1_048_576
                    ),
                ),
                Err(e) => (
                    path.display().to_string(),
                    Presence::Missing(e.to_string()),
                    "-".to_string(),
                ),
            }
        }
    };
    DeviceCheck {
        bench: bench.to_string(),
        device: "usb".into(),
        address,
        presence,
        state,
    }
}

/// The `lab check` table, one device a line, errors and holders spelled out under it.
pub fn render_check(rows: &[DeviceCheck]) -> String {
    let headers = ["bench", "device", "port/address", "found", "state"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let found = match r.presence {
                Presence::Found => "found",
                Presence::Missing(_) => "MISSING",
                Presence::InUse(_) => "in use",
            };
            [
                r.bench.clone(),
                r.device.clone(),
                r.address.clone(),
                found.to_string(),
                r.state.clone(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: [&str; 5]| {
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, headers);
    for row in &cells {
        line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    let notes: Vec<(&DeviceCheck, &String)> = rows
        .iter()
        .filter_map(|r| match &r.presence {
            Presence::Missing(why) | Presence::InUse(why) => Some((r, why)),
            Presence::Found => None,
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for (row, why) in notes {
            let _ = writeln!(out, "{} {}: {why}", row.bench, row.device);
        }
    }
    out
}

/// 0 when every device was found (or is in use by its owner), 3 (lab fault) otherwise.
pub fn check_exit_code(rows: &[DeviceCheck]) -> i32 {
    if rows
        .iter()
        .any(|r| matches!(r.presence, Presence::Missing(_)))
    {
        exit_code::LAB_FAULT
    } else {
        exit_code::PASS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_usb_device_is_reported_and_makes_a_lab_fault() {
        let dir = tempfile::tempdir().unwrap();
        let row = usb_row(
            "desk-1",
            &UsbConfig::BlockDevice {
                path: dir.path().join("no-such-disk"),
                size_mb: 7580,
            },
        );
        assert!(matches!(row.presence, Presence::Missing(_)), "{row:?}");
        let table = render_check(std::slice::from_ref(&row));
        assert!(table.contains("MISSING"), "{table}");
        assert_eq!(check_exit_code(&[row]), exit_code::LAB_FAULT);
    }

    #[test]
    fn a_bench_in_use_is_no_fault() {
        let row = DeviceCheck {
            bench: "t46g".into(),
            device: "bench".into(),
            address: String::new(),
            presence: Presence::InUse("bench t46g is in use by pid 7".into()),
            state: "-".into(),
        };
        let table = render_check(std::slice::from_ref(&row));
        assert!(table.contains("in use by pid 7"), "{table}");
        assert!(!table.contains("MISSING"), "{table}");
        assert_eq!(check_exit_code(&[row]), exit_code::PASS);
    }
}
