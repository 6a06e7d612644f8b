//! The phone's status line, kept apart from the state machine because a real rack cannot
//! read it: no transcript depends on these texts, only logs and people do (BEHAVIOUR.md,
//! section "Screen").

use std::borrow::Cow;

use super::model::Model;
use super::recovery::Part;
use super::timing::RECOVERY_REBOOTS;

/// What the screen says when a configuration update could not reach its server (A1, A4).
pub const UPDATE_FAILED: &str = "Configuration update failed";

/// The status line of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// No power.
    Off,
    /// The bootloader runs.
    Booting,
    /// The firmware starts.
    Initializing,
    /// Idle, not registered (no account, refused, no answer, no network).
    NoService,
    /// A REGISTER transaction is in progress.
    Registering,
    /// Idle, registered.
    Registered,
    /// A downloaded firmware is being written.
    UpdatingFirmware,
    /// The bootloader's recovery menu (speaker held at power-on, firmware after August 2018).
    RecoveryMenu,
    /// The recovery reads one package file from the TFTP server.
    RecoveryTftp {
        /// The phone's model: the file is named after it.
        model: Model,
        /// The file being read.
        part: Part,
    },
    /// The recovery reads the package from the USB stick.
    RecoveryUsb,
    /// A checked recovery package is being written.
    Flashing,
    /// One of the reboots after a recovery flash (1 to 3).
    Rebooting(u8),
    /// The recovery was aborted; the phone will boot the firmware it has.
    UpdateFailed,
}

impl Screen {
    /// The text on the screen.
    pub fn text(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Screen::Off => "",
            Screen::Booting => "Booting",
            Screen::Initializing => "Initializing",
            Screen::NoService => "No Service",
            Screen::Registering => "Registering",
            Screen::Registered => "Registered",
            Screen::UpdatingFirmware => "Updating firmware",
            Screen::RecoveryMenu => "Recovery: 1 TFTP / 2 USB",
            Screen::RecoveryTftp { model, part } => {
                return Cow::Owned(format!("TFTP: {}", part.file_name(model)));
            }
            Screen::RecoveryUsb => "USB: reading",
            Screen::Flashing => "Flashing",
            Screen::Rebooting(n) => {
                return Cow::Owned(format!("Rebooting ({n}/{RECOVERY_REBOOTS})"));
            }
            Screen::UpdateFailed => "Update failed",
        })
    }
}
