//! `count = N` on a `[[bench]]`, `[[relay_board]]` or `[[actuator]]`: one entry of the lab
//! file stands for N identical ones, as a rack with several benches of one model has (a
//! pool, LAVA's device type). The entry as written is copy 1; copy n (2..=N) differs from it
//! by a rule, so that N copies need no N tables:
//!
//! - every name, and every name it refers to (`power.board`, `network.board`, `actuator`,
//!   `relay_board`), gets `-n` appended: `t46g`, `t46g-2`, ...; `relay-power-2`; so does a
//!   twin phone's `dhcp_interface` (each copy is a phone on a veth of its own);
//! - every device path (`port`, `usb.image`, `usb.device`) gets `-n` before its extension:
//!   `t46g.img`, `t46g-2.img`;
//! - the MAC's fourth byte grows by n − 1: `00:15:65:00:00:46`, `00:15:65:01:00:46`;
//! - the IPv4 address's last byte grows by 10 · (n − 1): `127.0.0.46`, `127.0.0.56`, so the
//!   copies of benches numbered one apart (`.40`, `.41`, `.42`) interleave without meeting.
//!
//! Channels, keymaps and every other value are the same in each copy: a copy is wired to its
//! own board of the same layout. The expanded entries are then checked exactly as written
//! ones (a MAC or address that meets another bench's is refused there). The twin's reader
//! (`lab/twin/src/lab/count.rs`) implements the same rule on its own.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use toml::Spanned;

use super::raw::{Indexed, RawActuator, RawBench, RawLab, RawRelayBoard};
use crate::config_error::FileProblems;

/// The most copies one entry may stand for: a rack shelf, not a typo.
pub const MAX_COUNT: u32 = 64;

/// Replaces every entry that has a `count` by its copies, in place and in file order.
pub(crate) fn expand(raw: &mut RawLab, problems: &mut FileProblems<'_>) {
    raw.relay_boards = expand_entries(
        "relay_board",
        std::mem::take(&mut raw.relay_boards),
        problems,
        |b| b.count.as_ref(),
        board_copy,
    );
    raw.actuators = expand_entries(
        "actuator",
        std::mem::take(&mut raw.actuators),
        problems,
        |a| a.count.as_ref(),
        actuator_copy,
    );
    raw.benches = expand_entries(
        "bench",
        std::mem::take(&mut raw.benches),
        problems,
        |b| b.count.as_ref(),
        bench_copy,
    );
}

fn expand_entries<T: Clone>(
    table: &str,
    entries: Vec<Indexed<T>>,
    problems: &mut FileProblems<'_>,
    count_of: impl Fn(&T) -> Option<&Spanned<u32>>,
    copy: impl Fn(&T, u32) -> Result<T, String>,
) -> Vec<Indexed<T>> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(count) = count_of(&entry.item).cloned() else {
            out.push(entry);
            continue;
        };
        let key = format!("{table}[{}].count", entry.index);
        let n = *count.get_ref();
        if !(1..=MAX_COUNT).contains(&n) {
            problems.at(
                &count.span(),
                key,
                format!("expected 1 to {MAX_COUNT} copies, found {n}"),
            );
            out.push(entry);
            continue;
        }
        let mut copies = Vec::with_capacity(n as usize);
        let mut broken = false;
        for number in 2..=n {
            match copy(&entry.item, number) {
                Ok(item) => copies.push(Indexed {
                    index: entry.index,
                    span: entry.span.clone(),
                    item,
                }),
                Err(message) => {
                    problems.at(&count.span(), key.clone(), message);
                    broken = true;
                    break;
                }
            }
        }
        out.push(entry);
        if !broken {
            out.extend(copies);
        }
    }
    out
}

/// `name` of copy `n`.
pub fn copy_name(name: &str, n: u32) -> String {
    format!("{name}-{n}")
}

/// A device path of copy `n`: `-n` before the file's extension, if it has one.
pub fn copy_path(path: &str, n: u32) -> String {
    let file_start = path.rfind('/').map_or(0, |slash| slash + 1);
    match path[file_start..].rfind('.') {
        Some(dot) if dot > 0 => {
            let dot = file_start + dot;
            format!("{}-{n}{}", &path[..dot], &path[dot..])
        }
        _ => format!("{path}-{n}"),
    }
}

