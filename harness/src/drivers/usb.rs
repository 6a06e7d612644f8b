//! The USB-HID pipe under the USB relay boards and the YKUSH hub.
//!
//! Drivers speak their report protocol to a [`HidTransport`], never to libusb directly, so
//! the same code drives a real board through [`RusbHid`] and a [`ScriptedHid`] that checks
//! every transfer in tests. Only [`RusbHid`], [`list_usb_devices`] and the `open` helpers
//! touch the USB bus, always through a private `rusb::Context`: the crate's global context
//! panics on a machine without a USB bus.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusb::{Direction, TransferType, UsbContext as _};

use super::transport::printable;
use super::{DeviceRef, DriverError};

/// `bmRequestType` of a HID class request from host to interface (SET_REPORT).
pub const HID_REQUEST_TYPE_OUT: u8 = 0x21;
/// `bmRequestType` of a HID class request from interface to host (GET_REPORT).
pub const HID_REQUEST_TYPE_IN: u8 = 0xA1;
/// HID class request GET_REPORT.
pub const HID_GET_REPORT: u8 = 0x01;
/// HID class request SET_REPORT.
pub const HID_SET_REPORT: u8 = 0x09;
/// HID report type "output", the high byte of `wValue` in SET_REPORT.
pub const HID_REPORT_OUTPUT: u8 = 0x02;
/// HID report type "feature", the high byte of `wValue` in GET/SET_REPORT.
pub const HID_REPORT_FEATURE: u8 = 0x03;

/// What an operator is told when the operating system refuses access to a USB device.
pub const UDEV_HINT: &str = "the user running the harness may not open it: add a udev rule, \
                             see lab/udev/99-yealink-lab.rules, then re-plug the device";

/// Where Linux exposes the USB bus; without it there is no USB device to find.
const USB_BUS_DIR: &str = "/dev/bus/usb";

/// The setup packet of a control transfer, minus the length (the buffer gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlSetup {
    /// `bmRequestType`: direction, class and recipient.
    pub request_type: u8,
    /// `bRequest`.
    pub request: u8,
    /// `wValue`.
    pub value: u16,
    /// `wIndex`: the interface number for HID requests.
    pub index: u16,
}

impl ControlSetup {
    /// HID SET_REPORT of a feature report `report_id` to `interface`.
    pub fn set_feature_report(interface: u8, report_id: u8) -> Self {
        ControlSetup {
            request_type: HID_REQUEST_TYPE_OUT,
            request: HID_SET_REPORT,
            value: u16::from_be_bytes([HID_REPORT_FEATURE, report_id]),
            index: u16::from(interface),
        }
    }

    /// HID GET_REPORT of a feature report `report_id` from `interface`.
    pub fn get_feature_report(interface: u8, report_id: u8) -> Self {
        ControlSetup {
            request_type: HID_REQUEST_TYPE_IN,
            request: HID_GET_REPORT,
            value: u16::from_be_bytes([HID_REPORT_FEATURE, report_id]),
            index: u16::from(interface),
        }
    }

    /// HID SET_REPORT of an output report `report_id` to `interface`: how an output report
    /// reaches a device that has no interrupt OUT endpoint.
    pub fn set_output_report(interface: u8, report_id: u8) -> Self {
        ControlSetup {
            request_type: HID_REQUEST_TYPE_OUT,
            request: HID_SET_REPORT,
            value: u16::from_be_bytes([HID_REPORT_OUTPUT, report_id]),
            index: u16::from(interface),
        }
    }
}

