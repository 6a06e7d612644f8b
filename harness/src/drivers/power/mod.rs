//! Relay boards that switch a phone's power or network cable: one file per board kind,
//! each listed once in [`RELAY_KINDS`].
//!
//! Adding a kind is its file here (its driver, its [`RelayBoardKind`] and the type of its
//! settings) and its line in the `relay_kinds!` list below; nothing else names the kinds.

pub mod registry;

pub use registry::{Reach, RelayBoardKind};

/// Declares each kind's module and lists its registry entry in [`RELAY_KINDS`], so that a
/// kind is one line here.
macro_rules! relay_kinds {
    ($($module:ident :: $entry:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every relay-board kind a lab file may name, in the order the "unknown kind"
        /// message lists them.
        pub static RELAY_KINDS: &[&dyn RelayBoardKind] = &[$(&$module::$entry),*];
    };
}

relay_kinds! {
    lcus::LCUS,
    numato::NUMATO,
    hid_relay::USB_HID_RELAY,
    ykush::YKUSH,
    pdudaemon::PDUDAEMON,
}

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
