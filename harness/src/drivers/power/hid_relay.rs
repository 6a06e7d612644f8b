//! USB-HID relay boards (the common DCTTECH design, 16c0:05df, product `USBRelay<N>`):
//! no serial port, only HID feature reports on interface 0.
//!
//! - switch: SET_REPORT (feature, id 0) with 8 bytes `[0xFF on | 0xFD off, relay, 0...]`,
//!   or `[0xFE all on | 0xFC all off, 0, ...]`;
//! - read back: GET_REPORT (feature, id 0), 8 bytes: bytes 0-4 the board's serial number
//!   (ASCII, set at the factory, not the USB serial string), byte 7 the bitmask of relays
//!   on (bit 0 is relay 1).
//!
//! Relays are numbered from 1 as printed on the board. 16c0:05df is a shared id, so only
//! devices whose product string starts with `USBRelay` are taken for relay boards.

use std::time::Duration;

use crate::drivers::transport::printable;
use crate::drivers::usb::{
    ControlSetup, HidTransport, RusbHid, UDEV_HINT, find_devices, select_by_serial, selection_error,
};
use crate::drivers::{DeviceRef, DriverError, PowerSwitch};
use crate::lab::relay_entry::{OwnKeys, RelayEntry};
use crate::lab::{RelayBoard, RelayKind};

use super::registry::{
    BoardKey, ON_THE_USB_BUS, Reach, RelayBoardKind, UsbSelection, settings_mismatch,
};

use super::check_channel;

/// The shared V-USB vendor id the boards use.
pub const HID_RELAY_VID: u16 = 0x16c0;
/// The shared V-USB product id the boards use.
pub const HID_RELAY_PID: u16 = 0x05df;
/// The product string of a relay board starts with this, followed by its relay count.
pub const PRODUCT_PREFIX: &str = "USBRelay";
/// The boards' report length.
pub const REPORT_LEN: usize = 8;
/// The most relays the state bitmask can report.
pub const MAX_CHANNELS: u8 = 8;

/// The HID interface the board's reports live on.
const INTERFACE: u8 = 0;
/// A board answers a control transfer within milliseconds.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(1);

const CMD_ON: u8 = 0xFF;
const CMD_OFF: u8 = 0xFD;
const CMD_ALL_ON: u8 = 0xFE;
const CMD_ALL_OFF: u8 = 0xFC;

/// The feature report that switches relay `channel` (1-based).
pub fn encode_set(channel: u8, on: bool) -> [u8; REPORT_LEN] {
    let mut report = [0u8; REPORT_LEN];
    report[0] = if on { CMD_ON } else { CMD_OFF };
    report[1] = channel;
    report
}

/// The feature report that switches every relay of the board at once.
pub fn encode_set_all(on: bool) -> [u8; REPORT_LEN] {
    let mut report = [0u8; REPORT_LEN];
    report[0] = if on { CMD_ALL_ON } else { CMD_ALL_OFF };
    report
}

/// What the board's state report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayReport {
    /// The board's serial number (bytes 0-4, trailing NULs dropped, non-ASCII escaped).
    pub serial: String,
    /// Bit `n` set: relay `n + 1` is on.
    pub on_mask: u8,
}

impl RelayReport {
    /// Whether relay `channel` (1-based) is on.
    pub fn is_on(&self, channel: u8) -> bool {
        (1..=MAX_CHANNELS).contains(&channel) && self.on_mask & (1 << (channel - 1)) != 0
    }
}

/// Decode the state report; it must be the full 8 bytes.
pub fn parse_report(report: &[u8]) -> Result<RelayReport, String> {
    if report.len() != REPORT_LEN {
        return Err(format!(
            "expected an {REPORT_LEN}-byte state report, got {} bytes",
            report.len()
        ));
    }
    let serial_bytes = &report[..5];
    let end = serial_bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |at| at + 1);
    Ok(RelayReport {
        serial: printable(&serial_bytes[..end]),
        on_mask: report[7],
    })
}

/// The relay count in a product string (`USBRelay2` → 2); `None` for any other device.
pub fn channels_from_product(product: &str) -> Option<u8> {
    product
        .strip_prefix(PRODUCT_PREFIX)?
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_CHANNELS).contains(n))
}

/// An open USB-HID relay board.
pub struct HidRelaySwitch {
    hid: Box<dyn HidTransport>,
    device: DeviceRef,
    serial: String,
    channels: u8,
}