/// Transfers to one claimed HID interface.
///
/// Errors are `io::Error`s whose kind tells a silent device (`TimedOut`) from a vanished
/// one (`NotConnected`, `BrokenPipe`), as on a [`super::transport::SerialLink`], so drivers
/// classify them with [`DriverError::from_io`].
pub trait HidTransport: Send {
    /// A control transfer from host to device carrying `data`; returns the bytes sent.
    fn control_out(
        &mut self,
        setup: ControlSetup,
        data: &[u8],
        timeout: Duration,
    ) -> io::Result<usize>;
    /// A control transfer from device to host into `buf`; returns the bytes received.
    fn control_in(
        &mut self,
        setup: ControlSetup,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<usize>;
    /// Send one output report on the interface's interrupt OUT endpoint.
    fn write_interrupt(&mut self, data: &[u8], timeout: Duration) -> io::Result<usize>;
    /// Receive one input report from the interface's interrupt IN endpoint.
    fn read_interrupt(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// Where the device sits (`USB bus 1 address 7, 16c0:05df`), for messages.
    fn location(&self) -> String;
}

/// One device on the USB bus, as `harness lab ports` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDeviceInfo {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// The serial number string; `None` when the device has none or may not be opened.
    pub serial: Option<String>,
    /// The product string; `None` when the device has none or may not be opened.
    pub product: Option<String>,
    /// Bus number.
    pub bus: u8,
    /// Address on the bus.
    pub address: u8,
}

/// How the string descriptors are read: they are short and a device answers at once.
const DESCRIPTOR_TIMEOUT: Duration = Duration::from_millis(500);

/// A USB context, or `None` when this machine has no USB bus at all (a container, a CI
/// runner): then no device can be plugged in, which is not a failure to report.
pub(crate) fn usb_context() -> Result<Option<rusb::Context>, rusb::Error> {
    match rusb::Context::new() {
        Ok(context) => Ok(Some(context)),
        Err(_) if !Path::new(USB_BUS_DIR).exists() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every device on the USB bus with its ids and, where the device may be opened, its
/// product and serial strings. Empty on a machine without a USB bus.
pub fn list_usb_devices() -> Result<Vec<UsbDeviceInfo>, DriverError> {
    let bus = || DeviceRef {
        table: "usb",
        name: "bus".into(),
        port: PathBuf::from(USB_BUS_DIR),
    };
    let context = usb_context().map_err(|e| DriverError::Io {
        device: Box::new(bus()),
        action: "opening the USB library".into(),
        source: usb_io_error(e),
    })?;
    let Some(context) = context else {
        return Ok(Vec::new());
    };
    let devices = context.devices().map_err(|e| DriverError::Io {
        device: Box::new(bus()),
        action: "listing USB devices".into(),
        source: usb_io_error(e),
    })?;
    let mut found = Vec::new();
    for device in devices.iter() {
        if let Some(info) = describe_device(&device) {
            found.push(info);
        }
    }
    found.sort_by_key(|info| (info.bus, info.address));
    Ok(found)
}

/// The ids and strings of `device`; `None` when even its descriptor cannot be read (it
/// vanished while listing). Strings stay `None` when the device may not be opened.
pub(crate) fn describe_device(device: &rusb::Device<rusb::Context>) -> Option<UsbDeviceInfo> {
    let descriptor = device.device_descriptor().ok()?;
    let handle = device.open().ok();
    Some(device_info(device, &descriptor, handle.as_ref()))
}

/// The ids of `device` and, through `handle` when it could be opened, its strings.
fn device_info(
    device: &rusb::Device<rusb::Context>,
    descriptor: &rusb::DeviceDescriptor,
    handle: Option<&rusb::DeviceHandle<rusb::Context>>,
) -> UsbDeviceInfo {
    // Read with a short timeout of our own, so one hung device does not stall a listing.
    let read = |index: Option<u8>| -> Option<String> {
        let (handle, index) = (handle?, index?);
        let language = *handle.read_languages(DESCRIPTOR_TIMEOUT).ok()?.first()?;
        handle
            .read_string_descriptor(language, index, DESCRIPTOR_TIMEOUT)
            .ok()
    };
    UsbDeviceInfo {
        vid: descriptor.vendor_id(),
        pid: descriptor.product_id(),
        serial: read(descriptor.serial_number_string_index()),
        product: read(descriptor.product_string_index()),
        bus: device.bus_number(),
        address: device.address(),
    }
}

/// A libusb failure as an `io::Error` whose kind and text tell an operator what happened.
pub fn usb_io_error(error: rusb::Error) -> io::Error {
    let (kind, text) = match error {
        rusb::Error::Timeout => (io::ErrorKind::TimedOut, "the device did not answer in time"),
        rusb::Error::NoDevice => (
            io::ErrorKind::NotConnected,
            "the device is gone (unplugged, or it reset)",
        ),
        rusb::Error::Access => (io::ErrorKind::PermissionDenied, UDEV_HINT),
        rusb::Error::Busy => (
            io::ErrorKind::ResourceBusy,
            "another program has claimed the device (another harness run, a vendor tool)",
        ),
        rusb::Error::Pipe => (
            io::ErrorKind::BrokenPipe,
            "the device stalled the request: it does not support it (wrong kind of device?)",
        ),
        rusb::Error::Overflow => (
            io::ErrorKind::InvalidData,
            "the device sent more than the report size",
        ),
        rusb::Error::Interrupted => (io::ErrorKind::Interrupted, "interrupted"),
        rusb::Error::NotFound => (
            io::ErrorKind::NotFound,
            "the interface or endpoint does not exist on this device",
        ),
        rusb::Error::NotSupported => (
            io::ErrorKind::Unsupported,
            "libusb cannot do this on this platform",
        ),
        _ => (io::ErrorKind::Other, "USB transfer failed"),
    };
    io::Error::new(kind, format!("{text} ({error})"))
}

/// An opening failure of a USB device, as the `Open` variant every driver reports.
pub(crate) fn open_error(device: &DeviceRef, kind: io::ErrorKind, detail: String) -> DriverError {
    DriverError::Open {
        device: Box::new(device.clone()),
        source: serialport::Error::new(serialport::ErrorKind::Io(kind), detail),
    }
}

/// The error for a device that could not be picked by serial number: several devices and
/// no `serial` in the lab file is the lab file's error (nothing is broken, the file must
/// say which one); none plugged in, or none with that serial, is the lab's fault.
pub(crate) fn selection_error(
    device: &DeviceRef,
    why: &SerialChoice,
    detail: String,
) -> DriverError {
    match why {
        SerialChoice::Ambiguous { .. } => DriverError::Unsupported {
            device: Box::new(device.clone()),
            request: "pick one device without a `serial`".into(),
            reason: detail,
        },
        SerialChoice::NoneFound | SerialChoice::Missing { .. } => {
            open_error(device, io::ErrorKind::NotFound, detail)
        }
    }
}

/// Why no single device could be picked by serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialChoice {
    /// No device of the family is plugged in.
    NoneFound,
    /// Devices are plugged in but none has the wanted serial number.
    Missing {
        /// The serial number asked for.
        wanted: String,
        /// The serial numbers found.
        found: Vec<String>,
    },
    /// Several devices are plugged in and no serial number says which one to drive.
    Ambiguous {
        /// The serial numbers found.
        found: Vec<String>,
    },
}

impl SerialChoice {
    /// The reason, for an operator, naming the lab-file key that fixes it.
    pub fn explain(&self, family: &str) -> String {
        match self {
            SerialChoice::NoneFound => format!("no {family} is plugged in"),
            SerialChoice::Missing { wanted, found } => format!(
                "no {family} with serial `{wanted}` is plugged in; found: {}",
                found.join(", ")
            ),
            SerialChoice::Ambiguous { found } => format!(
                "{} {family}s are plugged in ({}): set `serial` in the lab file to say which \
                 one this is",
                found.len(),
                found.join(", ")
            ),
        }
    }
}

/// Pick the device whose serial is `wanted`, or the only one when `wanted` is `None`.
/// Several devices without a `wanted` serial is refused rather than guessed: driving the
/// wrong board switches some other phone.
pub fn select_by_serial<T>(
    found: Vec<(String, T)>,
    wanted: Option<&str>,
) -> Result<(String, T), SerialChoice> {
    if found.is_empty() {
        return Err(SerialChoice::NoneFound);
    }
    let serials: Vec<String> = found.iter().map(|(s, _)| s.clone()).collect();
    match wanted {
        Some(wanted) => found
            .into_iter()
            .find(|(serial, _)| serial == wanted)
            .ok_or(SerialChoice::Missing {
                wanted: wanted.to_string(),
                found: serials,
            }),
        None if found.len() == 1 => Ok(found.into_iter().next().expect("one device")),
        None => Err(SerialChoice::Ambiguous { found: serials }),
    }
}

/// One device of a family on the bus, opened far enough to read its strings.
pub(crate) struct UsbCandidate {
    /// The device, to claim its interface later.
    pub device: rusb::Device<rusb::Context>,
    /// Its ids and strings.
    pub info: UsbDeviceInfo,
}

/// The devices on the bus with one of `ids` (vendor, product), plus a note for each one the
/// operating system refused to open (for the operator's message).
pub(crate) fn find_devices(
    device_ref: &DeviceRef,
    ids: &[(u16, u16)],
) -> Result<(Vec<UsbCandidate>, Vec<String>), DriverError> {
    let context = usb_context().map_err(|e| {
        open_error(
            device_ref,
            usb_io_error(e).kind(),
            format!("cannot start the USB library: {}", usb_io_error(e)),
        )
    })?;
    let Some(context) = context else {
        return Err(open_error(
            device_ref,
            io::ErrorKind::NotFound,
            format!("this machine has no USB bus ({USB_BUS_DIR} is missing)"),
        ));
    };
    let devices = context.devices().map_err(|e| {
        open_error(
            device_ref,
            usb_io_error(e).kind(),
            format!("cannot list USB devices: {}", usb_io_error(e)),
        )
    })?;
    let mut candidates = Vec::new();
    let mut refused = Vec::new();
    for device in devices.iter() {
        let Ok(descriptor) = device.device_descriptor() else {
            continue;
        };
        if !ids.contains(&(descriptor.vendor_id(), descriptor.product_id())) {
            continue;
        }
        match device.open() {
            Ok(handle) => {
                let info = device_info(&device, &descriptor, Some(&handle));
                candidates.push(UsbCandidate { device, info });
            }
            Err(rusb::Error::Access) => refused.push(format!(
                "USB bus {} address {} ({:04x}:{:04x}): permission denied",
                device.bus_number(),
                device.address(),
                descriptor.vendor_id(),
                descriptor.product_id()
            )),
            // It vanished or is claimed elsewhere; it cannot be the board asked for now.
            Err(e) => tracing::debug!(
                bus = device.bus_number(),
                address = device.address(),
                error = %e,
                "skipping a USB device that cannot be opened"
            ),
        }
    }
    Ok((candidates, refused))
}

/// A claimed HID interface of a real USB device.
///
/// The kernel's HID driver is detached while the interface is claimed and re-attached when
/// this is dropped, so `/dev/hidraw*` comes back for other tools.
pub struct RusbHid {
    handle: rusb::DeviceHandle<rusb::Context>,
    interface: u8,
    in_endpoint: Option<u8>,
    out_endpoint: Option<u8>,
    location: String,
}

impl RusbHid {
    /// Open `device` and claim `interface`, detaching the kernel driver if it holds it.
    pub fn open(device: &rusb::Device<rusb::Context>, interface: u8) -> io::Result<Self> {
        let descriptor = device.device_descriptor().map_err(usb_io_error)?;
        let location = format!(
            "USB bus {} address {}, {:04x}:{:04x}",
            device.bus_number(),
            device.address(),
            descriptor.vendor_id(),
            descriptor.product_id()
        );
        let (in_endpoint, out_endpoint) = interrupt_endpoints(device, interface);
        let handle = device.open().map_err(usb_io_error)?;
        // Not every platform can detach a kernel driver; claiming tells if it mattered.
        match handle.set_auto_detach_kernel_driver(true) {
            Ok(()) | Err(rusb::Error::NotSupported) => {}
            Err(e) => return Err(usb_io_error(e)),
        }
        handle.claim_interface(interface).map_err(usb_io_error)?;
        Ok(RusbHid {
            handle,
            interface,
            in_endpoint,
            out_endpoint,
            location,
        })
    }
}

/// The interrupt IN and OUT endpoint addresses of `interface` in the active configuration.
fn interrupt_endpoints(
    device: &rusb::Device<rusb::Context>,
    interface: u8,
) -> (Option<u8>, Option<u8>) {
    let Ok(config) = device.active_config_descriptor() else {
        return (None, None);
    };
    let mut endpoints = (None, None);
    for iface in config.interfaces().filter(|i| i.number() == interface) {
        for setting in iface.descriptors().filter(|d| d.setting_number() == 0) {
            for endpoint in setting.endpoint_descriptors() {
                if endpoint.transfer_type() != TransferType::Interrupt {
                    continue;
                }
                match endpoint.direction() {
                    Direction::In => endpoints.0 = endpoints.0.or(Some(endpoint.address())),
                    Direction::Out => endpoints.1 = endpoints.1.or(Some(endpoint.address())),
                }
            }
        }
    }
    endpoints
}

impl HidTransport for RusbHid {
    fn control_out(
        &mut self,
        setup: ControlSetup,
        data: &[u8],
        timeout: Duration,
    ) -> io::Result<usize> {
        self.handle
            .write_control(
                setup.request_type,
                setup.request,
                setup.value,
                setup.index,
                data,
                timeout,
            )
            .map_err(usb_io_error)
    }

    fn control_in(
        &mut self,
        setup: ControlSetup,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<usize> {
        self.handle
            .read_control(
                setup.request_type,
                setup.request,
                setup.value,
                setup.index,
                buf,
                timeout,
            )
            .map_err(usb_io_error)
    }

    fn write_interrupt(&mut self, data: &[u8], timeout: Duration) -> io::Result<usize> {
        match self.out_endpoint {
            Some(endpoint) => self
                .handle
                .write_interrupt(endpoint, data, timeout)
                .map_err(usb_io_error),
            // HID lets a device take output reports over the control pipe instead.
            None => {
                let setup = ControlSetup::set_output_report(self.interface, 0);
                self.control_out(setup, data, timeout)
            }
        }
    }

    fn read_interrupt(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let endpoint = self.in_endpoint.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "interface {} has no interrupt IN endpoint: is this the right device?",
                    self.interface
                ),
            )
        })?;
        self.handle
            .read_interrupt(endpoint, buf, timeout)
            .map_err(usb_io_error)
    }

    fn location(&self) -> String {
        self.location.clone()
    }
}

