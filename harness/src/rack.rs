//! The opened hardware of a lab: one driver per relay board and actuator, shared by the
//! benches wired to it, and each bench's view of its own channels and keys.
//!
//! Drivers are blocking (serial I/O); every call runs on tokio's blocking pool so a slow
//! board never stalls the endpoints. A board shared by several benches is behind one mutex:
//! its frames never interleave.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::drivers::{ButtonActuator, DriverError, PowerSwitch, open_actuator, open_power_switch};
use crate::lab::{Actuator, Bench, Key, Lab, PowerState, RelayBoard, RelayChannel};
use crate::safety::journal::{Journal, JournalEntry, Leftover};

type Shared<T> = Arc<Mutex<Box<T>>>;

/// Every device of a lab that could be opened, and why the others could not.
pub struct Rack {
    boards: HashMap<String, Result<Shared<dyn PowerSwitch>, String>>,
    actuators: HashMap<String, Result<Shared<dyn ButtonActuator>, String>>,
    /// The lab-file entries of the devices, to open one again after it was replugged.
    board_specs: HashMap<String, RelayBoard>,
    actuator_specs: HashMap<String, Actuator>,
}

/// A device that could not be used: the bench is a lab fault.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RigError {
    #[error("{device} `{name}`: {message}")]
    Unavailable {
        device: &'static str,
        name: String,
        message: String,
    },
    #[error("{0}")]
    Driver(String),
    #[error("bench has no key `{0}` in its keymap")]
    NoSuchKey(Key),
    #[error("bench has no network-link relay")]
    NoNetworkRelay,
    /// The crash journal could not record an action, so the action was not sent.
    #[error("{0}")]
    Journal(String),
}

impl From<DriverError> for RigError {
    fn from(e: DriverError) -> Self {
        RigError::Driver(e.to_string())
    }
}

impl Rack {
    /// Opens every relay board and actuator the given benches use. A device that fails to
    /// open is remembered with its error: only the benches wired to it are affected.
    pub fn open(lab: &Lab, benches: &[&Bench]) -> Rack {
        let mut boards = HashMap::new();
        let mut actuators = HashMap::new();
        let mut board_specs = HashMap::new();
        let mut actuator_specs = HashMap::new();
        for bench in benches {
            let channels = std::iter::once(&bench.power).chain(bench.network.as_ref());
            for RelayChannel { board, .. } in channels {
                if boards.contains_key(board) {
                    continue;
                }
                let spec = lab
                    .relay_boards
                    .iter()
                    .find(|b| &b.name == board)
                    .expect("checked lab");
                let opened = open_power_switch(spec)
                    .map(|d| Arc::new(Mutex::new(d)))
                    .map_err(|e| e.to_string());
                boards.insert(board.clone(), opened);
                board_specs.insert(board.clone(), spec.clone());
            }
            if !actuators.contains_key(&bench.actuator) {
                let spec = lab
                    .actuators
                    .iter()
                    .find(|a| a.name == bench.actuator)
                    .expect("checked lab");
                let opened = open_actuator(spec)
                    .map(|d| Arc::new(Mutex::new(d)))
                    .map_err(|e| e.to_string());
                actuators.insert(bench.actuator.clone(), opened);
                actuator_specs.insert(bench.actuator.clone(), spec.clone());
            }
        }
        Rack {
            boards,
            actuators,
            board_specs,
            actuator_specs,
        }
    }

    /// Opens relay board `name` again and puts the new handle in place of the old one, for
    /// every bench wired to it: a board whose USB cable was pulled and plugged back is a new
    /// device, and the old port stays dead for good.
    pub async fn reopen_board(&self, name: &str) -> Result<(), RigError> {
        reopen(
            "relay board",
            name,
            self.boards.get(name),
            self.board_specs.get(name),
            open_power_switch,
        )
        .await
    }

    /// Opens actuator `name` again, as `reopen_board` does for a relay board.
    pub async fn reopen_actuator(&self, name: &str) -> Result<(), RigError> {
        reopen(
            "actuator",
            name,
            self.actuators.get(name),
            self.actuator_specs.get(name),
            open_actuator,
        )
        .await
    }

