//! Yepkit YKUSH and YKUSH3 switchable USB hubs: they power the port the recovery USB stick
//! sits on, so a stick can be "unplugged" and "plugged" without hands.
//!
//! The protocol, as Yepkit's own tools speak it (`ykushcmd` in Yepkit/ykush and the
//! `pykush` module): every command is one 64-byte HID output report with the command in
//! byte 0, answered by one 64-byte input report.
//!
//! - `0x11`/`0x12`/`0x13`: port 1/2/3 on; `0x01`/`0x02`/`0x03`: port off; `0x1A`/`0x0A`:
//!   every port on/off. The port bit pattern is `0x10 * on | port`.
//! - `0x21`/`0x22`/`0x23`: read port 1/2/3; the answer's byte 1 is `0x10 * on | port`
//!   (`0x11` port 1 on, `0x01` port 1 off), which `ykushcmd` decodes as high nibble = state,
//!   low nibble = port.
//! - byte 0 of every answer is the status, `0x01` when the command was carried out
//!   (`pykush` checks it for every command and so does this driver).
//!
//! Ports are numbered from 1 as printed on the hub.

use std::time::Duration;

use crate::drivers::usb::{
    HidTransport, RusbHid, UDEV_HINT, find_devices, open_error, select_by_serial, selection_error,
};
use crate::drivers::{DeviceRef, DriverError, PowerSwitch};
use crate::lab::relay_entry::{OwnKeys, RelayEntry};
use crate::lab::{RelayBoard, RelayKind};

use super::check_channel;
use super::registry::{
    BoardKey, ON_THE_USB_BUS, Reach, RelayBoardKind, UsbSelection, settings_mismatch,
};

/// Yepkit's vendor id (Microchip's, which the boards use).
pub const YKUSH_VID: u16 = 0x04d8;
/// The YKUSH product id.
pub const YKUSH_PID: u16 = 0xf2f7;
/// The YKUSH3 product id.
pub const YKUSH3_PID: u16 = 0xf11b;
/// Every command and answer is one report of this size.
pub const REPORT_LEN: usize = 64;
/// The downstream ports of both models.
pub const PORTS: u8 = 3;
/// The status byte of an answer to a command that was carried out.
pub const STATUS_OK: u8 = 0x01;

/// The HID interface the hub's reports live on.
const INTERFACE: u8 = 0;
/// Yepkit's tools wait one second for an answer.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(1);

const ALL_PORTS: u8 = 0x0A;
const ON_BIT: u8 = 0x10;
const QUERY: u8 = 0x20;

/// The report that switches downstream `port` (1..=3).
pub fn encode_set(port: u8, on: bool) -> [u8; REPORT_LEN] {
    command(if on { ON_BIT | port } else { port })
}

/// The report that switches every downstream port.
pub fn encode_set_all(on: bool) -> [u8; REPORT_LEN] {
    command(if on { ON_BIT | ALL_PORTS } else { ALL_PORTS })
}

/// The report that asks the state of downstream `port` (1..=3).
pub fn encode_query(port: u8) -> [u8; REPORT_LEN] {
    command(QUERY | port)
}

fn command(byte: u8) -> [u8; REPORT_LEN] {
    let mut report = [0u8; REPORT_LEN];
    report[0] = byte;
    report
}

/// Check the status byte of the answer to a switching command.
pub fn parse_status(answer: &[u8]) -> Result<(), String> {
    match answer.first() {
        Some(&STATUS_OK) => Ok(()),
        Some(status) => Err(format!(
            "expected status 0x01 (done) in byte 0, got 0x{status:02X}: the hub refused the command"
        )),
        None => Err("expected a report, got nothing".into()),
    }
}

/// The state of `port` in the answer to its query: byte 1 is `0x10 * on | port`.
pub fn parse_port_state(port: u8, answer: &[u8]) -> Result<bool, String> {
    parse_status(answer)?;
    let Some(&state) = answer.get(1) else {
        return Err("expected the port state in byte 1, the answer is 1 byte long".into());
    };
    if state & 0x0F != port {
        return Err(format!(
            "expected the state of port {port} in byte 1, got 0x{state:02X} (port {})",
            state & 0x0F
        ));
    }
    match state >> 4 {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(format!(
            "expected 0x{:02X} (on) or 0x{port:02X} (off) in byte 1, got 0x{state:02X}",
            ON_BIT | port
        )),
    }
}

