//! The opened hardware of a lab: one driver per relay board and actuator, shared by the
//! benches wired to it, and each bench's view of its own channels and keys.
//!
//! Drivers are blocking (serial I/O); every call runs on tokio's blocking pool so a slow
//! board never stalls the endpoints. A board shared by several benches is behind one mutex:
//! its frames never interleave within this process, and the driver takes the device's lock
//! for each exchange so they never interleave with another process's either. A device that could not be opened keeps its slot with the
//! error, so the benches wired to it are lab faults while every other device of the same
//! bench can still be made safe, and a health check can open it again later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::drivers::{
    ButtonActuator, DeviceRef, DriverError, PowerSwitch, open_actuator, open_power_switch,
};
use crate::lab::{Bench, Key, Lab, PowerState};
use crate::outcome::FaultClass;
use crate::safety::journal::{Journal, JournalEntry};

/// One device of the lab: its driver, or why it could not be opened, and how to open it
/// again (a board whose USB cable was pulled and plugged back is a new device, and the old
/// port stays dead for good).
struct Slot<T: ?Sized> {
    /// `relay board` or `actuator`, for messages.
    kind: &'static str,
    /// Its lab-file name.
    name: String,
    handle: Mutex<Result<Box<T>, Arc<DriverError>>>,
    open: Box<dyn Fn() -> Result<Box<T>, DriverError> + Send + Sync>,
}

type SharedSlot<T> = Arc<Slot<T>>;

impl<T: ?Sized> Slot<T> {
    fn new(
        kind: &'static str,
        name: &str,
        open: Box<dyn Fn() -> Result<Box<T>, DriverError> + Send + Sync>,
    ) -> SharedSlot<T> {
        let handle = Mutex::new(open().map_err(Arc::new));
        Arc::new(Slot {
            kind,
            name: name.to_string(),
            handle,
            open,
        })
    }

    fn unavailable(&self, error: Arc<DriverError>) -> RigError {
        RigError::Unavailable {
            device: self.kind,
            name: self.name.clone(),
            error,
        }
    }

    /// Why the device cannot be used now, if it cannot.
    fn error(&self) -> Option<RigError> {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner());
        handle.as_ref().err().map(|e| self.unavailable(e.clone()))
    }
}

/// Every device of a lab that the given benches use.
pub struct Rack {
    boards: HashMap<String, SharedSlot<dyn PowerSwitch>>,
    actuators: HashMap<String, SharedSlot<dyn ButtonActuator>>,
}

/// Why a bench's device could not do what was asked. Whether that is the lab's fault or
/// the lab file's is decided by [`RigError::class`], from the kind of error, never its text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RigError {
    /// The device could not be opened (or was lost and could not be opened again).
    #[error("{device} `{name}`: {error}")]
    Unavailable {
        /// `relay board` or `actuator`.
        device: &'static str,
        /// Its lab-file name.
        name: String,
        /// Why.
        error: Arc<DriverError>,
    },
    /// The driver refused or failed the request.
    #[error("{0}")]
    Driver(Arc<DriverError>),
    /// A driver call panicked: the harness's own bug, but the bench cannot be trusted.
    #[error("a driver call panicked: {0}")]
    Panicked(String),
    /// A step names a key the bench's keymap lacks.
    #[error("bench has no key `{0}` in its keymap")]
    NoSuchKey(Key),
    /// A step switches the network cable of a bench without a network relay.
    #[error("bench has no network-link relay")]
    NoNetworkRelay,
    /// The crash journal could not record an action, so the action was not sent.
    #[error("{0}")]
    Journal(String),
}

impl From<DriverError> for RigError {
    fn from(e: DriverError) -> Self {
        RigError::Driver(Arc::new(e))
    }
}