    /// The devices of one bench, or the first one that is unavailable.
    pub fn rig(&self, bench: &Bench) -> Result<BenchRig, RigError> {
        let board = |ch: &RelayChannel| match &self.boards[&ch.board] {
            Ok(d) => Ok(d.clone()),
            Err(message) => Err(RigError::Unavailable {
                device: "relay board",
                name: ch.board.clone(),
                message: message.clone(),
            }),
        };
        let power = board(&bench.power)?;
        let network = bench.network.as_ref().map(board).transpose()?;
        let actuator = match &self.actuators[&bench.actuator] {
            Ok(d) => d.clone(),
            Err(message) => {
                return Err(RigError::Unavailable {
                    device: "actuator",
                    name: bench.actuator.clone(),
                    message: message.clone(),
                });
            }
        };
        Ok(BenchRig {
            bench: bench.clone(),
            power,
            network,
            actuator,
            held: Arc::new(Mutex::new(BTreeSet::new())),
            journal: None,
        })
    }
}

/// Opens device `name` again from its lab-file entry, under the device's lock: benches
/// sharing it wait, then find the new handle in place instead of opening the device a
/// second time.
async fn reopen<D: ?Sized + Send + 'static, S: Clone + Send + 'static>(
    device: &'static str,
    name: &str,
    shared: Option<&Result<Shared<D>, String>>,
    spec: Option<&S>,
    open: fn(&S) -> Result<Box<D>, DriverError>,
) -> Result<(), RigError> {
    let unavailable = |message: String| RigError::Unavailable {
        device,
        name: name.to_string(),
        message,
    };
    let (Some(Ok(shared)), Some(spec)) = (shared, spec) else {
        return Err(unavailable("it was never opened in this run".into()));
    };
    let (spec, shared) = (spec.clone(), shared.clone());
    tokio::task::spawn_blocking(move || {
        let mut handle = shared.lock().unwrap_or_else(|p| p.into_inner());
        *handle = open(&spec)?;
        Ok::<(), DriverError>(())
    })
    .await
    .map_err(|e| RigError::Driver(format!("opening the {device} panicked: {e}")))?
    .map_err(|e| unavailable(e.to_string()))
}

/// One bench's devices: its power channel, network-link channel and keys.
#[derive(Clone)]
pub struct BenchRig {
    pub bench: Bench,
    power: Shared<dyn PowerSwitch>,
    network: Option<Shared<dyn PowerSwitch>>,
    actuator: Shared<dyn ButtonActuator>,
    /// Channels this bench holds, so that `make_safe` releases exactly them.
    held: Arc<Mutex<BTreeSet<u16>>>,
    /// Where every action that leaves state behind is recorded before it is sent.
    journal: Option<Arc<Journal>>,
}

async fn blocking<D: ?Sized + Send + 'static, R: Send + 'static>(
    device: &Shared<D>,
    call: impl FnOnce(&mut D) -> Result<R, DriverError> + Send + 'static,
) -> Result<R, RigError> {
    let device = device.clone();
    tokio::task::spawn_blocking(move || {
        // A poisoned lock means another bench's call panicked mid-frame; the board itself
        // is still usable, and refusing it would leave this bench's power unsafe.
        let mut guard = device.lock().unwrap_or_else(|p| p.into_inner());
        call(&mut **guard)
    })
    .await
    .map_err(|e| RigError::Driver(format!("driver call panicked: {e}")))?
    .map_err(RigError::from)
}