/// Which hub model this is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YkushModel {
    /// The original YKUSH, 04d8:f2f7.
    Ykush,
    /// The YKUSH3, 04d8:f11b.
    Ykush3,
}

impl YkushModel {
    /// The model of a product id; `None` for other devices (other Yepkit boards, a
    /// bootloader).
    pub fn from_pid(pid: u16) -> Option<Self> {
        match pid {
            YKUSH_PID => Some(YkushModel::Ykush),
            YKUSH3_PID => Some(YkushModel::Ykush3),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            YkushModel::Ykush => "YKUSH",
            YkushModel::Ykush3 => "YKUSH3",
        }
    }
}

/// An open YKUSH hub whose three downstream ports are the channels.
pub struct YkushSwitch {
    hid: Box<dyn HidTransport>,
    device: DeviceRef,
    model: YkushModel,
    serial: Option<String>,
}

impl YkushSwitch {
    /// Find the hub with USB serial number `serial` (as `ykushcmd -l` lists it), or the only
    /// hub plugged in when `serial` is `None`.
    pub fn open(device: DeviceRef, serial: Option<&str>) -> Result<Self, DriverError> {
        let ids = [(YKUSH_VID, YKUSH_PID), (YKUSH_VID, YKUSH3_PID)];
        let (candidates, refused) = find_devices(&device, &ids)?;
        let hubs = candidates
            .into_iter()
            .map(|c| (c.info.serial.clone().unwrap_or_default(), c))
            .collect();
        let (found_serial, hub) = select_by_serial(hubs, serial).map_err(|why| {
            let mut detail = why.explain("YKUSH hub (04d8:f2f7 or 04d8:f11b)");
            if !refused.is_empty() {
                detail.push_str(&format!(
                    "; some could not be opened ({}); where permission was denied, {UDEV_HINT}",
                    refused.join("; ")
                ));
            }
            selection_error(&device, &why, detail)
        })?;
        let model = YkushModel::from_pid(hub.info.pid).expect("only YKUSH ids were listed");
        let hid = RusbHid::open(&hub.device, INTERFACE).map_err(|e| {
            open_error(
                &device,
                e.kind(),
                format!(
                    "cannot claim the {} on USB bus {} address {}: {e}",
                    model.name(),
                    hub.info.bus,
                    hub.info.address
                ),
            )
        })?;
        let serial = Some(found_serial).filter(|s| !s.is_empty());
        Ok(Self::connect(Box::new(hid), device, model, serial))
    }

    /// Drive a hub over `hid`; nothing is sent.
    pub fn connect(
        hid: Box<dyn HidTransport>,
        device: DeviceRef,
        model: YkushModel,
        serial: Option<String>,
    ) -> Self {
        YkushSwitch {
            hid,
            device,
            model,
            serial,
        }
    }

    /// Switch every downstream port at once.
    pub fn set_all(&mut self, on: bool) -> Result<(), DriverError> {
        let answer = self.exchange(&encode_set_all(on))?;
        self.check(&encode_set_all(on), &answer, parse_status(&answer))
    }

    /// Send one command report and return the hub's answer report.
    fn exchange(&mut self, report: &[u8; REPORT_LEN]) -> Result<Vec<u8>, DriverError> {
        let shown = format!("report 0x{:02X}", report[0]);
        let io_error =
            |device: &DeviceRef, e| DriverError::from_io(device, &shown, TRANSFER_TIMEOUT, e);
        self.hid
            .write_interrupt(report, TRANSFER_TIMEOUT)
            .map_err(|e| io_error(&self.device, e))?;
        let mut answer = vec![0u8; REPORT_LEN];
        let n = self
            .hid
            .read_interrupt(&mut answer, TRANSFER_TIMEOUT)
            .map_err(|e| io_error(&self.device, e))?;
        answer.truncate(n);
        Ok(answer)
    }

