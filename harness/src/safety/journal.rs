//! The crash journal of a bench: every driver action that leaves state behind on the
//! bench (a key held, power or the network cable switched) is appended and synced to disk
//! BEFORE it is sent, and confirmed by a second line once the device has acknowledged it.
//! A process killed at any point therefore leaves a record of what it may have done, and
//! an action that was sent but never confirmed counts as not done. The journal is emptied
//! only when every device of the bench confirmed its safe state; the next owner of the
//! bench makes a bench with a non-empty journal safe before anything else.
//!
//! It lives beside the bench's lease, `<lock dir>/<bench>.journal`, not in the run folder:
//! the next process finds it by the bench's name alone, whatever `--out` the dead run had,
//! and only the lease's owner ever writes it. Taps are not recorded: the actuator ends a
//! `TAP` by itself (lab/actuator/PROTOCOL.md), so a death mid-tap leaves no key held.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A journal is a handful of lines between two safe states, and it is compacted after every
/// make-safe that leaves something undone; a larger file was not written by the harness.
pub const MAX_JOURNAL_BYTES: u64 = 1 << 20;

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
    /// The device acknowledged the action: only now does it count as done.
    Confirmed {
        /// The action acknowledged.
        entry: Box<JournalEntry>,
    },
    /// The owner gave the bench up without being able to make it safe (a device did not
    /// answer): the next owner tells an operator that, rather than "a crash".
    LeftUnsafe {
        /// What could not be done, in words.
        reason: String,
    },
    /// A hand command used a bench out of service with `--force`; recorded before anything
    /// is switched, so whoever reads the journal after a crash knows who overrode what.
    Forced {
        /// Who forced it.
        by: String,
        /// The command, as typed.
        command: String,
        /// The out-of-service state overridden, in words.
        overridden: String,
    },
}

impl JournalEntry {
    /// The line that confirms this action.
    pub fn confirmed(&self) -> JournalEntry {
        JournalEntry::Confirmed {
            entry: Box::new(self.clone()),
        }
    }
}

/// What a journal says may be left on the bench.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftover {
    /// Channels possibly still held, with their key names: held, and no confirmed release.
    pub held: BTreeMap<u16, String>,
    /// The last power state sent, if any (it may or may not have reached the relay).
    pub power: Option<bool>,
    /// The cable may be pulled: a pull was sent and no reconnect was confirmed since.
    pub network_pulled: bool,
    /// Set when the journal could not be read whole (corrupt, not text, too large): what it
    /// says is unknown, so the whole bench is made safe.
    pub unreadable: Option<String>,
    /// The previous owner ended without making the bench safe, and said why.
    pub left_unsafe: Option<String>,
    /// The last [`MAX_FORCED_NOTES`] uses of the bench out of service (`--force`): notes of
    /// who overrode what, kept through make-safes, never something to undo.
    pub forced: Vec<JournalEntry>,
}

/// How many `--force` notes a journal keeps.
pub const MAX_FORCED_NOTES: usize = 10;

impl Leftover {
    /// The state a journal leaves: holds minus confirmed releases, the last power, and a
    /// pulled cable until a reconnect was confirmed.
    pub fn from_entries(entries: &[JournalEntry]) -> Leftover {
        let mut left = Leftover::default();
        for entry in entries {
            match entry {
                JournalEntry::Hold { key, channel } => {
                    left.held.insert(*channel, key.clone());
                }
                JournalEntry::Power { on } => left.power = Some(*on),
                JournalEntry::Network { connected: false } => left.network_pulled = true,
                JournalEntry::Confirmed { entry } => match &**entry {
                    JournalEntry::Release { channel, .. } => {
                        left.held.remove(channel);
                    }
                    JournalEntry::Network { connected: true } => left.network_pulled = false,
                    _ => {}
                },
                JournalEntry::LeftUnsafe { reason } => left.left_unsafe = Some(reason.clone()),
                // A note about who acted, not an action that leaves state behind.
                JournalEntry::Forced { .. } => {
                    left.forced.push(entry.clone());
                    let excess = left.forced.len().saturating_sub(MAX_FORCED_NOTES);
                    left.forced.drain(..excess);
                }
                // Unconfirmed releases and reconnects prove nothing.
                JournalEntry::Release { .. } | JournalEntry::Network { connected: true } => {}
            }
        }
        left
    }

