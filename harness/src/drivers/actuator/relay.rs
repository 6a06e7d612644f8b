//! Keys pressed by relay channels: each actuator channel is one relay whose normally-open
//! contacts are soldered across a key's contacts, so closing the relay is pressing the key.
//!
//! A cheap relay board then does the job of the button actuator. Unlike the actuator it
//! has no watchdog and may not read its state back, so the keys held are tracked here (and
//! read back from boards that can) and every mapped relay is opened on `release_all`. Dropping it switches nothing: releasing
//! keys is the bench lifecycle's explicit job, and closing a device must not touch relays.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::drivers::{ButtonActuator, DeviceRef, DriverError, PowerSwitch};

use super::serial::MAX_TAP_MS;

/// A [`ButtonActuator`] over a relay board.
pub struct RelayKeyActuator {
    board: Box<dyn PowerSwitch>,
    device: DeviceRef,
    /// `relay_channels[n - 1]` is the relay of actuator channel `n`.
    relay_channels: Vec<u16>,
    held: BTreeSet<u16>,
}

impl RelayKeyActuator {
    /// Press keys through `board`: actuator channel `n` (from 1, as the keymap counts) is
    /// relay channel `relay_channels[n - 1]` in the board's own numbering. No relay is
    /// switched until a key is pressed.
    pub fn new(
        board: Box<dyn PowerSwitch>,
        device: DeviceRef,
        relay_channels: Vec<u16>,
    ) -> Result<Self, DriverError> {
        let mut seen = BTreeSet::new();
        if let Some(twice) = relay_channels.iter().find(|ch| !seen.insert(**ch)) {
            return Err(DriverError::Unsupported {
                device: Box::new(device),
                request: format!("wire relay {twice} to two keys"),
                reason: "one relay closes one key: every key needs its own relay channel".into(),
            });
        }
        if relay_channels.is_empty() || u16::try_from(relay_channels.len()).is_err() {
            return Err(DriverError::Unsupported {
                device: Box::new(device),
                request: format!("map {} keys", relay_channels.len()),
                reason: "map at least one key to a relay channel".into(),
            });
        }
        Ok(RelayKeyActuator {
            board,
            device,
            relay_channels,
            held: BTreeSet::new(),
        })
    }

    /// The relay of actuator channel `channel`, refused when the keymap has no such key.
    fn relay(&self, channel: u16) -> Result<u16, DriverError> {
        usize::from(channel)
            .checked_sub(1)
            .and_then(|i| self.relay_channels.get(i).copied())
            .ok_or_else(|| DriverError::NoSuchChannel {
                device: Box::new(self.device.clone()),
                channel,
                first: 1,
                last: self.channel_count(),
            })
    }

    fn channel_count(&self) -> u16 {
        u16::try_from(self.relay_channels.len()).expect("checked in new")
    }
}

impl ButtonActuator for RelayKeyActuator {
    fn hold(&mut self, channel: u16) -> Result<(), DriverError> {
        let relay = self.relay(channel)?;
        // Recorded before switching: a failed close may still have closed the contacts,
        // and a held key is what `release_all` must not forget.
        self.held.insert(channel);
        self.board.set(relay, true)
    }

    fn release(&mut self, channel: u16) -> Result<(), DriverError> {
        let relay = self.relay(channel)?;
        self.board.set(relay, false)?;
        self.held.remove(&channel);
        Ok(())
    }

    fn tap(&mut self, channel: u16, hold_ms: u64) -> Result<(), DriverError> {
        let relay = self.relay(channel)?;
        if self.held.contains(&channel) {
            return Err(DriverError::Unsupported {
                device: Box::new(self.device.clone()),
                request: format!("tap key channel {channel}"),
                reason: "an earlier step holds it; release it first".into(),
            });
        }
        if !(1..=MAX_TAP_MS).contains(&hold_ms) {
            return Err(DriverError::Unsupported {
                device: Box::new(self.device.clone()),
                request: format!("tap for {hold_ms} ms"),
                reason: format!("a tap lasts 1 to {MAX_TAP_MS} ms; use hold and release beyond"),
            });
        }
        self.held.insert(channel);
        self.board.set(relay, true)?;
        std::thread::sleep(Duration::from_millis(hold_ms));
        self.board.set(relay, false)?;
        self.held.remove(&channel);
        Ok(())
    }