    fn check<T>(
        &self,
        report: &[u8; REPORT_LEN],
        answer: &[u8],
        parsed: Result<T, String>,
    ) -> Result<T, DriverError> {
        parsed.map_err(|expected| DriverError::Protocol {
            device: Box::new(self.device.clone()),
            command: format!("report 0x{:02X}", report[0]),
            answer: hex::encode(&answer[..answer.len().min(4)]),
            expected,
        })
    }

    fn port(&self, channel: u16) -> Result<u8, DriverError> {
        check_channel(&self.device, channel, 1, u16::from(PORTS))?;
        Ok(u8::try_from(channel).expect("checked against 3 ports"))
    }
}

impl PowerSwitch for YkushSwitch {
    fn set(&mut self, channel: u16, on: bool) -> Result<(), DriverError> {
        let report = encode_set(self.port(channel)?, on);
        let answer = self.exchange(&report)?;
        self.check(&report, &answer, parse_status(&answer))
    }

    fn get(&mut self, channel: u16) -> Result<Option<bool>, DriverError> {
        let port = self.port(channel)?;
        let report = encode_query(port);
        let answer = self.exchange(&report)?;
        self.check(&report, &answer, parse_port_state(port, &answer))
            .map(Some)
    }

    fn describe(&self) -> String {
        format!(
            "{} USB hub{} ({}), {}",
            self.model.name(),
            self.serial
                .as_deref()
                .map(|s| format!(" serial {s}"))
                .unwrap_or_default(),
            self.hid.location(),
            self.device
        )
    }
}

/// `kind = "ykush"`: found on the USB bus, by `serial` among several; always 3 ports.
pub struct YkushKind;

/// The registry's entry for YKUSH hubs.
pub static YKUSH: YkushKind = YkushKind;

