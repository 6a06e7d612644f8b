//! The bootloader's recovery mode: the menu shown when the speaker key is held at power-on
//! on firmware built after August 2018, and its two ways of reading a recovery package
//! (a TFTP server, a USB stick), with the checks the package must pass before it is flashed.
//!
//! The boot state machine (`boot.rs`) decides when the menu shows and when a recovery
//! starts or is cut off; the files here are the recovery's parts: [`menu`] (keys to a
//! choice), [`sequence`] (read, check, flash and reboot, or abort), [`tftp_client`] (RFC
//! 1350 reads with the RFC 2347-2349 options), [`usb`] (MBR and FAT on a stick image) and
//! [`verify`] (the three files agree and are intact). The rules are in BEHAVIOUR.md,
//! section "Recovery".

pub mod menu;
pub(crate) mod sequence;
pub mod tftp_client;
pub mod usb;
pub mod verify;

use std::fmt;

use super::model::Model;

/// One file of a recovery package (KB: "XXXXX.bin XXXXX.rfs XXXXX.rom").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// `<MODEL>.bin`, the kernel.
    Kernel,
    /// `<MODEL>.rfs`, the root file system.
    Rootfs,
    /// `<MODEL>.rom`, the firmware: its version becomes the running version.
    Firmware,
}

impl Part {
    /// The three parts in the order the phone reads them.
    pub const ALL: [Part; 3] = [Part::Kernel, Part::Rootfs, Part::Firmware];

    /// The file extension the KB names for this part.
    pub fn extension(self) -> &'static str {
        match self {
            Part::Kernel => "bin",
            Part::Rootfs => "rfs",
            Part::Firmware => "rom",
        }
    }

    /// The value of the declaration's `part` line a file of this part must carry, so a
    /// `.rfs` renamed to `.bin` is caught.
    pub fn declared(self) -> &'static str {
        match self {
            Part::Kernel => "kernel",
            Part::Rootfs => "rootfs",
            Part::Firmware => "firmware",
        }
    }

    /// The package file name for `model` on a stick or a TFTP server: `T46G.bin` (the
    /// model's `package_stem`, an assumption: see `MODELS`).
    pub fn file_name(self, model: Model) -> String {
        format!("{}.{}", model.package_stem(), self.extension())
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.declared())
    }
}

/// A recovery package as read from a server or a stick, in [`Part::ALL`] order, not yet
/// checked.
#[derive(Debug, Clone)]
pub struct Package {
    /// `(part, file name as read, bytes)` for each part.
    pub files: Vec<(Part, String, Vec<u8>)>,
}

/// Why a recovery was aborted (the phone shows `Update failed`, keeps its flash and boots).
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// No TFTP server is known: option 66 names no IPv4 host, or the bench has none.
    #[error(
        "no recovery TFTP server is known (DHCP option 66 names no IPv4 host; on a bench without DHCP, set [endpoints] tftp in the lab file or pass the server to the bench)"
    )]
    NoTftpServer,
    /// The phone could not use its network interface.
    #[error("network unusable: {reason}")]
    Network {
        /// What failed.
        reason: String,
    },
    /// A TFTP read failed.
    #[error(transparent)]
    Tftp(#[from] tftp_client::TftpError),
    /// The stick gave no package.
    #[error(transparent)]
    Usb(#[from] usb::UsbError),
    /// The package failed its check.
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    /// The stick reader stopped without an answer.
    #[error("the stick reader stopped: {reason}")]
    StickReader {
        /// The join error.
        reason: String,
    },
}
