//! `count = N` on a `[[bench]]`, `[[relay_board]]` or `[[actuator]]`: the entry as written is
//! copy 1, and copy n (2..=N) follows the harness's rule (`harness/src/lab/count.rs`, the
//! README's "The lab file"), implemented here on its own:
//!
//! - names, and the names a copy refers to, get `-n` appended;
//! - device paths get `-n` before their extension;
//! - the MAC's fourth byte grows by n − 1;
//! - the IPv4 address's last byte grows by 10 · (n − 1).
//!
//! The copies are then checked like any written entry.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::LabError;
use super::checker::Checker;

/// The most copies one entry may stand for.
const MAX_COUNT: i64 = 64;

/// An entry that can stand for several.
pub(super) trait Countable: Sized {
    /// `count` as written.
    fn count(&self) -> Option<i64>;
    /// Copy `n` (from 2) of this entry.
    fn copy(&self, n: u32) -> Result<Self, String>;
}

/// Every entry of `table`, with the copies its `count` asks for right after it, each with
/// its entry's place in the file (what messages name: `bench[3]` for every copy of it).
pub(super) fn expand<T: Countable>(
    check: &Checker,
    table: &str,
    entries: Vec<T>,
) -> Result<Vec<(usize, T)>, LabError> {
    let mut out = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let Some(count) = entry.count() else {
            out.push((index, entry));
            continue;
        };
        let key = format!("{table}[{index}].count");
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(check.invalid(
                key,
                format!("expected 1 to {MAX_COUNT} copies, found {count}"),
            ));
        }
        let mut copies = Vec::new();
        for n in 2..=count as u32 {
            let copy = entry
                .copy(n)
                .map_err(|problem| check.invalid(&key, problem))?;
            copies.push((index, copy));
        }
        out.push((index, entry));
        out.extend(copies);
    }
    Ok(out)
}

/// A name of copy `n`.
pub(super) fn name(name: &str, n: u32) -> String {
    format!("{name}-{n}")
}

/// A device path of copy `n`: `-n` before the file's extension, if it has one.
pub(super) fn path(path: &Path, n: u32) -> PathBuf {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    match file {
        Some(file) => {
            let renamed = match file.rfind('.') {
                Some(dot) if dot > 0 => format!("{}-{n}{}", &file[..dot], &file[dot..]),
                _ => format!("{file}-{n}"),
            };
            path.with_file_name(renamed)
        }
        None => PathBuf::from(format!("{}-{n}", path.display())),
    }
}

/// The MAC of copy `n`; text that is not a MAC stays as written (its check refuses it).
pub(super) fn mac(text: &str, n: u32) -> Result<String, String> {
    let digits: Vec<u8> = text
        .trim()
        .bytes()
        .filter(|b| *b != b':' && *b != b'-')
        .collect();
    if digits.len() != 12 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Ok(text.to_string());
    }
    let mut bytes: Vec<u32> = digits
        .chunks(2)
        .map(|pair| {
            let hex = std::str::from_utf8(pair).unwrap_or("00");
            u32::from_str_radix(hex, 16).unwrap_or(0)
        })
        .collect();
    bytes[3] += n - 1;
    if bytes[3] > 0xff {
        return Err(format!(
            "copy {n} would need MAC byte 4 of {}, above 255: fewer copies, or a lower MAC",
            bytes[3]
        ));
    }
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// The address of copy `n`; text that is not an address stays as written.
pub(super) fn ip(text: &str, n: u32) -> Result<String, String> {
    let Ok(ip) = text.trim().parse::<Ipv4Addr>() else {
        return Ok(text.to_string());
    };
    let [a, b, c, d] = ip.octets();
    let last = u32::from(d) + 10 * (n - 1);
    if last > 255 {
        return Err(format!(
            "copy {n} would need address byte 4 of {last}, above 255: fewer copies, or a lower address"
        ));
    }
    Ok(format!("{a}.{b}.{c}.{last}"))
}
