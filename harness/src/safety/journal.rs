//! The crash journal of a bench: every driver action that leaves state behind on the
//! bench (a key held, power or the network cable switched) is appended and synced to disk
//! BEFORE it is sent, so a process killed at any point leaves a record of what it may have
//! done. A clean end (after `make_safe`) empties it; the next owner of the bench replays a
//! journal that is not empty.
//!
//! It lives beside the bench's lease, `<lock dir>/<bench>.journal`, not in the run folder:
//! the next process finds it by the bench's name alone, whatever `--out` the dead run had,
//! and only the lease's owner ever writes it. Taps are not recorded: the actuator ends a
//! `TAP` by itself (lab/actuator/PROTOCOL.md), so a death mid-tap leaves no key held.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One recorded action, one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum JournalEntry {
    /// A key about to be held.
    Hold {
        /// Keymap name, for the recovery message.
        key: String,
        /// Actuator channel.
        channel: u16,
    },
    /// A key about to be released.
    Release {
        /// Keymap name.
        key: String,
        /// Actuator channel.
        channel: u16,
    },
    /// Power about to be switched.
    Power {
        /// True: power applied.
        on: bool,
    },
    /// The network cable relay about to be switched.
    Network {
        /// True: cable connected.
        connected: bool,
    },
}

/// What a journal says may be left on the bench.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftover {
    /// Channels possibly still held, with their key names.
    pub held: BTreeMap<u16, String>,
    /// The last power state sent, if any (it may or may not have reached the relay).
    pub power: Option<bool>,
    /// The last network state sent, if any.
    pub network: Option<bool>,
}

impl Leftover {
    /// The state a journal leaves: holds minus releases, the last power and network.
    pub fn from_entries(entries: &[JournalEntry]) -> Leftover {
        let mut left = Leftover::default();
        for entry in entries {
            match entry {
                JournalEntry::Hold { key, channel } => {
                    left.held.insert(*channel, key.clone());
                }
                JournalEntry::Release { channel, .. } => {
                    left.held.remove(channel);
                }
                JournalEntry::Power { on } => left.power = Some(*on),
                JournalEntry::Network { connected } => left.network = Some(*connected),
            }
        }
        left
    }

    /// True when the dead owner did nothing that needs undoing.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty() && self.power.is_none() && self.network.is_none()
    }
}

/// Why the journal could not be used; the action it guards is then not done.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading, writing or syncing the file failed.
    #[error(
        "crash journal {}: {action}: {source}. Check that the lock folder is writable and \
         its disk is not full",
        path.display()
    )]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// A bench's journal, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

/// The journal file of a bench.
pub fn journal_path(dir: &Path, bench: &str) -> PathBuf {
    dir.join(format!("{bench}.journal"))
}

impl Journal {
    /// Opens (creating) the bench's journal. Only the owner of the bench's lease may.
    pub fn open(dir: &Path, bench: &str) -> Result<Journal, JournalError> {
        let path = journal_path(dir, bench);
        let io = |action, source| JournalError::Io {
            path: path.clone(),
            action,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating its folder", e))?;
        let file = File::options()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| io("opening", e))?;
        Ok(Journal {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records an action and syncs it to disk; only then may the action be sent.
    pub fn append(&self, entry: &JournalEntry) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(entry).expect("journal entries always encode");
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .map_err(|source| self.io("appending", source))?;
        file.sync_data()
            .map_err(|source| self.io("syncing", source))
    }

    /// Empties the journal: the bench is in its safe state and nothing needs undoing.
    pub fn clear(&self) -> Result<(), JournalError> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.set_len(0)
            .map_err(|source| self.io("truncating", source))?;
        file.sync_data()
            .map_err(|source| self.io("syncing", source))
    }

    /// What the journal says may be left on the bench now.
    pub fn leftover(&self) -> Result<Leftover, JournalError> {
        let text =
            std::fs::read_to_string(&self.path).map_err(|source| self.io("reading", source))?;
        Ok(Leftover::from_entries(&parse(&text)))
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }
}

/// The entries of a journal's text. A line that does not parse is the one being written
/// when the process died (a torn write): it was never sent, so it is skipped.
pub fn parse(text: &str) -> Vec<JournalEntry> {
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_keys_are_holds_minus_releases_and_power_is_the_last_sent() {
        let entries = [
            JournalEntry::Power { on: false },
            JournalEntry::Hold {
                key: "speaker".into(),
                channel: 1,
            },
            JournalEntry::Hold {
                key: "ok".into(),
                channel: 2,
            },
            JournalEntry::Power { on: true },
            JournalEntry::Release {
                key: "ok".into(),
                channel: 2,
            },
            JournalEntry::Network { connected: false },
        ];
        let left = Leftover::from_entries(&entries);
        assert_eq!(left.held, BTreeMap::from([(1, "speaker".to_string())]));
        assert_eq!(left.power, Some(true));
        assert_eq!(left.network, Some(false));
        assert!(!left.is_empty());
        assert!(Leftover::from_entries(&[]).is_empty());
    }

    #[test]
    fn entries_survive_reopening_and_clear_empties_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), "t46g").unwrap();
        journal
            .append(&JournalEntry::Hold {
                key: "speaker".into(),
                channel: 1,
            })
            .unwrap();
        drop(journal);
        let reopened = Journal::open(dir.path(), "t46g").unwrap();
        assert_eq!(reopened.leftover().unwrap().held.len(), 1);
        reopened.clear().unwrap();
        assert!(reopened.leftover().unwrap().is_empty());
        assert_eq!(std::fs::metadata(reopened.path()).unwrap().len(), 0);
        // Appending after a clear starts the file again from its beginning.
        reopened.append(&JournalEntry::Power { on: true }).unwrap();
        assert_eq!(reopened.leftover().unwrap().power, Some(true));
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let text = "{\"action\":\"hold\",\"key\":\"speaker\",\"channel\":1}\n{\"action\":\"pow";
        assert_eq!(parse(text).len(), 1);
    }
}
