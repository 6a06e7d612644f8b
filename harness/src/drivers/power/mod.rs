//! Relay boards that switch a phone's power or network cable: one file per board family.
//! Adding a board family is one file here and one arm in [`super::open_power_switch`].

pub mod hid_relay;
pub mod lcus;
pub mod numato;
pub mod pdudaemon;
pub mod ykush;

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