    fn release_all(&mut self) -> Result<(), DriverError> {
        // Every mapped relay, not only the recorded ones: the board may have been switched
        // by a run that crashed before this one.
        let mut first_error = None;
        for (index, relay) in self.relay_channels.iter().enumerate() {
            match self.board.set(*relay, false) {
                Ok(()) => {
                    let channel = u16::try_from(index + 1).expect("checked in new");
                    self.held.remove(&channel);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Read back from the board where it can (Numato, USB-HID): another process sharing the
    /// board, or a board that reset, may have changed a relay behind this one's back. Only
    /// a board that cannot read back (LCUS) is answered from memory.
    fn held(&mut self) -> Result<Vec<u16>, DriverError> {
        for (index, relay) in self.relay_channels.iter().enumerate() {
            let channel = u16::try_from(index + 1).expect("checked in new");
            match self.board.get(*relay)? {
                Some(true) => {
                    self.held.insert(channel);
                }
                Some(false) => {
                    self.held.remove(&channel);
                }
                None => {}
            }
        }
        Ok(self.held.iter().copied().collect())
    }

    fn describe(&self) -> String {
        format!(
            "{} keys on relays of {} ({})",
            self.relay_channels.len(),
            self.board.describe(),
            self.device
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    /// Every switching a board was asked for: (relay channel, closed).
    type SwitchLog = Arc<Mutex<Vec<(u16, bool)>>>;

    /// A relay board that records every switching, shared with the test.
    struct Recorder {
        log: SwitchLog,
        fail_channel: Option<u16>,
    }

    impl PowerSwitch for Recorder {
        fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError> {
            if self.fail_channel == Some(channel) {
                return Err(DriverError::Io {
                    device: Box::new(device()),
                    action: "switching".into(),
                    source: std::io::Error::from(std::io::ErrorKind::BrokenPipe),
                });
            }
            self.log.lock().unwrap().push((channel, on));
            Ok(())
        }
        fn get(&mut self, _channel: u16) -> Result<Option<bool>, DriverError> {
            Ok(None)
        }
        fn describe(&self) -> String {
            "recorder".into()
        }
    }

    fn device() -> DeviceRef {
        DeviceRef {
            table: "actuator",
            name: "keys-relay".into(),
            port: PathBuf::from("relay-keys"),
        }
    }

    fn actuator(fail_channel: Option<u16>) -> (RelayKeyActuator, SwitchLog) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let board = Recorder {
            log: log.clone(),
            fail_channel,
        };
        let actuator = RelayKeyActuator::new(Box::new(board), device(), vec![5, 6, 7]).unwrap();
        (actuator, log)
    }

    #[test]
    fn hold_and_release_close_and_open_the_mapped_relay() {
        let (mut keys, log) = actuator(None);
        keys.hold(2).unwrap();
        assert_eq!(keys.held().unwrap(), [2]);
        keys.release(2).unwrap();
        assert!(keys.held().unwrap().is_empty());
        assert_eq!(*log.lock().unwrap(), [(6, true), (6, false)]);
    }

    #[test]
    fn tap_closes_then_opens() {
        let (mut keys, log) = actuator(None);
        keys.tap(1, 1).unwrap();
        assert!(keys.held().unwrap().is_empty());
        assert_eq!(*log.lock().unwrap(), [(5, true), (5, false)]);
    }

    #[test]
    fn a_tap_on_a_held_key_is_refused() {
        let (mut keys, _log) = actuator(None);
        keys.hold(3).unwrap();
        let err = keys.tap(3, 10).unwrap_err();
        assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
        assert!(!err.is_lab_fault());
    }

    #[test]
    fn unmapped_channels_are_refused() {
        let (mut keys, log) = actuator(None);
        for channel in [0, 4] {
            let err = keys.hold(channel).unwrap_err();
            assert!(
                matches!(
                    err,
                    DriverError::NoSuchChannel {
                        first: 1,
                        last: 3,
                        ..
                    }
                ),
                "{err}"
            );
        }
        assert!(log.lock().unwrap().is_empty());
    }

    #[test]
    fn drop_switches_nothing() {
        let (mut keys, log) = actuator(None);
        keys.hold(1).unwrap();
        drop(keys);
        assert_eq!(*log.lock().unwrap(), [(5, true)]);
    }

    #[test]
    fn taps_out_of_range_are_request_errors_and_switch_nothing() {
        let (mut keys, log) = actuator(None);
        for ms in [0, MAX_TAP_MS + 1] {
            let err = keys.tap(1, ms).unwrap_err();
            assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
            assert!(!err.is_lab_fault());
        }
        assert!(log.lock().unwrap().is_empty());
    }

    #[test]
    fn release_all_goes_on_past_a_failing_relay() {
        let (mut keys, log) = actuator(Some(6));
        keys.hold(1).unwrap();
        let err = keys.release_all().unwrap_err();
        assert!(err.is_lab_fault());
        assert!(keys.held().unwrap().is_empty());
        assert_eq!(*log.lock().unwrap(), [(5, true), (5, false), (7, false)]);
    }

    #[test]
    fn one_relay_for_two_keys_is_refused() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let board = Recorder {
            log,
            fail_channel: None,
        };
        let err = RelayKeyActuator::new(Box::new(board), device(), vec![1, 2, 1])
            .err()
            .unwrap();
        assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
    }

    /// A board that reads its relays back, shared with the test as the rack's other users.
    struct ReadBack {
        closed: Arc<Mutex<std::collections::BTreeSet<u16>>>,
    }

    impl PowerSwitch for ReadBack {
        fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError> {
            let mut closed = self.closed.lock().unwrap();
            if on {
                closed.insert(channel);
            } else {
                closed.remove(&channel);
            }
            Ok(())
        }
        fn get(&mut self, channel: u16) -> Result<Option<bool>, DriverError> {
            Ok(Some(self.closed.lock().unwrap().contains(&channel)))
        }
        fn describe(&self) -> String {
            "read-back".into()
        }
    }

    #[test]
    fn held_keys_are_read_back_from_a_board_that_can() {
        let closed = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let board = ReadBack {
            closed: closed.clone(),
        };
        let mut keys = RelayKeyActuator::new(Box::new(board), device(), vec![5, 6, 7]).unwrap();
        keys.hold(1).unwrap();
        // Behind this driver's back: relay 5 opened (the board reset), relay 7 closed.
        closed.lock().unwrap().remove(&5);
        closed.lock().unwrap().insert(7);
        assert_eq!(keys.held().unwrap(), [3]);
    }
}