impl Drop for RusbHid {
    fn drop(&mut self) {
        // Best effort: the kernel driver is re-attached by libusb once released.
        let _ = self.handle.release_interface(self.interface);
    }
}

/// One step of a [`ScriptedHid`] script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HidStep {
    /// The driver must send exactly this control transfer next.
    ControlOut {
        /// The setup packet expected.
        setup: ControlSetup,
        /// The data stage expected.
        data: Vec<u8>,
    },
    /// The driver must ask for this control transfer next; the device answers `reply`.
    ControlIn {
        /// The setup packet expected.
        setup: ControlSetup,
        /// What the device answers.
        reply: Vec<u8>,
    },
    /// The driver must send exactly this output report next.
    InterruptOut(Vec<u8>),
    /// The device sends this input report; the driver's next interrupt read returns it.
    InterruptIn(Vec<u8>),
    /// The driver's next transfer, whatever it is, fails with this kind (`NotConnected`
    /// for an unplugged board).
    Fail(io::ErrorKind),
}

/// A scripted HID device for tests: checks every transfer the driver makes against the
/// script and hands it the canned answers.
///
/// Any deviation panics and so fails the test: a transfer other than the next expected
/// one, different bytes, and (when dropped outside a panic) a script not played to its end.
/// An interrupt read while the script expects something else times out at once, as a silent
/// device would.
#[derive(Debug, Default)]
pub struct ScriptedHid {
    steps: VecDeque<HidStep>,
}

