//! What the lab's provisioning server and registrar know about each bench's phone: the
//! account state a scenario's `given` arranged, the admin password provisioned, and the
//! firmware offered. The scenario engine writes it; the servers read it on every request,
//! so a change takes effect on the phone's next fetch or REGISTER.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use crate::scenario::AccountState;

/// A firmware image the provisioning server offers to a bench's phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareOffer {
    /// The name in the URL, `/firmware/<file_name>`; the phone checks the image header, not
    /// this name, so it can stay the vendor's file name.
    pub file_name: String,
    /// Where the image lies on the lab host. Only this path is ever opened for the name.
    pub path: PathBuf,
}

/// The provisioning state of one bench's phone on the (stand-in) Intermedia platform.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchAccount {
    /// Decides what the MAC config, the Auto-P call-home and the registrar answer.
    pub account: AccountState,
    /// Provisioned as `static.security.user_password = admin:<pw>`.
    pub admin_password: String,
    /// Served as `static.auto_provision.server.url` (the Intermedia URL or the foreign one).
    pub provisioning_url: String,
    /// Firmware the phone should run: served as `static.firmware.url` pointing at this file.
    pub firmware: Option<FirmwareOffer>,
    /// Whether the config turns the phone's syslog on, pointed at the lab's collector.
    pub syslog: bool,
}

/// Per-bench accounts, shared by every endpoint. Cheap to clone: clones share one table.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    by_bench: Arc<RwLock<HashMap<String, BenchAccount>>>,
    /// Benches the foreign server hands back to the lab: bench name -> provisioning URL.
    handbacks: Arc<RwLock<HashMap<String, String>>>,
    /// Benches whose phone the provisioning server shuts out (it cannot be reached).
    unreachable: Arc<RwLock<HashSet<String>>>,
}

impl Accounts {
    /// An empty table: every bench's phone is unknown to the platform until `set`.
    pub fn new() -> Accounts {
        Accounts::default()
    }

    /// Replaces what the platform holds for `bench`.
    pub fn set(&self, bench: &str, state: BenchAccount) {
        // A panic elsewhere while holding the lock cannot leave a half-written entry
        // (entries are replaced whole), so a poisoned lock is still consistent.
        let mut table = self
            .by_bench
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        table.insert(bench.to_owned(), state);
    }

    /// What the platform holds for `bench`, if anything.
    pub fn get(&self, bench: &str) -> Option<BenchAccount> {
        let table = self.by_bench.read().unwrap_or_else(PoisonError::into_inner);
        table.get(bench).cloned()
    }

    /// Forgets `bench`: its phone's MAC becomes unknown to the platform again.
    pub fn remove(&self, bench: &str) -> Option<BenchAccount> {
        let mut table = self
            .by_bench
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        table.remove(bench)
    }

    /// Makes the foreign server answer `bench`'s MAC config with the lab's provisioning URL
    /// (`Some`), or refuse it as usual (`None`). The lab controls that server too: this is
    /// how a phone left on it by an earlier scenario is brought back before the next one.
    pub fn set_handback(&self, bench: &str, provisioning_url: Option<String>) {
        let mut table = self
            .handbacks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match provisioning_url {
            Some(url) => table.insert(bench.to_owned(), url),
            None => table.remove(bench),
        };
    }

    /// Where the foreign server sends `bench`'s phone back to, if it does.
    pub fn handback(&self, bench: &str) -> Option<String> {
        let table = self
            .handbacks
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        table.get(bench).cloned()
    }

    /// Makes the lab's provisioning server unreachable for `bench`'s phone (`false`), or
    /// reachable again (`true`): it closes that phone's connections unread, so the phone
    /// holds its address and link but reaches no server, as behind a broken uplink.
    pub fn set_reachable(&self, bench: &str, reachable: bool) {
        let mut table = self
            .unreachable
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if reachable {
            table.remove(bench);
        } else {
            table.insert(bench.to_owned());
        }
    }

    /// Whether the provisioning server answers `bench`'s phone.
    pub fn is_reachable(&self, bench: &str) -> bool {
        let table = self
            .unreachable
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        !table.contains(bench)
    }

    /// The image offered under `file_name` to any bench, if one is. Firmware URLs are only
    /// ever resolved through this, so a request can never name a file the lab did not offer.
    pub fn offered_firmware(&self, file_name: &str) -> Option<FirmwareOffer> {
        let table = self.by_bench.read().unwrap_or_else(PoisonError::into_inner);
        table
            .values()
            .filter_map(|account| account.firmware.as_ref())
            .find(|offer| offer.file_name == file_name)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(firmware: Option<&str>) -> BenchAccount {
        BenchAccount {
            account: AccountState::Active,
            admin_password: "pw".into(),
            provisioning_url: "http://127.0.0.1:1/".into(),
            firmware: firmware.map(|name| FirmwareOffer {
                file_name: name.into(),
                path: PathBuf::from("/lab/fw").join(name),
            }),
            syslog: false,
        }
    }

    #[test]
    fn clones_share_one_table() {
        let accounts = Accounts::new();
        let other = accounts.clone();
        other.set("t46g", account(None));
        assert_eq!(accounts.get("t46g"), Some(account(None)));
        assert_eq!(accounts.remove("t46g"), Some(account(None)));
        assert_eq!(other.get("t46g"), None);
    }

    #[test]
    fn a_bench_shut_out_is_reachable_again_once_let_in() {
        let accounts = Accounts::new();
        assert!(accounts.is_reachable("t46g"));
        accounts.clone().set_reachable("t46g", false);
        assert!(!accounts.is_reachable("t46g"));
        assert!(accounts.is_reachable("t48g"));
        accounts.set_reachable("t46g", true);
        assert!(accounts.is_reachable("t46g"));
    }

    #[test]
    fn only_offered_images_resolve() {
        let accounts = Accounts::new();
        accounts.set("a", account(Some("T46-28.83.0.120.rom")));
        accounts.set("b", account(None));
        let offer = accounts.offered_firmware("T46-28.83.0.120.rom").unwrap();
        assert_eq!(offer.path, PathBuf::from("/lab/fw/T46-28.83.0.120.rom"));
        assert_eq!(accounts.offered_firmware("T48-35.83.0.120.rom"), None);
    }
}