impl BenchRig {
    /// Records every later hold, release, power and network action in `journal` before
    /// sending it, and empties it once `make_safe` succeeds.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> BenchRig {
        self.journal = Some(journal);
        self
    }

    fn record(&self, entry: JournalEntry) -> Result<(), RigError> {
        match &self.journal {
            Some(journal) => journal
                .append(&entry)
                .map_err(|e| RigError::Journal(e.to_string())),
            None => Ok(()),
        }
    }

    /// Puts the bench back in its safe state after a process died on it, from what its
    /// journal says: every key it may still hold is released, power goes to the safe
    /// state, a pulled network cable is connected again. Returns what was done, in words
    /// for the log and the run summary.
    pub async fn recover(&self, left: &Leftover) -> Result<String, RigError> {
        let mut done = Vec::new();
        {
            let mut held = self.held.lock().expect("held set");
            held.extend(left.held.keys().copied());
        }
        for key in left.held.values() {
            done.push(format!("released {key}"));
        }
        if left.network == Some(false) {
            self.network(true).await?;
            done.push("network connected".into());
        }
        self.make_safe().await?;
        done.push(format!(
            "power {}",
            if self.bench.safe_power == PowerState::On {
                "on"
            } else {
                "off"
            }
        ));
        Ok(done.join(", "))
    }

    /// Closes (`true`: power applied) or opens the bench's power relay.
    pub async fn power(&self, on: bool) -> Result<(), RigError> {
        let channel = self.bench.power.channel;
        self.record(JournalEntry::Power { on })?;
        blocking(&self.power, move |d| d.set(channel, on)).await
    }

    /// Connects (`true`) or pulls the phone's network cable through its relay.
    pub async fn network(&self, connected: bool) -> Result<(), RigError> {
        let (Some(board), Some(ch)) = (&self.network, &self.bench.network) else {
            return Err(RigError::NoNetworkRelay);
        };
        let channel = ch.channel;
        self.record(JournalEntry::Network { connected })?;
        blocking(board, move |d| d.set(channel, connected)).await
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
        self.record(JournalEntry::Hold {
            key: key.0.clone(),
            channel,
        })?;
        self.held.lock().expect("held set").insert(channel);
        blocking(&self.actuator, move |d| d.hold(channel)).await
    }

    /// Releases a key.
    pub async fn release(&self, key: &Key) -> Result<(), RigError> {
        let channel = self.channel(key)?;
        self.record(JournalEntry::Release {
            key: key.0.clone(),
            channel,
        })?;
        blocking(&self.actuator, move |d| d.release(channel)).await?;
        self.held.lock().expect("held set").remove(&channel);
        Ok(())
    }

    /// Lets go of every key of this bench's keymap, one channel at a time (an actuator may
    /// be shared with other benches on other channels). It leaves nothing pressed and proves
    /// that the actuator answers.
    pub async fn release_keys(&self) -> Result<(), RigError> {
        let channels: BTreeSet<u16> = self.bench.keys.values().copied().collect();
        for channel in channels {
            blocking(&self.actuator, move |d| d.release(channel)).await?;
            self.held.lock().expect("held set").remove(&channel);
        }
        Ok(())
    }

    /// Presses a key for `hold_ms` milliseconds (already scaled by the caller).
    pub async fn tap(&self, key: &Key, hold_ms: u64) -> Result<(), RigError> {
        let channel = self.channel(key)?;
        blocking(&self.actuator, move |d| d.tap(channel, hold_ms)).await
    }

    /// Releases every key this bench holds and puts its power in the configured safe state.
    /// Tries every part even when one fails, and reports the first failure. On success the
    /// journal is emptied: nothing is left to undo after a crash.
    pub async fn make_safe(&self) -> Result<(), RigError> {
        let mut first_error = None;
        let held: Vec<u16> = self
            .held
            .lock()
            .expect("held set")
            .iter()
            .copied()
            .collect();
        for channel in held {
            let key = self
                .bench
                .keys
                .iter()
                .find(|(_, c)| **c == channel)
                .map_or_else(|| format!("channel {channel}"), |(k, _)| k.0.clone());
            if let Err(e) = self.record(JournalEntry::Release { key, channel }) {
                first_error.get_or_insert(e);
            }
            match blocking(&self.actuator, move |d| d.release(channel)).await {
                Ok(()) => {
                    self.held.lock().expect("held set").remove(&channel);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let safe_on = self.bench.safe_power == PowerState::On;
        if let Err(e) = self.power(safe_on).await {
            first_error.get_or_insert(e);
        }
        if first_error.is_none()
            && let Some(journal) = &self.journal
            && let Err(e) = journal.clear()
        {
            first_error = Some(RigError::Journal(e.to_string()));
        }
        first_error.map_or(Ok(()), Err)
    }
}