impl HidRelaySwitch {
    /// Find the board with serial number `serial` (the one in its state report, as the
    /// `usbrelay` tool prints it), or the only board plugged in when `serial` is `None`,
    /// and check it has `channels` relays.
    pub fn open(
        device: DeviceRef,
        serial: Option<&str>,
        channels: u8,
    ) -> Result<Self, DriverError> {
        check_channel_count(&device, channels)?;
        let (candidates, mut refused) = find_devices(&device, &[(HID_RELAY_VID, HID_RELAY_PID)])?;
        let mut boards = Vec::new();
        for candidate in candidates {
            let Some(product) = candidate.info.product.as_deref() else {
                continue;
            };
            let Some(reported) = channels_from_product(product) else {
                continue;
            };
            let place = format!(
                "{product} on USB bus {} address {}",
                candidate.info.bus, candidate.info.address
            );
            // A board that cannot be claimed or read is reported, not fatal: it may be
            // another bench's board, busy with another run.
            let mut hid: Box<dyn HidTransport> = match RusbHid::open(&candidate.device, INTERFACE) {
                Ok(hid) => Box::new(hid),
                Err(e) => {
                    refused.push(format!("{place}: {e}"));
                    continue;
                }
            };
            let report = match read_report(hid.as_mut(), &device) {
                Ok(report) => report,
                Err(e) => {
                    refused.push(format!("{place}: {e}"));
                    continue;
                }
            };
            boards.push((report.serial, (hid, reported)));
        }
        let (found_serial, (hid, reported)) = select_by_serial(boards, serial).map_err(|why| {
            let mut detail = why.explain("USB-HID relay board (16c0:05df USBRelay<N>)");
            if !refused.is_empty() {
                detail.push_str(&format!(
                    "; some could not be opened ({}); where permission was denied, {UDEV_HINT}",
                    refused.join("; ")
                ));
            }
            selection_error(&device, &why, detail)
        })?;
        if reported != channels {
            return Err(DriverError::ChannelCount {
                device: Box::new(device),
                configured: u16::from(channels),
                reported: u16::from(reported),
            });
        }
        tracing::debug!(
            device = %device,
            serial = %found_serial,
            location = %hid.location(),
            "USB-HID relay board opened"
        );
        Self::connect(hid, device, channels)
    }

    /// Drive a board over `hid`: its state report is read once, to learn its serial
    /// number and to check that it answers like a relay board.
    pub fn connect(
        mut hid: Box<dyn HidTransport>,
        device: DeviceRef,
        channels: u8,
    ) -> Result<Self, DriverError> {
        check_channel_count(&device, channels)?;
        let report = read_report(hid.as_mut(), &device)?;
        Ok(HidRelaySwitch {
            hid,
            device,
            serial: report.serial,
            channels,
        })
    }

    /// The board's serial number, as read from its state report.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Switch every relay of the board at once (a whole bench off in one transfer).
    pub fn set_all(&mut self, on: bool) -> Result<(), DriverError> {
        let report = encode_set_all(on);
        self.send(&report)?;
        let state = read_report(self.hid.as_mut(), &self.device)?;
        let wanted = if on { full_mask(self.channels) } else { 0 };
        if state.on_mask & full_mask(self.channels) != wanted {
            return Err(self.not_applied(&report, &state, "every relay"));
        }
        Ok(())
    }

    /// The board's full state report.
    pub fn report(&mut self) -> Result<RelayReport, DriverError> {
        read_report(self.hid.as_mut(), &self.device)
    }

    fn send(&mut self, report: &[u8; REPORT_LEN]) -> Result<(), DriverError> {
        let shown = format!("SET_REPORT {}", hex::encode(report));
        let setup = ControlSetup::set_feature_report(INTERFACE, 0);
        let sent = self
            .hid
            .control_out(setup, report, TRANSFER_TIMEOUT)
            .map_err(|e| DriverError::from_io(&self.device, &shown, TRANSFER_TIMEOUT, e))?;
        if sent != REPORT_LEN {
            return Err(DriverError::Protocol {
                device: Box::new(self.device.clone()),
                command: shown,
                answer: format!("{sent} bytes accepted"),
                expected: format!("expected the board to take all {REPORT_LEN} bytes"),
            });
        }
        Ok(())
    }

    fn not_applied(&self, report: &[u8], state: &RelayReport, what: &str) -> DriverError {
        DriverError::Protocol {
            device: Box::new(self.device.clone()),
            command: format!("SET_REPORT {}", hex::encode(report)),
            answer: format!("relays on: {:08b}", state.on_mask),
            expected: format!("expected {what} to have switched; is the board browning out?"),
        }
    }
}

/// Refuse a channel count the board family cannot have, before any transfer.
fn check_channel_count(device: &DeviceRef, channels: u8) -> Result<(), DriverError> {
    if (1..=MAX_CHANNELS).contains(&channels) {
        Ok(())
    } else {
        Err(DriverError::Unsupported {
            device: Box::new(device.clone()),
            request: format!("drive {channels} relays"),
            reason: format!("USB-HID relay boards have 1 to {MAX_CHANNELS} relays"),
        })
    }
}