impl ScriptedHid {
    /// An empty script: the device expects nothing and says nothing.
    pub fn new() -> Self {
        ScriptedHid::default()
    }

    /// The driver must send this control transfer with `data`.
    pub fn expect_control_out(mut self, setup: ControlSetup, data: impl AsRef<[u8]>) -> Self {
        self.steps.push_back(HidStep::ControlOut {
            setup,
            data: data.as_ref().to_vec(),
        });
        self
    }

    /// The driver must ask for this control transfer; the device answers `reply`.
    pub fn expect_control_in(mut self, setup: ControlSetup, reply: impl AsRef<[u8]>) -> Self {
        self.steps.push_back(HidStep::ControlIn {
            setup,
            reply: reply.as_ref().to_vec(),
        });
        self
    }

    /// The driver must send this output report.
    pub fn expect_interrupt_out(mut self, data: impl AsRef<[u8]>) -> Self {
        self.steps
            .push_back(HidStep::InterruptOut(data.as_ref().to_vec()));
        self
    }

    /// The device sends this input report.
    pub fn interrupt_in(mut self, reply: impl AsRef<[u8]>) -> Self {
        self.steps
            .push_back(HidStep::InterruptIn(reply.as_ref().to_vec()));
        self
    }

    /// The next transfer fails with `kind`.
    pub fn fail(mut self, kind: io::ErrorKind) -> Self {
        self.steps.push_back(HidStep::Fail(kind));
        self
    }