impl RelayBoardKind for YkushKind {
    fn name(&self) -> &'static str {
        "ykush"
    }

    fn reach(&self) -> Reach {
        Reach::Elsewhere(ON_THE_USB_BUS)
    }

    fn own_keys(&self) -> &'static [BoardKey] {
        const KEYS: &[BoardKey] = &[BoardKey::new("serial")];
        KEYS
    }

    /// `channels` may be left out; when given it must be the hub's 3.
    fn channels(&self, entry: &mut RelayEntry<'_, '_, '_>) -> Option<u16> {
        let Some(channels) = &entry.raw().channels else {
            return Some(u16::from(PORTS));
        };
        let count = *channels.get_ref();
        if count != u16::from(PORTS) {
            entry.at(
                &channels.span(),
                "channels",
                format!(
                    "channels must be {PORTS} on a `ykush` board (a YKUSH has {PORTS} switchable ports; leave it out), found {count}"
                ),
            );
            return None;
        }
        entry.channel_count(channels)
    }

    fn settings(&self, keys: &mut OwnKeys<'_, '_, '_, '_>) -> Option<RelayKind> {
        Some(RelayKind::new(&YKUSH, UsbSelection::read(keys)?))
    }

    fn address(&self, kind: &RelayKind) -> Option<String> {
        let selection = kind.settings::<UsbSelection>()?;
        Some(format!(
            "usb {YKUSH_VID:04x}:{YKUSH_PID:04x}/{YKUSH3_PID:04x}, {}",
            selection.shown()
        ))
    }

    fn open(&self, board: &RelayBoard) -> Result<Box<dyn PowerSwitch>, DriverError> {
        let Some(UsbSelection { serial }) = board.kind.settings::<UsbSelection>() else {
            return Err(settings_mismatch(self, board));
        };
        Ok(Box::new(YkushSwitch::open(
            DeviceRef::relay_board(board),
            serial.as_deref(),
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::usb::ScriptedHid;
    use std::path::PathBuf;

    fn device() -> DeviceRef {
        DeviceRef {
            table: "relay_board",
            name: "usb-stick-power".into(),
            port: PathBuf::from("usb:04d8:f2f7"),
        }
    }

    fn answer(status: u8, state: u8) -> Vec<u8> {
        let mut report = vec![0u8; REPORT_LEN];
        report[0] = status;
        report[1] = state;
        report
    }

    fn hub(hid: ScriptedHid) -> YkushSwitch {
        YkushSwitch::connect(
            hid.boxed(),
            device(),
            YkushModel::Ykush,
            Some("YK21234".into()),
        )
    }

    #[test]
    fn encodes_port_commands() {
        for (port, on, byte) in [
            (1, true, 0x11),
            (2, true, 0x12),
            (3, true, 0x13),
            (1, false, 0x01),
            (2, false, 0x02),
            (3, false, 0x03),
        ] {
            let report = encode_set(port, on);
            assert_eq!(report[0], byte, "port {port} on={on}");
            assert!(report[1..].iter().all(|b| *b == 0));
        }
        assert_eq!(encode_set_all(true)[0], 0x1A);
        assert_eq!(encode_set_all(false)[0], 0x0A);
        assert_eq!(encode_query(1)[0], 0x21);
        assert_eq!(encode_query(3)[0], 0x23);
        assert_eq!(encode_query(2).len(), 64);
    }

    #[test]
    fn parses_port_states() {
        assert_eq!(parse_port_state(1, &[0x01, 0x11]), Ok(true));
        assert_eq!(parse_port_state(1, &[0x01, 0x01]), Ok(false));
        assert_eq!(parse_port_state(3, &[0x01, 0x13]), Ok(true));
        // An answer about another port is out of step, not a state.
        assert!(parse_port_state(2, &[0x01, 0x11]).is_err());
        assert!(parse_port_state(1, &[0x01, 0x21]).is_err());
        assert!(parse_port_state(1, &[0x00, 0x11]).is_err());
        assert!(parse_port_state(1, &[0x01]).is_err());
    }

    #[test]
    fn parses_status() {
        assert!(parse_status(&[0x01]).is_ok());
        assert!(parse_status(&[0xFF]).is_err());
        assert!(parse_status(&[]).is_err());
    }

    #[test]
    fn switches_and_reads_back_a_port() {
        let hid = ScriptedHid::new()
            .expect_interrupt_out(encode_set(2, true))
            .interrupt_in(answer(0x01, 0x12))
            .expect_interrupt_out(encode_query(2))
            .interrupt_in(answer(0x01, 0x12))
            .expect_interrupt_out(encode_set(2, false))
            .interrupt_in(answer(0x01, 0x02))
            .expect_interrupt_out(encode_query(2))
            .interrupt_in(answer(0x01, 0x02));
        let mut switch = hub(hid);
        switch.set(2, true).unwrap();
        assert_eq!(switch.get(2).unwrap(), Some(true));
        switch.set(2, false).unwrap();
        assert_eq!(switch.get(2).unwrap(), Some(false));
        assert!(switch.describe().contains("YKUSH USB hub serial YK21234"));
    }

    #[test]
    fn switches_every_port_at_once() {
        let hid = ScriptedHid::new()
            .expect_interrupt_out(encode_set_all(false))
            .interrupt_in(answer(0x01, 0));
        hub(hid).set_all(false).unwrap();
    }

    #[test]
    fn a_refused_command_is_a_protocol_fault() {
        let hid = ScriptedHid::new()
            .expect_interrupt_out(encode_set(1, true))
            .interrupt_in(answer(0xFF, 0));
        let err = hub(hid).set(1, true).unwrap_err();
        assert!(matches!(err, DriverError::Protocol { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn a_silent_hub_is_a_timeout() {
        let hid = ScriptedHid::new().expect_interrupt_out(encode_query(1));
        let err = hub(hid).get(1).unwrap_err();
        assert!(matches!(err, DriverError::Timeout { .. }), "{err}");
        assert!(err.is_lab_fault());
    }

    #[test]
    fn only_three_ports_exist() {
        let mut switch = hub(ScriptedHid::new());
        for channel in [0, 4] {
            let err = switch.set(channel, true).unwrap_err();
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
    }

    #[test]
    fn models_come_from_product_ids() {
        assert_eq!(YkushModel::from_pid(0xf2f7), Some(YkushModel::Ykush));
        assert_eq!(YkushModel::from_pid(0xf11b), Some(YkushModel::Ykush3));
        assert_eq!(YkushModel::from_pid(0xf11c), None);
    }
}