/// The mask of relays 1..=`channels`.
fn full_mask(channels: u8) -> u8 {
    if channels >= 8 {
        0xFF
    } else {
        (1u8 << channels) - 1
    }
}

/// Read and decode the board's state report.
fn read_report(hid: &mut dyn HidTransport, device: &DeviceRef) -> Result<RelayReport, DriverError> {
    let command = "GET_REPORT (state)";
    let mut buf = [0u8; REPORT_LEN];
    let n = hid
        .control_in(
            ControlSetup::get_feature_report(INTERFACE, 0),
            &mut buf,
            TRANSFER_TIMEOUT,
        )
        .map_err(|e| DriverError::from_io(device, command, TRANSFER_TIMEOUT, e))?;
    parse_report(&buf[..n]).map_err(|expected| DriverError::Protocol {
        device: Box::new(device.clone()),
        command: command.into(),
        answer: hex::encode(&buf[..n]),
        expected,
    })
}

impl PowerSwitch for HidRelaySwitch {
    fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError> {
        check_channel(&self.device, channel, 1, u16::from(self.channels))?;
        let relay = u8::try_from(channel).expect("checked against at most 8 channels");
        let report = encode_set(relay, on);
        self.send(&report)?;
        // The board acknowledges nothing: read the state back so a command it dropped is
        // caught here, not as a phone that never powered up.
        let state = read_report(self.hid.as_mut(), &self.device)?;
        if state.is_on(relay) != on {
            return Err(self.not_applied(&report, &state, &format!("relay {relay}")));
        }
        Ok(())
    }

    fn get(&mut self, channel: u16) -> Result<Option<bool>, DriverError> {
        check_channel(&self.device, channel, 1, u16::from(self.channels))?;
        let relay = u8::try_from(channel).expect("checked against at most 8 channels");
        let state = read_report(self.hid.as_mut(), &self.device)?;
        Ok(Some(state.is_on(relay)))
    }

    fn describe(&self) -> String {
        format!(
            "USB-HID {}-relay board serial {} ({}), {}",
            self.channels,
            self.serial,
            self.hid.location(),
            self.device
        )
    }
}

/// `kind = "usb-hid-relay"`: found on the USB bus, by `serial` among several; 1 to 8 relays.
pub struct HidRelayKind;

/// The registry's entry for USB-HID relay boards.
pub static USB_HID_RELAY: HidRelayKind = HidRelayKind;