    /// Box it for a driver constructor.
    pub fn boxed(self) -> Box<dyn HidTransport> {
        Box::new(self)
    }

    /// Pop a scripted failure if it is next.
    fn take_failure(&mut self) -> Option<io::Error> {
        if let Some(HidStep::Fail(kind)) = self.steps.front() {
            let kind = *kind;
            self.steps.pop_front();
            return Some(io::Error::new(kind, "scripted USB failure"));
        }
        None
    }
}

impl HidTransport for ScriptedHid {
    fn control_out(
        &mut self,
        setup: ControlSetup,
        data: &[u8],
        _timeout: Duration,
    ) -> io::Result<usize> {
        if let Some(error) = self.take_failure() {
            return Err(error);
        }
        match self.steps.pop_front() {
            Some(HidStep::ControlOut {
                setup: expected,
                data: expected_data,
            }) => {
                assert_eq!(setup, expected, "the driver sent another control request");
                assert_eq!(
                    printable(data),
                    printable(&expected_data),
                    "the driver sent other bytes in {setup:?}"
                );
                Ok(data.len())
            }
            step => panic!(
                "the driver sent control {setup:?} with {} while the script expected {step:?}",
                printable(data)
            ),
        }
    }

    fn control_in(
        &mut self,
        setup: ControlSetup,
        buf: &mut [u8],
        _timeout: Duration,
    ) -> io::Result<usize> {
        if let Some(error) = self.take_failure() {
            return Err(error);
        }
        match self.steps.pop_front() {
            Some(HidStep::ControlIn {
                setup: expected,
                reply,
            }) => {
                assert_eq!(setup, expected, "the driver asked another control request");
                let n = reply.len().min(buf.len());
                buf[..n].copy_from_slice(&reply[..n]);
                Ok(n)
            }
            step => panic!("the driver asked control {setup:?} while the script expected {step:?}"),
        }
    }