    /// True when the previous owner did nothing that needs undoing (`--force` notes undo
    /// nothing).
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
            && self.power.is_none()
            && !self.network_pulled
            && self.unreadable.is_none()
            && self.left_unsafe.is_none()
    }

    /// The fewest entries that say the same: what a compacted journal holds.
    pub fn entries(&self) -> Vec<JournalEntry> {
        let mut entries: Vec<JournalEntry> = self
            .held
            .iter()
            .map(|(channel, key)| JournalEntry::Hold {
                key: key.clone(),
                channel: *channel,
            })
            .collect();
        if let Some(on) = self.power {
            entries.push(JournalEntry::Power { on });
        }
        if self.network_pulled {
            entries.push(JournalEntry::Network { connected: false });
        }
        let reason = [self.unreadable.as_deref(), self.left_unsafe.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        if !reason.is_empty() {
            entries.push(JournalEntry::LeftUnsafe { reason });
        }
        entries.extend(self.forced.iter().cloned());
        entries
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
    /// The journal is not a file the harness can have written (a link, a device, a folder).
    #[error(
        "crash journal {}: {what}. Move it away and check the bench by hand: its keys \
         released, its cable connected, its power safe",
        path.display()
    )]
    NotAJournal {
        /// The journal file.
        path: PathBuf,
        /// What was found instead.
        what: String,
    },
}

/// A bench's journal, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

/// The journal file of a bench. The bench name was checked against the lab file's safe
/// alphabet when the lab was read, so it is one plain file name.
pub fn journal_path(dir: &Path, bench: &str) -> PathBuf {
    dir.join(format!("{bench}.journal"))
}

impl Journal {
    /// Opens (creating) the bench's journal. Only the owner of the bench's lease may.
    pub fn open(dir: &Path, bench: &str) -> Result<Journal, JournalError> {
        let path = journal_path(dir, bench);
        std::fs::create_dir_all(dir).map_err(|e| io(&path, "creating its folder", e))?;
        let file = open_append(&path)?;
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
            .map_err(|source| io(&self.path, "appending", source))?;
        file.sync_data()
            .map_err(|source| io(&self.path, "syncing", source))
    }

    /// Empties the journal: every device confirmed the bench's safe state. Only its
    /// `--force` notes stay, so who overrode a bench out of service outlives the session.
    pub fn clear(&self) -> Result<(), JournalError> {
        let forced = self.leftover().map(|left| left.forced).unwrap_or_default();
        if !forced.is_empty() {
            return self.compact(&Leftover {
                forced,
                ..Leftover::default()
            });
        }
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.set_len(0)
            .map_err(|source| io(&self.path, "truncating", source))?;
        file.sync_data()
            .map_err(|source| io(&self.path, "syncing", source))
    }

    /// Replaces the journal with the fewest lines that say `left`, atomically (a new file
    /// renamed over the old one): a bench whose make-safe keeps failing run after run keeps
    /// a journal of constant size.
    pub fn compact(&self, left: &Leftover) -> Result<(), JournalError> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = self.path.with_extension("journal.tmp");
        let mut text = String::new();
        for entry in left.entries() {
            text.push_str(&serde_json::to_string(&entry).expect("journal entries always encode"));
            text.push('\n');
        }
        let write = || -> std::io::Result<()> {
            let mut new = File::create(&tmp)?;
            new.write_all(text.as_bytes())?;
            new.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|source| io(&self.path, "compacting", source))?;
        *file = open_append(&self.path)?;
        Ok(())
    }

    /// What the journal says may be left on the bench now. A journal that cannot be read
    /// whole is not an error: it says "unknown", and the whole bench is made safe.
    pub fn leftover(&self) -> Result<Leftover, JournalError> {
        let mut bytes = Vec::new();
        {
            let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
            let mut reader =
                File::open(&self.path).map_err(|source| io(&self.path, "reading", source))?;
            drop(file);
            Read::by_ref(&mut reader)
                .take(MAX_JOURNAL_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| io(&self.path, "reading", source))?;
        }
        if bytes.len() as u64 > MAX_JOURNAL_BYTES {
            return Ok(Leftover {
                unreadable: Some(format!(
                    "the journal is larger than {MAX_JOURNAL_BYTES} bytes, which the harness \
                     never writes"
                )),
                ..Leftover::default()
            });
        }
        Ok(read(&bytes))
    }
}