impl RigError {
    /// Whose fault this is: the lab broke (a device vanished, stayed silent, answered
    /// nonsense; the journal's disk failed) or the lab or scenario file asks for something
    /// the bench cannot do.
    pub fn class(&self) -> FaultClass {
        match self {
            RigError::Unavailable { error, .. } | RigError::Driver(error) => {
                if error.is_lab_fault() {
                    FaultClass::LabFault
                } else {
                    FaultClass::ConfigError
                }
            }
            RigError::Panicked(_) | RigError::Journal(_) => FaultClass::LabFault,
            RigError::NoSuchKey(_) | RigError::NoNetworkRelay => FaultClass::ConfigError,
        }
    }
}

impl Rack {
    /// Opens every relay board and actuator the given benches use, each once. A device
    /// that fails to open is remembered with its error: only what needs it is affected.
    pub fn open(lab: &Lab, benches: &[&Bench]) -> Rack {
        Rack::open_except(lab, benches, &BTreeSet::new())
    }

    /// Opens the devices of `benches` except those named in `leave`: devices another
    /// process has open, which `lab check` must not take from it. Only the read methods
    /// may be used on such a rack, for the devices it opened.
    pub fn open_except(lab: &Lab, benches: &[&Bench], leave: &BTreeSet<&str>) -> Rack {
        let mut boards = HashMap::new();
        let mut actuators = HashMap::new();
        for bench in benches {
            for link in std::iter::once(&bench.power).chain(bench.network.as_ref()) {
                if boards.contains_key(&link.board) || leave.contains(link.board.as_str()) {
                    continue;
                }
                let spec = lab
                    .relay_boards
                    .iter()
                    .find(|b| b.name == link.board)
                    .expect("checked lab")
                    .clone();
                let slot: SharedSlot<dyn PowerSwitch> = Slot::new(
                    "relay board",
                    &link.board,
                    Box::new(move || open_power_switch(&spec)),
                );
                boards.insert(link.board.clone(), slot);
            }
            if !actuators.contains_key(&bench.actuator) && !leave.contains(bench.actuator.as_str())
            {
                let spec = lab
                    .actuators
                    .iter()
                    .find(|a| a.name == bench.actuator)
                    .expect("checked lab")
                    .clone();
                let slot: SharedSlot<dyn ButtonActuator> = Slot::new(
                    "actuator",
                    &bench.actuator,
                    Box::new(move || open_actuator(&spec)),
                );
                actuators.insert(bench.actuator.clone(), slot);
            }
        }
        Rack { boards, actuators }
    }

    /// Opens relay board `name` again and puts the new handle in place of the old one, for
    /// every bench wired to it.
    pub async fn reopen_board(&self, name: &str) -> Result<(), RigError> {
        reopen(self.boards.get(name).cloned(), name).await
    }

    /// Opens actuator `name` again, as `reopen_board` does for a relay board.
    pub async fn reopen_actuator(&self, name: &str) -> Result<(), RigError> {
        reopen(self.actuators.get(name).cloned(), name).await
    }

    /// The devices of one bench. Some may be unavailable: [`BenchRig::unavailable`] says
    /// which, and every action on one returns its error.
    pub fn rig(&self, bench: &Bench) -> BenchRig {
        BenchRig {
            bench: bench.clone(),
            power: self.boards[&bench.power.board].clone(),
            network: bench
                .network
                .as_ref()
                .map(|link| self.boards[&link.board].clone()),
            actuator: self.actuators[&bench.actuator].clone(),
            journal: None,
            registration: Arc::default(),
        }
    }

    /// Reads the state of a relay channel without switching it (`lab check`).
    pub async fn read_relay(&self, board: &str, channel: u16) -> Result<Option<bool>, RigError> {
        let slot = self
            .boards
            .get(board)
            .cloned()
            .expect("a board of the rack");
        blocking(&slot, move |d| d.get(channel)).await
    }

    /// Reads which channels an actuator holds, without pressing anything (`lab check`).
    pub async fn read_held(&self, actuator: &str) -> Result<Vec<u16>, RigError> {
        let slot = self
            .actuators
            .get(actuator)
            .cloned()
            .expect("an actuator of the rack");
        blocking(&slot, |d| d.held()).await
    }
}