/// The MAC of copy `n`: the fourth byte grown by n − 1, written with colons. Text that is
/// not a MAC is left as it is: the template's own check reports it.
pub fn copy_mac(text: &str, n: u32) -> Result<String, String> {
    let hex: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(text.to_string());
    }
    let mut bytes = [0u8; 6];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    let grown = u32::from(bytes[3]) + (n - 1);
    bytes[3] = u8::try_from(grown).map_err(|_| {
        format!(
            "copy {n} would need MAC byte 4 of {grown}, above 255: fewer copies, or a lower MAC"
        )
    })?;
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// The address of copy `n`: the last byte grown by 10 · (n − 1). Text that is not an IPv4
/// address is left as it is: the template's own check reports it.
pub fn copy_ip(text: &str, n: u32) -> Result<String, String> {
    let Ok(ip) = text.trim().parse::<Ipv4Addr>() else {
        return Ok(text.to_string());
    };
    let mut octets = ip.octets();
    let grown = u32::from(octets[3]) + 10 * (n - 1);
    octets[3] = u8::try_from(grown).map_err(|_| {
        format!("copy {n} would need address byte 4 of {grown}, above 255: fewer copies, or a lower address")
    })?;
    Ok(Ipv4Addr::from(octets).to_string())
}

fn renamed(value: &Spanned<String>, n: u32) -> Spanned<String> {
    Spanned::new(value.span(), copy_name(value.get_ref(), n))
}

fn repathed_string(value: &Spanned<String>, n: u32) -> Spanned<String> {
    Spanned::new(value.span(), copy_path(value.get_ref(), n))
}

fn repathed(value: &Spanned<PathBuf>, n: u32) -> Spanned<PathBuf> {
    let text = value.get_ref().to_string_lossy();
    Spanned::new(value.span(), PathBuf::from(copy_path(&text, n)))
}

fn board_copy(board: &RawRelayBoard, n: u32) -> Result<RawRelayBoard, String> {
    let mut copy = board.clone();
    copy.name = renamed(&board.name, n);
    copy.port = board.port.as_ref().map(|p| repathed(p, n));
    Ok(copy)
}

fn actuator_copy(actuator: &RawActuator, n: u32) -> Result<RawActuator, String> {
    let mut copy = actuator.clone();
    copy.name = renamed(&actuator.name, n);
    copy.port = actuator.port.as_ref().map(|p| repathed(p, n));
    copy.relay_board = actuator.relay_board.as_ref().map(|b| renamed(b, n));
    Ok(copy)
}

fn bench_copy(bench: &RawBench, n: u32) -> Result<RawBench, String> {
    let mut copy = bench.clone();
    copy.name = renamed(&bench.name, n);
    copy.mac = Spanned::new(bench.mac.span(), copy_mac(bench.mac.get_ref(), n)?);
    copy.ip = Spanned::new(bench.ip.span(), copy_ip(bench.ip.get_ref(), n)?);
    copy.power.board = renamed(&bench.power.board, n);
    if let Some(network) = &mut copy.network {
        network.board = renamed(&network.board, n);
    }
    copy.actuator = renamed(&bench.actuator, n);
    // Each copy is another phone, on a veth of its own.
    copy.dhcp_interface = bench.dhcp_interface.as_ref().map(|i| renamed(i, n));
    if let Some(usb) = &mut copy.usb {
        let span = usb.span();
        let mut stick = usb.get_ref().clone();
        stick.image = stick.image.as_ref().map(|i| repathed_string(i, n));
        stick.device = stick.device.as_ref().map(|d| repathed_string(d, n));
        *usb = Spanned::new(span, stick);
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_follow_the_rule() {
        assert_eq!(copy_name("t46g", 3), "t46g-3");
        assert_eq!(copy_path("/tmp/usb/t46g.img", 2), "/tmp/usb/t46g-2.img");
        assert_eq!(
            copy_path("/dev/serial/by-id/x-if00", 2),
            "/dev/serial/by-id/x-if00-2"
        );
        assert_eq!(copy_path("/a.b/c", 4), "/a.b/c-4");
        assert_eq!(
            copy_mac("00:15:65:00:00:46", 8).unwrap(),
            "00:15:65:07:00:46"
        );
        assert_eq!(copy_ip("127.0.0.46", 8).unwrap(), "127.0.0.116");
        assert!(copy_ip("127.0.0.200", 8).is_err());
        assert!(copy_mac("00:15:65:ff:00:46", 2).is_err());
        assert_eq!(copy_mac("not a mac", 2).unwrap(), "not a mac");
    }
}
