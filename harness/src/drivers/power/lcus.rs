//! LCUS relay boards (CH340 USB serial, 9600 8N1): write-only 4-byte frames
//! `[header, channel, on|off, checksum]`, channels numbered from 1 as printed on the board.
//!
//! The boards answer nothing, so a frame lost on the wire goes unnoticed and the state
//! cannot be read back: [`LcusSwitch`] says so (`get` is `Ok(None)`) instead of guessing.
//! For the same reason a board that hangs or babbles cannot be caught here: whatever the
//! port sends is dropped (at open, and before each frame, with a warning), and only the
//! phone it powers shows whether a frame took effect. Opening and dropping send nothing.

use std::time::Duration;

use serde::Deserialize;

use crate::drivers::transport::{FramedLink, SerialLink, TtyLink, printable};
use crate::drivers::{DeviceRef, DriverError, PowerSwitch, serial_port};
use crate::lab::relay_entry::OwnKeys;
use crate::lab::{RelayBoard, RelayKind};

use super::check_channel;
use super::registry::{BoardKey, Reach, RelayBoardKind, settings_mismatch};

/// The LCUS frame, this kind's settings: some boards use other header bytes or on/off codes.
#[derive(Debug, Clone, PartialEq)]
pub struct LcusFrame {
    /// The first byte of every frame.
    pub header: u8,
    /// The byte that closes the relay.
    pub on: u8,
    /// The byte that opens the relay.
    pub off: u8,
}

impl Default for LcusFrame {
    fn default() -> Self {
        LcusFrame {
            header: 0xA0,
            on: 0x01,
            off: 0x00,
        }
    }
}

/// `frame = { header, on, off }` as written; an omitted byte keeps the common value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameKey {
    #[serde(default = "common_header")]
    header: u8,
    #[serde(default = "common_on")]
    on: u8,
    #[serde(default)]
    off: u8,
}

fn common_header() -> u8 {
    LcusFrame::default().header
}

fn common_on() -> u8 {
    LcusFrame::default().on
}

/// The baud rate of every LCUS board.
pub const LCUS_BAUD: u32 = 9600;

/// The frame that switches `channel` on or off: the three payload bytes, then their sum
/// modulo 256.
pub fn encode(frame: &LcusFrame, channel: u8, on: bool) -> [u8; 4] {
    let state = if on { frame.on } else { frame.off };
    let checksum = frame.header.wrapping_add(channel).wrapping_add(state);
    [frame.header, channel, state, checksum]
}

/// At open, input is dropped until the port has been silent this long.
const OPEN_QUIET: Duration = Duration::from_millis(20);

/// Throw away what the port sent: an LCUS board never answers, so these bytes are line
/// noise or another device on the port, and never pile up unread.
fn drop_input(
    link: &mut FramedLink,
    device: &DeviceRef,
    action: &str,
    quiet: Duration,
) -> Result<(), DriverError> {
    let dropped = link.drain(quiet).map_err(|source| match source.kind() {
        std::io::ErrorKind::InvalidData => DriverError::Protocol {
            device: Box::new(device.clone()),
            command: action.to_string(),
            answer: source.to_string(),
            expected: "expected silence: an LCUS board never sends anything".into(),
        },
        _ => DriverError::Io {
            device: Box::new(device.clone()),
            action: action.to_string(),
            source,
        },
    })?;
    if !dropped.is_empty() {
        tracing::warn!(
            device = %device,
            bytes = dropped.len(),
            received = %printable(&dropped[..dropped.len().min(32)]),
            "an LCUS board never sends anything; bytes from its port dropped (is another device on this port?)"
        );
    }
    Ok(())
}

/// An open LCUS board.
pub struct LcusSwitch {
    link: FramedLink,
    device: DeviceRef,
    frame: LcusFrame,
    channels: u8,
}

impl LcusSwitch {
    /// Open the board's serial port. Nothing is sent: a frame would switch a relay.
    pub fn open(board: &RelayBoard, frame: LcusFrame) -> Result<Self, DriverError> {
        let device = DeviceRef::relay_board(board);
        let link = TtyLink::open(serial_port(&device, board.port.as_deref())?, LCUS_BAUD).map_err(
            |source| DriverError::Open {
                device: Box::new(device.clone()),
                source,
            },
        )?;
        Self::new(Box::new(link), device, frame, board.channels)
    }

    /// Drive an LCUS board over `link` (tests pass a scripted link); input already pending
    /// on it is dropped.
    pub fn new(
        link: Box<dyn SerialLink>,
        device: DeviceRef,
        frame: LcusFrame,
        channels: u16,
    ) -> Result<Self, DriverError> {
        // The channel travels in one byte of the frame.
        let channels = u8::try_from(channels).map_err(|_| DriverError::Unsupported {
            device: Box::new(device.clone()),
            request: format!("drive {channels} channels"),
            reason: "an LCUS frame addresses at most 255 channels".into(),
        })?;
        let mut switch = LcusSwitch {
            link: FramedLink::new(link),
            device,
            frame,
            channels,
        };
        let device = switch.device.clone();
        switch.link.exchange(&device, |link, _| {
            drop_input(link, &device, "opening the port", OPEN_QUIET)
        })?;
        Ok(switch)
    }

    fn channel_byte(&self, channel: u16) -> Result<u8, DriverError> {
        check_channel(&self.device, channel, 1, u16::from(self.channels))?;
        // Checked above: 1..=channels fits the byte.
        Ok(channel as u8)
    }
}

