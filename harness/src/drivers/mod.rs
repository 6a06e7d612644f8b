//! The hardware a bench is wired to, one trait per role and one file per device family.
//!
//! Every serial driver speaks to a [`transport::SerialLink`], so the bytes it sends are
//! tested against a script, and the very same code drives a real rack and the virtual
//! bench's pseudo-terminals. Drivers block: the engine calls them from a bench thread or
//! `spawn_blocking`.
//!
//! Opening a device resynchronises with it (pending input is thrown away, and protocols
//! with answers are brought back in step) but never switches anything. Closing (dropping)
//! a driver switches nothing either: `harness lab check` opens devices and must leave every
//! relay and key as it found them. Making a bench safe is the caller's explicit job, through
//! [`ButtonActuator::release_all`] and [`PowerSwitch::set`], on every exit path.

pub mod actuator;
pub mod device_lock;
pub mod media;
pub mod power;
pub mod transport;
pub mod usb;
pub mod web;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lab::{Actuator, ActuatorKind, RelayBoard};

/// Switches mains (or PoE, or a network cable) of a phone through one relay channel.
pub trait PowerSwitch: Send {
    /// Close (true) or open (false) the relay of `channel` (board numbering).
    fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError>;
    /// Read a channel back; `Ok(None)` when the board cannot read state back (LCUS):
    /// never guess "off".
    fn get(&mut self, channel: u16) -> Result<Option<bool>, DriverError>;
    /// Which board this is and where, for transcripts and messages.
    fn describe(&self) -> String;
}

/// Presses a phone's keys through outputs wired across their contacts.
pub trait ButtonActuator: Send {
    /// Press `channel` and keep it pressed until [`ButtonActuator::release`].
    fn hold(&mut self, channel: u16) -> Result<(), DriverError>;
    /// Let go of `channel`; releasing a released channel is fine.
    fn release(&mut self, channel: u16) -> Result<(), DriverError>;
    /// Press `channel` for `hold_ms` milliseconds (already scaled by the lab's time scale),
    /// returning once the key is released again.
    fn tap(&mut self, channel: u16, hold_ms: u64) -> Result<(), DriverError>;
    /// Let go of every key: the safe state after a step, a fault or Ctrl-C.
    fn release_all(&mut self) -> Result<(), DriverError>;
    /// The channels held right now, in ascending order, as the board reports them.
    fn held(&mut self) -> Result<Vec<u16>, DriverError>;
    /// Which actuator this is and where, for transcripts and messages.
    fn describe(&self) -> String;
}

/// Names a device in a message so an operator can find it in the lab file and on the rack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRef {
    /// The lab file table it comes from: `relay_board` or `actuator`.
    pub table: &'static str,
    /// Its `name` in the lab file.
    pub name: String,
    /// Its `port` in the lab file.
    pub port: PathBuf,
}

impl DeviceRef {
    /// The device of a `[[relay_board]]` entry.
    pub fn relay_board(board: &RelayBoard) -> Self {
        DeviceRef {
            table: "relay_board",
            name: board.name.clone(),
            port: PathBuf::from(board.address()),
        }
    }