fn io(path: &Path, action: &'static str, source: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Opens the journal for appending, refusing anything but a regular file (a symlink left in
/// a shared lock folder must not make the harness write elsewhere).
fn open_append(path: &Path) -> Result<File, JournalError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = File::options()
        .create(true)
        .append(true)
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => JournalError::NotAJournal {
                path: path.to_path_buf(),
                what: "it is a symbolic link".into(),
            },
            _ => io(path, "opening", source),
        })?;
    let meta = file
        .metadata()
        .map_err(|source| io(path, "reading its metadata", source))?;
    if !meta.is_file() {
        return Err(JournalError::NotAJournal {
            path: path.to_path_buf(),
            what: format!("it is not a regular file ({:?})", meta.file_type()),
        });
    }
    Ok(file)
}

/// What a journal's bytes say. A last line without its newline is the one being written
/// when the process died (a torn write): the action it records was never sent (or, for a
/// confirmation, never counts), so it is skipped even when its JSON happens to be whole. Any other line
/// that does not parse, or bytes that are not text, make the journal unreadable: what it
/// says is then unknown, which is reported and makes the whole bench safe.
pub fn read(bytes: &[u8]) -> Leftover {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Leftover {
            unreadable: Some("the journal is not text (a disk or copy error?)".into()),
            ..Leftover::default()
        };
    };
    // Everything after the last newline is the torn write.
    let whole = text.rfind('\n').map_or("", |end| &text[..=end]);
    let lines: Vec<&str> = whole.lines().collect();
    let mut entries = Vec::new();
    let mut bad = None;
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JournalEntry>(line) {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                bad.get_or_insert(format!("line {} does not parse: {e}", index + 1));
            }
        }
    }
    let mut left = Leftover::from_entries(&entries);
    left.unreadable = bad;
    left
}