/// Opens a device again from its lab-file entry, under the device's lock: benches sharing
/// it wait, then find the new handle in place instead of opening the device a second time.
async fn reopen<T: ?Sized + Send + 'static>(
    slot: Option<SharedSlot<T>>,
    name: &str,
) -> Result<(), RigError> {
    let Some(slot) = slot else {
        return Err(RigError::Panicked(format!(
            "device `{name}` is not part of this run"
        )));
    };
    tokio::task::spawn_blocking(move || {
        let mut handle = slot.handle.lock().unwrap_or_else(|p| p.into_inner());
        // The old port is closed first: the device may still hold it open exclusively.
        let closing = DriverError::Unsupported {
            device: Box::new(DeviceRef {
                table: slot.kind,
                name: slot.name.clone(),
                port: Default::default(),
            }),
            request: "be used".into(),
            reason: "it is being opened again".into(),
        };
        drop(std::mem::replace(&mut *handle, Err(Arc::new(closing))));
        *handle = (slot.open)().map_err(Arc::new);
        handle.as_ref().err().map(|e| slot.unavailable(e.clone()))
    })
    .await
    .map_err(|e| RigError::Panicked(format!("opening device `{name}`: {e}")))?
    .map_or(Ok(()), Err)
}

async fn blocking<T: ?Sized + Send + 'static, R: Send + 'static>(
    slot: &SharedSlot<T>,
    call: impl FnOnce(&mut T) -> Result<R, DriverError> + Send + 'static,
) -> Result<R, RigError> {
    let slot = slot.clone();
    tokio::task::spawn_blocking(move || {
        // A poisoned lock means another bench's call panicked mid-frame; the board itself
        // is still usable, and refusing it would leave this bench's power unsafe.
        let mut handle = slot.handle.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *handle {
            Ok(device) => call(&mut **device).map_err(RigError::from),
            Err(error) => Err(slot.unavailable(error.clone())),
        }
    })
    .await
    .map_err(|e| RigError::Panicked(e.to_string()))?
}

/// One bench's devices: its power channel, network-link channel and keys.
#[derive(Clone)]
pub struct BenchRig {
    /// The bench as the lab file describes it.
    pub bench: Bench,
    power: SharedSlot<dyn PowerSwitch>,
    network: Option<SharedSlot<dyn PowerSwitch>>,
    actuator: SharedSlot<dyn ButtonActuator>,
    /// Where every action that leaves state behind is recorded before it is sent, and
    /// confirmed once the device acknowledged it.
    journal: Option<Arc<Journal>>,
    /// The Call-ID and answer of the last REGISTER the phone showed, kept across cases: a
    /// refresh of the previous case's registration is then known as one by the next case.
    registration: Arc<std::sync::Mutex<Option<(String, u16)>>>,
}

/// How making a bench safe went, device by device. Every device is tried whatever the
/// others did.
#[derive(Debug, Clone)]
pub struct SafeReport {
    /// Every key of the keymap (and any channel a predecessor's journal names) released.
    pub keys: Result<(), RigError>,
    /// The cable connected; `None` when the bench has no network relay.
    pub network: Option<Result<(), RigError>>,
    /// Power in the bench's safe state.
    pub power: Result<(), RigError>,
    /// The bench's safe power state, for the message.
    pub safe_power: PowerState,
    /// The journal emptied (everything confirmed) or compacted (something left to do).
    pub journal: Result<(), RigError>,
}

impl SafeReport {
    /// True when every device confirmed its safe state and the journal says so.
    pub fn is_safe(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The failures, device by device.
    pub fn errors(&self) -> impl Iterator<Item = &RigError> {
        [
            self.keys.as_ref().err(),
            self.network.as_ref().and_then(|r| r.as_ref().err()),
            self.power.as_ref().err(),
            self.journal.as_ref().err(),
        ]
        .into_iter()
        .flatten()
    }
}

impl fmt::Display for SafeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut part = |done: &str, result: &Result<(), RigError>| match result {
            Ok(()) => parts.push(done.to_string()),
            Err(e) => parts.push(format!("NOT {done} ({e})")),
        };
        part("keys released", &self.keys);
        if let Some(network) = &self.network {
            part("cable connected", network);
        }
        let power = match self.safe_power {
            PowerState::On => "power on",
            PowerState::Off => "power off",
        };
        part(power, &self.power);
        if let Err(e) = &self.journal {
            parts.push(format!("journal not updated ({e})"));
        }
        write!(f, "{}", parts.join(", "))
    }
}