    /// The device of an `[[actuator]]` entry.
    pub fn actuator(actuator: &Actuator) -> Self {
        DeviceRef {
            table: "actuator",
            name: actuator.name.clone(),
            port: PathBuf::from(actuator.address()),
        }
    }
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` ({})",
            self.table,
            self.name,
            self.port.display()
        )
    }
}

/// Why a driver could not do what it was asked.
///
/// [`DriverError::is_lab_fault`] tells the engine whether the lab broke (retry after a
/// health check; never blame the firmware) or the request itself was wrong.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The serial device could not be opened.
    #[error(
        "cannot open {device}: {source}. Is its USB cable plugged in and is no other program \
         (another harness run, a terminal) using it? Check the `port` of {} `{}` in the lab file",
        device.table, device.name
    )]
    Open {
        /// The device.
        device: Box<DeviceRef>,
        /// What the operating system said.
        source: serialport::Error,
    },
    /// Reading or writing the port failed: the device vanished or hung up.
    #[error(
        "lost {device} while {action}: {source}. Was it unplugged or did it reset? Check its \
         USB cable and power"
    )]
    Io {
        /// The device.
        device: Box<DeviceRef>,
        /// What the driver was doing (`sending "relay on 0"`).
        action: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The device stayed silent past the time its answer was due.
    #[error(
        "{device} did not answer {command} within {} ms. Is it powered, is the `port` the \
         right device and does it run at the expected baud rate?",
        timeout.as_millis()
    )]
    Timeout {
        /// The device.
        device: Box<DeviceRef>,
        /// The command that went unanswered, printable.
        command: String,
        /// How long the driver waited.
        timeout: Duration,
    },
    /// The device answered something its protocol does not allow here. `answer` is
    /// printable already (see [`transport::printable`]), so it is shown as it is.
    #[error(
        "{device} answered {command} with \"{answer}\": {expected}. Is the right kind of \
         device on this `port`?"
    )]
    Protocol {
        /// The device.
        device: Box<DeviceRef>,
        /// The command sent, printable.
        command: String,
        /// What came back, printable.
        answer: String,
        /// What the protocol wanted instead.
        expected: String,
    },
    /// The button actuator refused a command with `ERR <code> <text>`.
    #[error("{device} refused {command}: ERR {code} {text}")]
    Refused {
        /// The device.
        device: Box<DeviceRef>,
        /// The command sent.
        command: String,
        /// The error code of lab/actuator/PROTOCOL.md.
        code: u16,
        /// The board's text for it.
        text: String,
    },
    /// The board has another number of channels than the lab file says.
    #[error(
        "{device} reports {reported} channels but the lab file says `channels = {configured}`: \
         is the right board on this `port`, or is the lab file wrong?"
    )]
    ChannelCount {
        /// The device.
        device: Box<DeviceRef>,
        /// What the lab file says.
        configured: u16,
        /// What the board says.
        reported: u16,
    },
    /// A channel outside the board's numbering; nothing was sent.
    #[error(
        "channel {channel} does not exist on {device}: its channels are {first} to {last}. \
         Check the bench wiring or the keymap in the lab file"
    )]
    NoSuchChannel {
        /// The device.
        device: Box<DeviceRef>,
        /// The channel asked for.
        channel: u16,
        /// The lowest channel number of the board.
        first: u16,
        /// The highest channel number of the board.
        last: u16,
    },
    /// The device's lock, which takes turns with the other processes sharing it, could
    /// not be had; nothing was sent.
    #[error("cannot take a turn on {device}: {source}")]
    Shared {
        /// The device.
        device: Box<DeviceRef>,
        /// Why.
        source: device_lock::DeviceLockError,
    },
    /// A request the device cannot carry out as asked; nothing was sent.
    #[error("{device} cannot {request}: {reason}")]
    Unsupported {
        /// The device.
        device: Box<DeviceRef>,
        /// What was asked.
        request: String,
        /// Why it cannot be done.
        reason: String,
    },
}

impl DriverError {
    /// True when the lab broke (the port vanished, the device stopped answering or answered
    /// nonsense): the run is a lab fault, not a finding about the phone. False when the
    /// request was wrong (a bad channel, an out-of-range time, a tap on a key the scenario
    /// itself holds): a lab-file or scenario error.
    pub fn is_lab_fault(&self) -> bool {
        match self {
            DriverError::Open { .. }
            | DriverError::Io { .. }
            | DriverError::Timeout { .. }
            | DriverError::Protocol { .. }
            | DriverError::Shared { .. }
            | DriverError::ChannelCount { .. } => true,
            // ERR 5: a TAP on a channel held by HOLD, which only the step sequence causes.
            DriverError::Refused { code, .. } => *code != actuator::serial::ERR_CHANNEL_BUSY,
            DriverError::NoSuchChannel { .. } | DriverError::Unsupported { .. } => false,
        }
    }

    /// Classify an I/O failure of a command by its kind, never by its text: a timeout is a
    /// silent device, `InvalidData` (what [`transport::FramedLink`] reports for an answer
    /// that never ends or a device that never stops sending) is a device talking nonsense,
    /// anything else a vanished one.
    pub(crate) fn from_io(
        device: &DeviceRef,
        command: &str,
        timeout: Duration,
        source: io::Error,
    ) -> Self {
        match source.kind() {
            io::ErrorKind::TimedOut => DriverError::Timeout {
                device: Box::new(device.clone()),
                command: command.to_string(),
                timeout,
            },
            io::ErrorKind::InvalidData => DriverError::Protocol {
                device: Box::new(device.clone()),
                command: command.to_string(),
                answer: source.to_string(),
                expected: "expected a short answer with its terminator".into(),
            },
            _ => DriverError::Io {
                device: Box::new(device.clone()),
                action: format!("sending {command}"),
                source,
            },
        }
    }
}

/// The serial port of a device that needs one. A checked lab always gives one to the kinds
/// that use it; a hand-built spec without one is refused rather than opened at random.
pub(crate) fn serial_port<'a>(
    device: &DeviceRef,
    port: Option<&'a Path>,
) -> Result<&'a Path, DriverError> {
    port.ok_or_else(|| DriverError::Unsupported {
        device: Box::new(device.clone()),
        request: "open a serial port".into(),
        reason: "the lab file gives it no `port`".into(),
    })
}

/// Open the driver for a relay board of the lab file; the board's kind opens it.
pub fn open_power_switch(board: &RelayBoard) -> Result<Box<dyn PowerSwitch>, DriverError> {
    board.board_kind().open(board)
}

/// Open the driver for a button actuator of the lab file and check that it is the board
/// the lab file describes. A relay actuator opens its own relay board: the lab file checks
/// that no bench powers or switches anything through that board.
pub fn open_actuator(actuator: &Actuator) -> Result<Box<dyn ButtonActuator>, DriverError> {
    match &actuator.kind {
        ActuatorKind::Serial => Ok(Box::new(actuator::serial::SerialActuator::open(actuator)?)),
        ActuatorKind::Relay { board, relays } => {
            let switch = open_power_switch(board)?;
            Ok(Box::new(actuator::relay::RelayKeyActuator::new(
                switch,
                DeviceRef::actuator(actuator),
                relays.clone(),
            )?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Box<DeviceRef> {
        Box::new(DeviceRef {
            table: "relay_board",
            name: "relay-power".into(),
            port: PathBuf::from("/dev/serial/by-id/lcus"),
        })
    }

    fn open_error() -> serialport::Error {
        serialport::Error::new(serialport::ErrorKind::NoDevice, "no such device")
    }

    fn refused(code: u16) -> DriverError {
        DriverError::Refused {
            device: device(),
            command: "TAP 1 80".into(),
            code,
            text: "some text".into(),
        }
    }

    /// Every variant, and every actuator error code, with the verdict the rack relies on.
    #[test]
    fn lab_faults_and_request_errors_are_told_apart() {
        let table: Vec<(&str, DriverError, bool)> = vec![
            (
                "open",
                DriverError::Open {
                    device: device(),
                    source: open_error(),
                },
                true,
            ),
            (
                "io",
                DriverError::Io {
                    device: device(),
                    action: "sending x".into(),
                    source: io::Error::from(io::ErrorKind::BrokenPipe),
                },
                true,
            ),
            (
                "timeout",
                DriverError::Timeout {
                    device: device(),
                    command: "HELLO".into(),
                    timeout: Duration::from_secs(1),
                },
                true,
            ),
            (
                "garbage answer",
                DriverError::Protocol {
                    device: device(),
                    command: "HELLO".into(),
                    answer: "\\xFF".into(),
                    expected: "an OK line".into(),
                },
                true,
            ),
            (
                "channel count",
                DriverError::ChannelCount {
                    device: device(),
                    configured: 24,
                    reported: 18,
                },
                true,
            ),
            (
                "no such channel",
                DriverError::NoSuchChannel {
                    device: device(),
                    channel: 9,
                    first: 1,
                    last: 8,
                },
                false,
            ),
            (
                "unsupported",
                DriverError::Unsupported {
                    device: device(),
                    request: "tap for 0 ms".into(),
                    reason: "too short".into(),
                },
                false,
            ),
            ("ERR 1 unknown command", refused(1), true),
            ("ERR 2 bad channel", refused(2), true),
            ("ERR 3 bad argument", refused(3), true),
            ("ERR 4 line too long", refused(4), true),
            ("ERR 5 channel busy (tap on a held key)", refused(5), false),
            ("ERR 99 (not in protocol 1)", refused(99), true),
        ];
        for (name, err, lab_fault) in table {
            assert_eq!(err.is_lab_fault(), lab_fault, "{name}: {err}");
        }
    }

    /// I/O failures are classified by kind: silence, nonsense and a vanished port.
    #[test]
    fn io_failures_keep_their_kind() {
        let device = DeviceRef::clone(&device());
        let timeout = Duration::from_millis(50);
        let classify = |kind: io::ErrorKind| {
            DriverError::from_io(&device, "HELLO", timeout, io::Error::new(kind, "x"))
        };
        assert!(matches!(
            classify(io::ErrorKind::TimedOut),
            DriverError::Timeout { .. }
        ));
        assert!(matches!(
            classify(io::ErrorKind::InvalidData),
            DriverError::Protocol { .. }
        ));
        for kind in [
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::UnexpectedEof,
            io::ErrorKind::Other,
        ] {
            assert!(matches!(classify(kind), DriverError::Io { .. }), "{kind:?}");
        }
    }
}