impl RelayBoardKind for HidRelayKind {
    fn name(&self) -> &'static str {
        "usb-hid-relay"
    }

    fn reach(&self) -> Reach {
        Reach::Elsewhere(ON_THE_USB_BUS)
    }

    fn own_keys(&self) -> &'static [BoardKey] {
        const KEYS: &[BoardKey] = &[BoardKey::new("serial")];
        KEYS
    }

    fn channels(&self, entry: &mut RelayEntry<'_, '_, '_>) -> Option<u16> {
        let Some(channels) = &entry.raw().channels else {
            return entry.required_channels();
        };
        let count = *channels.get_ref();
        if !(1..=u16::from(MAX_CHANNELS)).contains(&count) {
            entry.at(
                &channels.span(),
                "channels",
                format!(
                    "channels must be 1 to {MAX_CHANNELS} on a `usb-hid-relay` board (USB-HID relay boards have 1 to {MAX_CHANNELS} relays), found {count}"
                ),
            );
            return None;
        }
        entry.channel_count(channels)
    }

    fn settings(&self, keys: &mut OwnKeys<'_, '_, '_, '_>) -> Option<RelayKind> {
        Some(RelayKind::new(&USB_HID_RELAY, UsbSelection::read(keys)?))
    }

    fn address(&self, kind: &RelayKind) -> Option<String> {
        let selection = kind.settings::<UsbSelection>()?;
        Some(format!(
            "usb {HID_RELAY_VID:04x}:{HID_RELAY_PID:04x}, {}",
            selection.shown()
        ))
    }

    fn open(&self, board: &RelayBoard) -> Result<Box<dyn PowerSwitch>, DriverError> {
        let Some(UsbSelection { serial }) = board.kind.settings::<UsbSelection>() else {
            return Err(settings_mismatch(self, board));
        };
        let device = DeviceRef::relay_board(board);
        let channels = u8::try_from(board.channels).map_err(|_| DriverError::Unsupported {
            device: Box::new(device.clone()),
            request: format!("drive {} relays", board.channels),
            reason: format!("USB-HID relay boards have 1 to {MAX_CHANNELS} relays"),
        })?;
        Ok(Box::new(HidRelaySwitch::open(
            device,
            serial.as_deref(),
            channels,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::usb::ScriptedHid;
    use std::io;
    use std::path::PathBuf;

    fn device() -> DeviceRef {
        DeviceRef {
            table: "relay_board",
            name: "relay-hid".into(),
            port: PathBuf::from("usb:16c0:05df"),
        }
    }

    fn get() -> ControlSetup {
        ControlSetup::get_feature_report(0, 0)
    }

    fn set() -> ControlSetup {
        ControlSetup::set_feature_report(0, 0)
    }

    fn state(mask: u8) -> [u8; 8] {
        [b'Q', b'A', b'A', b'M', b'Z', 0, 0, mask]
    }

    #[test]
    fn encodes_single_relay_reports() {
        assert_eq!(encode_set(1, true), [0xFF, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode_set(8, false), [0xFD, 8, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn encodes_all_relay_reports() {
        assert_eq!(encode_set_all(true), [0xFE, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode_set_all(false), [0xFC, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn parses_the_state_report() {
        let report = parse_report(&[b'6', b'Q', b'M', b'B', b'S', 0, 0, 0b0000_0101]).unwrap();
        assert_eq!(report.serial, "6QMBS");
        assert!(report.is_on(1) && !report.is_on(2) && report.is_on(3));
        assert!(!report.is_on(0) && !report.is_on(9));
        let short = parse_report(&[b'A', b'B', 0, 0, 0, 0, 0, 0x80]).unwrap();
        assert_eq!(short.serial, "AB");
        assert!(short.is_on(8));
        assert!(parse_report(&[0; 4]).is_err());
    }

    #[test]
    fn reads_the_relay_count_from_the_product_string() {
        assert_eq!(channels_from_product("USBRelay2"), Some(2));
        assert_eq!(channels_from_product("USBRelay8"), Some(8));
        assert_eq!(channels_from_product("USBRelay9"), None);
        assert_eq!(channels_from_product("USBasp"), None);
    }

    #[test]
    fn switches_and_checks_the_state_back() {
        let hid = ScriptedHid::new()
            .expect_control_in(get(), state(0))
            .expect_control_out(set(), encode_set(2, true))
            .expect_control_in(get(), state(0b10))
            .expect_control_in(get(), state(0b10))
            .expect_control_out(set(), encode_set(2, false))
            .expect_control_in(get(), state(0));
        let mut switch = HidRelaySwitch::connect(hid.boxed(), device(), 2).unwrap();
        assert_eq!(switch.serial(), "QAAMZ");
        switch.set(2, true).unwrap();
        assert_eq!(switch.get(2).unwrap(), Some(true));
        switch.set(2, false).unwrap();
    }

    #[test]
    fn a_dropped_command_is_a_lab_fault() {
        let hid = ScriptedHid::new()
            .expect_control_in(get(), state(0))
            .expect_control_out(set(), encode_set(1, true))
            .expect_control_in(get(), state(0));
        let mut switch = HidRelaySwitch::connect(hid.boxed(), device(), 4).unwrap();
        let err = switch.set(1, true).unwrap_err();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn switches_all_relays_in_one_report() {
        let hid = ScriptedHid::new()
            .expect_control_in(get(), state(0))
            .expect_control_out(set(), encode_set_all(false))
            .expect_control_in(get(), state(0));
        let mut switch = HidRelaySwitch::connect(hid.boxed(), device(), 4).unwrap();
        switch.set_all(false).unwrap();
    }

    #[test]
    fn bad_channels_are_refused_before_any_transfer() {
        let hid = ScriptedHid::new().expect_control_in(get(), state(0));
        let mut switch = HidRelaySwitch::connect(hid.boxed(), device(), 2).unwrap();
        for channel in [0, 3, 300] {
            let err = switch.set(channel, true).unwrap_err();
            assert!(
                matches!(
                    err,
                    DriverError::NoSuchChannel {
                        first: 1,
                        last: 2,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(!err.is_lab_fault());
        }
    }

    #[test]
    fn an_unplugged_board_is_a_lab_fault() {
        let hid = ScriptedHid::new()
            .expect_control_in(get(), state(0))
            .fail(io::ErrorKind::NotConnected);
        let mut switch = HidRelaySwitch::connect(hid.boxed(), device(), 2).unwrap();
        let err = switch.set(1, true).unwrap_err();
        assert!(matches!(err, DriverError::Io { .. }), "{err}");
        assert!(err.is_lab_fault());
        assert!(err.to_string().contains("relay_board `relay-hid`"), "{err}");
    }

    #[test]
    fn impossible_channel_counts_are_unsupported() {
        for channels in [0, 9] {
            let err = HidRelaySwitch::connect(ScriptedHid::new().boxed(), device(), channels)
                .err()
                .unwrap();
            assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
        }
    }
}