impl PowerSwitch for LcusSwitch {
    fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError> {
        let ch = self.channel_byte(channel)?;
        let bytes = encode(&self.frame, ch, on);
        let device = &self.device;
        self.link.exchange(device, |link, _| {
            drop_input(link, device, "reading the port before a frame", Duration::ZERO)?;
            tracing::debug!(device = %device, channel, on, frame = %printable(&bytes), "LCUS frame");
            // The board never answers, so any failure here is the port itself: even a write
            // that times out means the adapter stopped taking bytes.
            link.write_all(&bytes).map_err(|source| DriverError::Io {
                device: Box::new(device.clone()),
                action: format!("sending frame {}", printable(&bytes)),
                source,
            })
        })
    }

    /// The board cannot read its relays back, but its port can tell whether it is still
    /// there: reading it (nothing is sent) fails once the adapter is gone.
    fn get(&mut self, channel: u16) -> Result<Option<bool>, DriverError> {
        self.channel_byte(channel)?;
        let device = &self.device;
        self.link.exchange(device, |link, _| {
            drop_input(link, device, "reading the port", Duration::ZERO)
        })?;
        Ok(None)
    }

    fn describe(&self) -> String {
        format!(
            "LCUS {}-channel relay board, {}",
            self.channels, self.device
        )
    }
}

/// `kind = "lcus"`: a serial board whose frame may be set with `frame`.
pub struct LcusKind;

/// The registry's entry for LCUS boards.
pub static LCUS: LcusKind = LcusKind;

impl RelayBoardKind for LcusKind {
    fn name(&self) -> &'static str {
        "lcus"
    }

    fn reach(&self) -> Reach {
        Reach::SerialPort
    }

    fn own_keys(&self) -> &'static [BoardKey] {
        &[BoardKey {
            name: "frame",
            refusal: Some(|kind| {
                format!(
                    "`frame` applies to LCUS boards only: a `{kind}` board has its own protocol"
                )
            }),
        }]
    }

    fn settings(&self, keys: &mut OwnKeys<'_, '_, '_, '_>) -> Option<RelayKind> {
        let frame = match keys.get::<FrameKey>("frame").ok()? {
            None => LcusFrame::default(),
            Some(frame) => {
                let frame = frame.into_inner();
                LcusFrame {
                    header: frame.header,
                    on: frame.on,
                    off: frame.off,
                }
            }
        };
        Some(RelayKind::new(&LCUS, frame))
    }

    fn open(&self, board: &RelayBoard) -> Result<Box<dyn PowerSwitch>, DriverError> {
        let Some(frame) = board.kind.settings::<LcusFrame>() else {
            return Err(settings_mismatch(self, board));
        };
        Ok(Box::new(LcusSwitch::open(board, frame.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::transport::ScriptedLink;
    use std::io;
    use std::path::PathBuf;

    fn device() -> DeviceRef {
        DeviceRef {
            table: "relay_board",
            name: "relay-power".into(),
            port: PathBuf::from("/dev/serial/by-id/lcus"),
        }
    }

    #[test]
    fn encodes_the_documented_frames() {
        let frame = LcusFrame::default();
        assert_eq!(encode(&frame, 1, true), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(encode(&frame, 3, false), [0xA0, 0x03, 0x00, 0xA3]);
    }

    #[test]
    fn checksum_wraps_for_other_frame_formats() {
        let frame = LcusFrame {
            header: 0xFE,
            on: 0x05,
            off: 0x06,
        };
        assert_eq!(encode(&frame, 8, true), [0xFE, 0x08, 0x05, 0x0B]);
        assert_eq!(encode(&frame, 8, false), [0xFE, 0x08, 0x06, 0x0C]);
    }

    #[test]
    fn set_writes_one_frame_per_call() {
        let link = ScriptedLink::new()
            .expect([0xA0, 0x02, 0x01, 0xA3])
            .expect([0xA0, 0x02, 0x00, 0xA2]);
        let mut switch = LcusSwitch::new(link.boxed(), device(), LcusFrame::default(), 8).unwrap();
        switch.set(2, true).unwrap();
        switch.set(2, false).unwrap();
    }

    #[test]
    fn bad_channels_are_refused_before_anything_is_written() {
        let mut switch = LcusSwitch::new(
            ScriptedLink::new().boxed(),
            device(),
            LcusFrame::default(),
            8,
        )
        .unwrap();
        for channel in [0, 9, 300] {
            let err = switch.set(channel, true).unwrap_err();
            assert!(
                matches!(
                    err,
                    DriverError::NoSuchChannel {
                        first: 1,
                        last: 8,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(!err.is_lab_fault());
        }
        assert!(switch.get(0).is_err());
    }

    #[test]
    fn state_cannot_be_read_back() {
        let mut switch = LcusSwitch::new(
            ScriptedLink::new().boxed(),
            device(),
            LcusFrame::default(),
            4,
        )
        .unwrap();
        assert_eq!(switch.get(4).unwrap(), None);
    }

    #[test]
    fn a_vanished_port_is_a_lab_fault() {
        let link = ScriptedLink::new().fail_write(io::ErrorKind::BrokenPipe);
        let mut switch = LcusSwitch::new(link.boxed(), device(), LcusFrame::default(), 8).unwrap();
        let err = switch.set(1, true).unwrap_err();
        assert!(matches!(err, DriverError::Io { .. }), "{err}");
        assert!(err.is_lab_fault());
        assert!(
            err.to_string().contains("relay_board `relay-power`"),
            "{err}"
        );
    }

    #[test]
    fn boards_beyond_one_byte_of_channels_are_unsupported() {
        let err = LcusSwitch::new(
            ScriptedLink::new().boxed(),
            device(),
            LcusFrame::default(),
            256,
        )
        .err()
        .unwrap();
        assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
    }
}
