//! The checked scenario model: what `scenario::load` produces from `scenarios/*.toml`.

use std::path::PathBuf;

use crate::lab::{Key, Model};

/// One recovery scenario, run once per applicable model.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub source: PathBuf,
    /// The file stem; snapshots are `<name>@<MODEL>.snap`.
    pub name: String,
    pub summary: String,
    /// Where the behaviour comes from (the KB section, a public fact).
    pub source_note: String,
    pub models: Vec<Model>,
    /// Resets or reflashes the phone: needs approval on benches that ask for it.
    pub destructive: bool,
    pub given: Given,
    pub steps: Vec<Step>,
}

/// The state the phone is put into, through real means, before the steps run.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    /// A fixture generation from the model's manifest (`legacy`, `below-min`, `min`, `current`).
    pub firmware: String,
    pub account: AccountState,
    pub admin_password: AdminPassword,
    pub provisioning: ProvisioningUrl,
    pub network: LinkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// A 1.x account in service: the registrar answers 200.
    Active,
    /// A 1.x account the customer cancelled: the registrar answers 403.
    Cancelled,
    /// An account on the 2.0 platform (no Auto-P reset); the 1.x registrar answers 403.
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPassword {
    /// A fresh random password per run (redacted in transcripts).
    Random,
    Literal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningUrl {
    /// The phone holds the lab's Intermedia provisioning URL.
    Intermedia,
    /// The phone was re-provisioned to a foreign provisioning server.
    Foreign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    On,
    Off,
    Cycle,
}

/// What a `wait` step waits for; each matches one endpoint event of the bench's phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// A REGISTER answered by the registrar (any status).
    Register,
    /// The MAC config request that ends a boot-time provisioning fetch.
    Config,
    /// The MAC config request of an Auto-P call-home (under `/autop/`).
    CallHome,
    /// A firmware image fetched over HTTP.
    FirmwareDownload,
    /// Any request to the foreign provisioning server.
    ForeignProvisioning,
    /// A syslog line.
    Syslog,
    /// A TFTP read.
    Tftp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Power(PowerAction),
    /// Press and keep pressed.
    Hold(Key),
    Release(Key),
    Tap {
        key: Key,
        hold_ms: u64,
    },
    /// Tap each digit key in turn.
    Dial(String),
    /// Close (`Up`) or open (`Down`) the network-link relay.
    Network(LinkState),
    /// Wait for an event; a timeout is recorded, not an error: the snapshot decides.
    Wait {
        what: WaitFor,
        timeout_s: f64,
    },
    /// Try the web UI login as `admin`.
    Login {
        password: LoginPassword,
    },
    /// Do nothing for this many real seconds (scaled): a key held through a boot.
    Pause {
        seconds: f64,
    },
    /// Offer another firmware generation through provisioning from now on.
    OfferFirmware(String),
    /// Stage a recovery package where the phone will look for it.
    Package(PackageStep),
}

/// A recovery package put on the bench's TFTP folder or USB stick.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageStep {
    pub medium: Medium,
    /// A fixture generation of the bench's model.
    pub generation: String,
    /// A file left out of the package.
    pub omit: Option<PackagePart>,
    /// A file with one byte flipped.
    pub corrupt: Option<PackagePart>,
}

/// Where a recovery package goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// The bench's folder on the lab's TFTP server.
    Tftp,
    /// A FAT stick, as the KB says to use.
    UsbFat,
    /// An NTFS stick, which the phone cannot read.
    UsbNtfs,
}

/// One file of a recovery package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackagePart {
    Bin,
    Rfs,
    Rom,
}

impl PackagePart {
    /// The file's extension, which names it in the package.
    pub fn extension(self) -> &'static str {
        match self {
            PackagePart::Bin => "bin",
            PackagePart::Rfs => "rfs",
            PackagePart::Rom => "rom",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPassword {
    /// The password `given` provisioned.
    Given,
    Literal(String),
}
