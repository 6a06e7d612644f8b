//! Relay boards that switch a phone's power or network cable: one file per board kind,
//! each listed once in [`registry::RELAY_KINDS`].
//!
//! Adding a kind is its file here (its driver and its [`RelayBoardKind`]), its `mod` line
//! below and its line in [`registry::RELAY_KINDS`], plus the variant of its settings in
//! [`crate::lab::RelayKind`] (and a field of [`crate::lab::raw::RawRelayBoard`] for a
//! lab-file key no kind reads yet).

pub mod hid_relay;
pub mod lcus;
pub mod numato;
pub mod pdudaemon;
pub mod registry;
pub mod ykush;

pub use registry::{RELAY_KINDS, Reach, RelayBoardKind};

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