impl BenchRig {
    /// Notes a REGISTER the phone sent (its Call-ID) and how it was answered; true when it
    /// only refreshed the registration last noted, with the same answer (RFC 3261 10.2.4:
    /// a refresh keeps its Call-ID).
    pub(crate) fn note_registration(&self, call_id: &str, status: u16) -> bool {
        let mut last = self
            .registration
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let unchanged = last
            .as_ref()
            .is_some_and(|(id, answer)| id == call_id && *answer == status);
        *last = Some((call_id.to_string(), status));
        unchanged
    }

    /// Records every later hold, release, power and network action in `journal` before
    /// sending it, and its confirmation after the device acknowledged it.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> BenchRig {
        self.journal = Some(journal);
        self
    }

    /// The lock folder of the bench's lease and journal, when it has a journal: where its
    /// service state (bad, disabled) is kept.
    pub fn lock_dir(&self) -> Option<&std::path::Path> {
        self.journal.as_ref().and_then(|j| j.path().parent())
    }

    /// The first device of the bench that cannot be used, if any: the bench cannot run a
    /// case, though its other devices can still be made safe.
    pub fn unavailable(&self) -> Option<RigError> {
        let mut slots = vec![self.power.error()];
        slots.extend(self.network.as_ref().map(|n| n.error()));
        slots.push(self.actuator.error());
        slots.into_iter().flatten().next()
    }

    fn record(&self, entry: &JournalEntry) -> Result<(), RigError> {
        match &self.journal {
            Some(journal) => journal
                .append(entry)
                .map_err(|e| RigError::Journal(e.to_string())),
            None => Ok(()),
        }
    }

    /// Records `entry`, sends it through `call`, and confirms it once the device answered.
    async fn journaled<T: ?Sized + Send + 'static>(
        &self,
        entry: JournalEntry,
        slot: &SharedSlot<T>,
        call: impl FnOnce(&mut T) -> Result<(), DriverError> + Send + 'static,
    ) -> Result<(), RigError> {
        self.record(&entry)?;
        blocking(slot, call).await?;
        self.record(&entry.confirmed())
    }

    /// Closes (`true`: power applied) or opens the bench's power relay.
    pub async fn power(&self, on: bool) -> Result<(), RigError> {
        let channel = self.bench.power.channel;
        self.journaled(JournalEntry::Power { on }, &self.power, move |d| {
            d.set(channel, on)
        })
        .await
    }

    /// Connects (`true`) or pulls the phone's network cable through its relay.
    pub async fn network(&self, connected: bool) -> Result<(), RigError> {
        let (Some(board), Some(link)) = (&self.network, &self.bench.network) else {
            return Err(RigError::NoNetworkRelay);
        };
        let channel = link.channel;
        self.journaled(JournalEntry::Network { connected }, board, move |d| {
            d.set(channel, connected)
        })
        .await
    }

    fn channel(&self, key: &Key) -> Result<u16, RigError> {
        self.bench
            .keys
            .get(key)
            .copied()
            .ok_or_else(|| RigError::NoSuchKey(key.clone()))
    }

    /// Presses a key and keeps it pressed.
    pub async fn hold(&self, key: &Key) -> Result<(), RigError> {
        let channel = self.channel(key)?;
        let entry = JournalEntry::Hold {
            key: key.0.clone(),
            channel,
        };
        self.journaled(entry, &self.actuator, move |d| d.hold(channel))
            .await
    }

    /// Releases a key.
    pub async fn release(&self, key: &Key) -> Result<(), RigError> {
        let channel = self.channel(key)?;
        self.release_channel(key.0.clone(), channel).await
    }

    async fn release_channel(&self, key: String, channel: u16) -> Result<(), RigError> {
        let entry = JournalEntry::Release { key, channel };
        self.journaled(entry, &self.actuator, move |d| d.release(channel))
            .await
    }

    /// Presses a key for `hold_ms` milliseconds (already scaled by the caller). Not
    /// journaled: the actuator ends a tap by itself.
    pub async fn tap(&self, key: &Key, hold_ms: u64) -> Result<(), RigError> {
        let channel = self.channel(key)?;
        blocking(&self.actuator, move |d| d.tap(channel, hold_ms)).await
    }

    /// Releases every key of the keymap and every channel in `also` (what a predecessor's
    /// journal says it held), one channel at a time: the actuator may be shared with other
    /// benches on other channels. The first lab fault ends the round (the actuator is
    /// broken; every other channel would wait out the same timeout). A channel the
    /// actuator says does not exist cannot be held, and counts as released.
    async fn release_every_key(&self, also: &BTreeMap<u16, String>) -> Result<(), RigError> {
        let mut channels: BTreeMap<u16, String> = also.clone();
        for (key, channel) in &self.bench.keys {
            channels.insert(*channel, key.0.clone());
        }
        for (channel, key) in channels {
            match self.release_channel(key.clone(), channel).await {
                Ok(()) => {}
                Err(e) if e.class() == FaultClass::ConfigError => {
                    tracing::warn!(bench = %self.bench.name, channel,
                        "a journal names key `{key}` on a channel the actuator lacks: {e}");
                    self.record(
                        &JournalEntry::Release {
                            key: key.clone(),
                            channel,
                        }
                        .confirmed(),
                    )?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads every device of the bench, switching nothing: the relay channels it uses and
    /// the keys the actuator holds. The first device that is gone, silent or answering
    /// nonsense is the error. A difference found by a case is only a finding when the
    /// bench's devices still answer after it: a relay board lost mid-case (its relays drop
    /// with its USB power) changes what the phone does without the harness seeing it.
    pub async fn verify_devices(&self) -> Result<(), RigError> {
        let channel = self.bench.power.channel;
        blocking(&self.power, move |d| d.get(channel)).await?;
        if let (Some(board), Some(link)) = (&self.network, &self.bench.network) {
            let channel = link.channel;
            blocking(board, move |d| d.get(channel)).await?;
        }
        blocking(&self.actuator, |d| d.held()).await?;
        Ok(())
    }

    /// Releases every key of the keymap (the health check's start state).
    pub async fn release_keys(&self) -> Result<(), RigError> {
        self.release_every_key(&BTreeMap::new()).await
    }

    /// Puts the bench in its safe state: every key released, the cable connected, power
    /// in the configured safe state, in that order (a key held while power comes back
    /// would boot the phone into its recovery menu). Every device is tried whatever the
    /// others did. When all of them confirmed, the journal is emptied; otherwise it is
    /// compacted to what is still left to do, so it never grows with repeated attempts.
    pub async fn make_safe(&self, also_release: &BTreeMap<u16, String>) -> SafeReport {
        let keys = self.release_every_key(also_release).await;
        let network = match self.bench.network {
            Some(_) => Some(self.network(true).await),
            None => None,
        };
        let power = self.power(self.bench.safe_power == PowerState::On).await;
        let mut report = SafeReport {
            keys,
            network,
            power,
            safe_power: self.bench.safe_power,
            journal: Ok(()),
        };
        if let Some(journal) = &self.journal {
            let done = if report.is_safe() {
                journal.clear()
            } else {
                journal.leftover().and_then(|left| journal.compact(&left))
            };
            report.journal = done.map_err(|e| RigError::Journal(e.to_string()));
        }
        report
    }

    /// Notes in the journal that this owner gives the bench up unsafe, and why: the next
    /// owner reports "left unsafe by an earlier run", not a crash.
    pub fn note_left_unsafe(&self, reason: String) {
        if let Err(e) = self.record(&JournalEntry::LeftUnsafe { reason }) {
            tracing::error!(bench = %self.bench.name, "{e}");
        }
    }
}
