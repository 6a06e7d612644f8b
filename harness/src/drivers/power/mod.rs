//! Relay boards that switch a phone's power or network cable: one file per board kind,
//! each listed once in [`RELAY_KINDS`].
//!
//! Adding a kind is its file here (its driver and its [`RelayBoardKind`]), its `mod` line
//! and its line in [`RELAY_KINDS`] below, plus the variant of its settings in
//! [`crate::lab::RelayKind`] (and a field of [`crate::lab::raw::RawRelayBoard`] for a
//! lab-file key no kind reads yet).

pub mod hid_relay;
pub mod lcus;
pub mod numato;
pub mod pdudaemon;
pub mod registry;
pub mod ykush;

pub use registry::{Reach, RelayBoardKind};

/// Every relay-board kind a lab file may name, in the order the "unknown kind" message
/// lists them.
pub static RELAY_KINDS: &[&dyn RelayBoardKind] = &[
    &lcus::LCUS,
    &numato::NUMATO,
    &hid_relay::USB_HID_RELAY,
    &ykush::YKUSH,
    &pdudaemon::PDUDAEMON,
];

use super::{DeviceRef, DriverError};

/// Refuse a channel outside `first..=last` before anything is sent: a wrong channel must
/// never switch some other phone's relay.
pub(crate) fn check_channel(
    device: &DeviceRef,
    channel: u16,
    first: u16,
    last: u16,
) -> Result<(), DriverError> {
    if (first..=last).contains(&channel) {
        Ok(())
    } else {
        Err(DriverError::NoSuchChannel {
            device: Box::new(device.clone()),
            channel,
            first,
            last,
        })
    }
}
