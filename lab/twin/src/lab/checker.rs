//! What every table's reader shares: errors that name the file and key, the rule for names
//! that may become file names, and the claims that keep one device, one relay and one
//! address to one use across tables (the harness refuses a lab that breaks them, so the
//! twin does too).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::LabError;

/// The longest name a bench, relay board or actuator may have.
const NAME_MAX_LEN: usize = 64;

/// Builds errors that name the lab file, and remembers what earlier entries claimed.
pub(super) struct Checker {
    pub(super) file: String,
    /// Device files (serial ports, USB sticks and their images), as written once `.` and
    /// doubled `/` are dropped, to the key that claimed each.
    devices: BTreeMap<PathBuf, String>,
    /// Where a relay board without a device file is found, to the key that claimed it.
    board_addresses: BTreeMap<String, String>,
    /// (board, channel) to the key that uses it.
    relays: BTreeMap<(String, u16), String>,
    /// Relay boards whose relays press keys, to the actuator that uses them.
    pub(super) key_boards: BTreeMap<String, String>,
    pub(super) macs: BTreeSet<[u8; 6]>,
    pub(super) ips: BTreeSet<Ipv4Addr>,
    /// DHCP interfaces of twin phones: one phone per interface.
    pub(super) interfaces: BTreeSet<String>,
}

impl Checker {
    pub(super) fn new(file: String) -> Checker {
        Checker {
            file,
            devices: BTreeMap::new(),
            board_addresses: BTreeMap::new(),
            relays: BTreeMap::new(),
            key_boards: BTreeMap::new(),
            macs: BTreeSet::new(),
            ips: BTreeSet::new(),
            interfaces: BTreeSet::new(),
        }
    }

    pub(super) fn invalid(&self, key: impl Into<String>, problem: impl Into<String>) -> LabError {
        LabError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// A key the entry's kind does not use.
    pub(super) fn refuse_present<T>(
        &self,
        key: String,
        value: &Option<T>,
        why: &str,
    ) -> Result<(), LabError> {
        match value {
            Some(_) => Err(self.invalid(key, why)),
            None => Ok(()),
        }
    }

    /// A channel count: 1 to `max`.
    pub(super) fn count(&self, key: String, value: i64, max: u16) -> Result<u16, LabError> {
        match u16::try_from(value) {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(
                key,
                format!("expected a channel count from 1 to {max}, found {value}"),
            )),
        }
    }

    /// A name that may become a file name (a lease, a log): 1 to 64 characters of
    /// `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
    pub(super) fn file_name(&self, key: String, name: &str) -> Result<(), LabError> {
        let allowed = |position: usize, c: char| {
            c.is_ascii_alphanumeric() || (position > 0 && matches!(c, '.' | '_' | '-'))
        };
        let safe = !name.trim().is_empty()
            && name.chars().count() <= NAME_MAX_LEN
            && name.chars().enumerate().all(|(i, c)| allowed(i, c));
        if safe {
            return Ok(());
        }
        Err(self.invalid(
            key,
            format!(
                "`{}` cannot become a file name: a name is 1 to {NAME_MAX_LEN} characters of A-Z, a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit",
                name.escape_debug()
            ),
        ))
    }

    /// Claims a device file for one use: two drivers on one serial port would mix their
    /// frames, two benches on one stick would overwrite each other's package.
    pub(super) fn claim_device(&mut self, key: String, file: &Path) -> Result<(), LabError> {
        let normal: PathBuf = file.components().collect();
        if let Some(user) = self.devices.get(&normal) {
            return Err(self.invalid(
                key,
                format!("`{}` is already used by {user}", file.display()),
            ));
        }
        self.devices.insert(normal, key);
        Ok(())
    }

    /// Claims where a board without a device file is found: two entries found at one place
    /// are one board under two names.
    pub(super) fn claim_board_address(
        &mut self,
        key: String,
        address: String,
    ) -> Result<(), LabError> {
        if let Some(user) = self.board_addresses.get(&address) {
            return Err(self.invalid(key, format!("the board at {address} is already {user}")));
        }
        self.board_addresses.insert(address, key);
        Ok(())
    }

    /// Claims one relay of one board for one use (power, network, or a key).
    pub(super) fn claim_relay(
        &mut self,
        key: String,
        board: &str,
        channel: u16,
    ) -> Result<(), LabError> {
        let claim = (board.to_string(), channel);
        if let Some(user) = self.relays.get(&claim) {
            return Err(self.invalid(
                key,
                format!("channel {channel} of `{board}` is already wired to {user}"),
            ));
        }
        self.relays.insert(claim, key);
        Ok(())
    }
}

/// Refuses two entries of one table with one name.
pub(super) fn unique<'a>(
    check: &Checker,
    table: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), LabError> {
    let mut seen = BTreeSet::new();
    for (index, name) in names.enumerate() {
        if !seen.insert(name) {
            return Err(check.invalid(
                format!("{table}[{index}].name"),
                format!("`{name}` is used twice"),
            ));
        }
    }
    Ok(())
}