/// The entries of a journal's text that parse (for tests and tools).
pub fn parse(text: &str) -> Vec<JournalEntry> {
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(channel: u16) -> JournalEntry {
        JournalEntry::Hold {
            key: format!("k{channel}"),
            channel,
        }
    }

    fn release(channel: u16) -> JournalEntry {
        JournalEntry::Release {
            key: format!("k{channel}"),
            channel,
        }
    }

    #[test]
    fn held_keys_are_holds_minus_confirmed_releases() {
        let entries = [
            JournalEntry::Power { on: false },
            hold(1),
            hold(2),
            JournalEntry::Power { on: true },
            release(2),
            release(2).confirmed(),
            // Sent, never acknowledged: the key may still be down.
            release(1),
        ];
        let left = Leftover::from_entries(&entries);
        assert_eq!(left.held, BTreeMap::from([(1, "k1".to_string())]));
        assert_eq!(left.power, Some(true));
        assert!(!left.network_pulled);
        assert!(!left.is_empty());
        assert!(Leftover::from_entries(&[]).is_empty());
    }

    #[test]
    fn a_reconnect_counts_only_once_confirmed() {
        let pulled = JournalEntry::Network { connected: false };
        let connect = JournalEntry::Network { connected: true };
        // The finding: a failed reconnect was taken for a done one.
        let failed = Leftover::from_entries(&[pulled.clone(), connect.clone()]);
        assert!(failed.network_pulled);
        let done = Leftover::from_entries(&[pulled, connect.clone(), connect.confirmed()]);
        assert!(!done.network_pulled);
    }

    #[test]
    fn compaction_keeps_what_is_left_in_constant_size() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), "t46g").unwrap();
        for _ in 0..50 {
            journal.append(&hold(99)).unwrap();
            journal.append(&release(99)).unwrap();
            journal
                .append(&JournalEntry::Network { connected: false })
                .unwrap();
            let left = journal.leftover().unwrap();
            journal.compact(&left).unwrap();
        }
        let left = journal.leftover().unwrap();
        assert_eq!(left.held.keys().copied().collect::<Vec<_>>(), vec![99]);
        assert!(left.network_pulled);
        let size = std::fs::metadata(journal.path()).unwrap().len();
        assert!(size < 200, "{size} bytes after 50 rounds");
        // Appending after compaction goes to the new file.
        journal.append(&release(99).confirmed()).unwrap();
        assert!(journal.leftover().unwrap().held.is_empty());
    }

    #[test]
    fn entries_survive_reopening_and_clear_empties_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), "t46g").unwrap();
        journal.append(&hold(1)).unwrap();
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
    fn a_torn_last_line_is_skipped_but_a_bad_middle_line_is_unreadable() {
        let torn = b"{\"action\":\"hold\",\"key\":\"speaker\",\"channel\":1}\n{\"action\":\"pow";
        let left = read(torn);
        assert_eq!(left.held.len(), 1);
        assert_eq!(left.unreadable, None);
        let bad = b"garbage\n{\"action\":\"power\",\"on\":true}\n";
        let left = read(bad);
        assert!(left.unreadable.as_deref().unwrap().contains("line 1"));
        assert!(!left.is_empty());
    }

    #[test]
    fn a_journal_that_is_not_text_is_unreadable_not_a_disk_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.journal"), [0xff, 0xfe, b'\n']).unwrap();
        let journal = Journal::open(dir.path(), "b").unwrap();
        let left = journal.leftover().unwrap();
        let why = left.unreadable.unwrap();
        assert!(why.contains("not text"), "{why}");
        assert!(!why.contains("disk is not full"), "{why}");
    }

    #[test]
    fn a_symlinked_or_special_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("x.journal")).unwrap();
        let err = Journal::open(dir.path(), "x").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let fifo =
            std::ffi::CString::new(dir.path().join("f.journal").to_str().unwrap().as_bytes())
                .unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = Journal::open(dir.path(), "f").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn entry() -> impl Strategy<Value = JournalEntry> {
            let plain = prop_oneof![
                (0u16..8).prop_map(|channel| JournalEntry::Hold {
                    key: "k".into(),
                    channel
                }),
                (0u16..8).prop_map(|channel| JournalEntry::Release {
                    key: "k".into(),
                    channel
                }),
                any::<bool>().prop_map(|on| JournalEntry::Power { on }),
                any::<bool>().prop_map(|connected| JournalEntry::Network { connected }),
            ];
            (plain, any::<bool>()).prop_map(
                |(e, confirmed)| {
                    if confirmed { e.confirmed() } else { e }
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any bytes: no panic, and a verdict (possibly "unreadable").
            #[test]
            fn any_bytes_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let _ = read(&bytes);
            }

            /// A journal written line by line and cut anywhere never claims less is left
            /// than the complete lines say: a cut can only lose a line never sent.
            #[test]
            fn a_cut_journal_never_hides_a_held_key(
                entries in proptest::collection::vec(entry(), 0..40),
                cut in any::<proptest::sample::Index>(),
            ) {
                let mut text = String::new();
                for e in &entries {
                    text.push_str(&serde_json::to_string(e).unwrap());
                    text.push('\n');
                }
                let at = cut.index(text.len() + 1);
                let left = read(&text.as_bytes()[..at]);
                prop_assert!(left.unreadable.is_none());
                let whole_lines = text[..at].matches('\n').count();
                let expected = Leftover::from_entries(&entries[..whole_lines]);
                prop_assert_eq!(left.held, expected.held);
                prop_assert_eq!(left.network_pulled, expected.network_pulled);
            }

            /// Compaction says exactly what the journal said.
            #[test]
            fn compaction_is_faithful(entries in proptest::collection::vec(entry(), 0..40)) {
                let left = Leftover::from_entries(&entries);
                let again = Leftover::from_entries(&left.entries());
                prop_assert_eq!(again.held, left.held);
                prop_assert_eq!(again.power, left.power);
                prop_assert_eq!(again.network_pulled, left.network_pulled);
            }
        }
    }
}