    fn write_interrupt(&mut self, data: &[u8], _timeout: Duration) -> io::Result<usize> {
        if let Some(error) = self.take_failure() {
            return Err(error);
        }
        match self.steps.pop_front() {
            Some(HidStep::InterruptOut(expected)) => {
                assert_eq!(
                    printable(data),
                    printable(&expected),
                    "the driver sent another output report"
                );
                Ok(data.len())
            }
            step => panic!(
                "the driver sent output report {} while the script expected {step:?}",
                printable(data)
            ),
        }
    }

    fn read_interrupt(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<usize> {
        if let Some(error) = self.take_failure() {
            return Err(error);
        }
        match self.steps.front() {
            Some(HidStep::InterruptIn(reply)) => {
                let n = reply.len().min(buf.len());
                buf[..n].copy_from_slice(&reply[..n]);
                self.steps.pop_front();
                Ok(n)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the scripted device sends no report until it is written to",
            )),
        }
    }

    fn location(&self) -> String {
        "scripted USB device".into()
    }
}

impl Drop for ScriptedHid {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.steps.is_empty() {
            panic!(
                "the driver stopped before the end of the script; left: {:?}",
                self.steps
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_report_setups_follow_the_hid_spec() {
        let get = ControlSetup::get_feature_report(0, 0);
        assert_eq!(
            (get.request_type, get.request, get.value, get.index),
            (0xA1, 0x01, 0x0300, 0)
        );
        let set = ControlSetup::set_feature_report(0, 0);
        assert_eq!(
            (set.request_type, set.request, set.value, set.index),
            (0x21, 0x09, 0x0300, 0)
        );
        let out = ControlSetup::set_output_report(1, 2);
        assert_eq!((out.value, out.index), (0x0202, 1));
    }

    #[test]
    fn selects_the_only_device_without_a_serial() {
        let found = vec![("ABCDE".to_string(), 1)];
        assert_eq!(select_by_serial(found, None).unwrap(), ("ABCDE".into(), 1));
    }

    #[test]
    fn selects_by_serial_among_several() {
        let found = vec![("AAAAA".to_string(), 1), ("BBBBB".to_string(), 2)];
        assert_eq!(
            select_by_serial(found, Some("BBBBB")).unwrap(),
            ("BBBBB".into(), 2)
        );
    }

    #[test]
    fn refuses_to_guess_among_several() {
        let found = vec![("AAAAA".to_string(), 1), ("BBBBB".to_string(), 2)];
        let err = select_by_serial(found, None).unwrap_err();
        assert_eq!(
            err,
            SerialChoice::Ambiguous {
                found: vec!["AAAAA".into(), "BBBBB".into()]
            }
        );
        assert!(err.explain("relay board").contains("set `serial`"));
    }

    #[test]
    fn names_the_serials_found_when_the_wanted_one_is_missing() {
        let found = vec![("AAAAA".to_string(), 1)];
        let err = select_by_serial(found, Some("ZZZZZ")).unwrap_err();
        let text = err.explain("USB-HID relay board");
        assert!(
            text.contains("`ZZZZZ`") && text.contains("found: AAAAA"),
            "{text}"
        );
        assert_eq!(
            select_by_serial(Vec::<(String, ())>::new(), Some("ZZZZZ")).unwrap_err(),
            SerialChoice::NoneFound
        );
    }

    #[test]
    fn usb_errors_keep_their_meaning() {
        assert_eq!(
            usb_io_error(rusb::Error::Timeout).kind(),
            io::ErrorKind::TimedOut
        );
        assert_eq!(
            usb_io_error(rusb::Error::NoDevice).kind(),
            io::ErrorKind::NotConnected
        );
        let access = usb_io_error(rusb::Error::Access);
        assert_eq!(access.kind(), io::ErrorKind::PermissionDenied);
        assert!(access.to_string().contains("99-yealink-lab.rules"));
    }

    #[test]
    fn scripted_hid_plays_its_script() {
        let setup = ControlSetup::get_feature_report(0, 0);
        let mut hid = ScriptedHid::new()
            .expect_control_out(ControlSetup::set_feature_report(0, 0), [1, 2])
            .expect_control_in(setup, [7, 8, 9])
            .expect_interrupt_out([0x11])
            .interrupt_in([0x01, 0x11])
            .fail(io::ErrorKind::NotConnected);
        let timeout = Duration::from_millis(10);
        hid.control_out(ControlSetup::set_feature_report(0, 0), &[1, 2], timeout)
            .unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(hid.control_in(setup, &mut buf, timeout).unwrap(), 3);
        assert_eq!(&buf[..3], [7, 8, 9]);
        hid.write_interrupt(&[0x11], timeout).unwrap();
        assert_eq!(hid.read_interrupt(&mut buf, timeout).unwrap(), 2);
        let err = hid.read_interrupt(&mut buf, timeout).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        let err = hid.read_interrupt(&mut buf, timeout).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    #[should_panic(expected = "other bytes")]
    fn scripted_hid_rejects_other_bytes() {
        let setup = ControlSetup::set_feature_report(0, 0);
        let mut hid = ScriptedHid::new().expect_control_out(setup, [0xFF, 1]);
        let _ = hid.control_out(setup, &[0xFF, 2], Duration::from_millis(10));
    }

    #[test]
    #[should_panic(expected = "before the end of the script")]
    fn scripted_hid_rejects_an_unfinished_script() {
        let _hid = ScriptedHid::new().expect_interrupt_out([0x0A]);
    }

    #[test]
    fn listing_without_a_usb_bus_is_empty_not_an_error() {
        let listed = list_usb_devices().unwrap();
        if !Path::new(USB_BUS_DIR).exists() {
            assert!(listed.is_empty(), "{listed:?}");
        }
    }
}
