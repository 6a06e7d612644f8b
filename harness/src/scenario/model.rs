//! The checked scenario model: what `scenario::load` produces from `scenarios/*.toml`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::dyn_eq::DynEq;
use crate::lab::Model;
use crate::scenario::steps::StepKind;

/// One recovery scenario, run once per applicable model.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file it was read from, for messages that name it.
    pub source: PathBuf,
    /// The file stem; snapshots are `<name>@<MODEL>.snap`.
    pub name: String,
    /// One line for listings and the transcript's title.
    pub summary: String,
    /// Where the behaviour comes from (the KB section, a public fact).
    pub source_note: String,
    /// The models it applies to; it runs on every bench of each.
    pub models: Vec<Model>,
    /// Resets or reflashes the phone: needs approval on benches that ask for it.
    pub destructive: bool,
    /// The phone's state before the steps.
    pub given: Given,
    /// What is done to the phone, in order.
    pub steps: Vec<Step>,
}

/// The state the phone is put into, through real means, before the steps run.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    /// A fixture generation from the model's manifest (`legacy`, `below-min`, `min`, `current`).
    pub firmware: String,
    /// What the registrar answers for the phone's account.
    pub account: AccountState,
    /// The admin password provisioned to the phone.
    pub admin_password: AdminPassword,
    /// Which provisioning server the phone holds.
    pub provisioning: ProvisioningUrl,
    /// Whether the network-link relay is closed.
    pub network: LinkState,
}

/// The customer's account, as the registrar sees it: what decides whether a reset is
/// possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// A 1.x account in service: the registrar answers 200.
    Active,
    /// A 1.x account the customer cancelled: the registrar answers 403.
    Cancelled,
    /// An account on the 2.0 platform (no Auto-P reset); the 1.x registrar answers 403.
    V2,
}

/// The phone's admin password, which decides whether the web UI lets a person in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPassword {
    /// A fresh random password per run (redacted in transcripts).
    Random,
    /// This password, as written in the scenario.
    Literal(String),
}

/// Which provisioning server the phone calls, which decides who can reset it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningUrl {
    /// The phone holds the lab's Intermedia provisioning URL.
    Intermedia,
    /// The phone was re-provisioned to a foreign provisioning server.
    Foreign,
}

/// The phone's network cable, as the network-link relay leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Connected.
    Up,
    /// Pulled: the phone sees no link.
    Down,
}

/// What a `power` step does to the bench's power relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// Power on (nothing changes when already on).
    On,
    /// Power off.
    Off,
    /// Off, then on: a cold boot.
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

/// One step of a scenario, done to the phone through the bench's devices: its kind (a
/// module of `scenario/steps/`) and what that kind read from the scenario file or the repro
/// prompt, in a type of the kind's own. A new kind adds no variant here.
#[derive(Clone)]
pub struct Step {
    kind: &'static dyn StepKind,
    what: Arc<dyn StepSettings>,
}

/// What a step kind keeps of one step.
pub(crate) trait StepSettings: DynEq + fmt::Debug + Send + Sync {}

impl<T: DynEq + fmt::Debug + Send + Sync> StepSettings for T {}

impl Step {
    /// A step of `kind` holding `what`.
    pub(crate) fn new(kind: &'static dyn StepKind, what: impl StepSettings) -> Step {
        Step {
            kind,
            what: Arc::new(what),
        }
    }

    /// The kind that reads, runs, shows and writes this step.
    pub(crate) fn kind(&self) -> &'static dyn StepKind {
        self.kind
    }

    /// What the step holds, when it is of type `T` (its kind's own type).
    pub(crate) fn what<T: 'static>(&self) -> Option<&T> {
        self.what.as_any().downcast_ref::<T>()
    }

    /// The step as a scenario file writes it: its `key = value` lines, values as TOML
    /// (`[("tap", "\"ok\""), ("hold_ms", "2500")]`). What `--save` writes, and how the
    /// outside of the crate reads a step.
    pub fn written(&self) -> Vec<(&'static str, String)> {
        self.kind.toml(self).unwrap_or_default()
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?})", self.kind.command(), self.what)
    }
}

impl PartialEq for Step {
    fn eq(&self, other: &Step) -> bool {
        // A kind is a registry entry: the same entry has the same prompt word.
        self.kind.command() == other.kind.command() && self.what.same_as(other.what.as_any())
    }
}

/// Whether the lab's provisioning server answers the bench's phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerReach {
    /// It answers (every case starts so).
    Reachable,
    /// It closes the phone's connections unread: the phone keeps its link and address
    /// but reaches no server.
    Unreachable,
}

/// A recovery package put on the bench's TFTP folder or USB stick.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageStep {
    /// Where the package goes.
    pub medium: Medium,
    /// A fixture generation of the bench's model.
    pub generation: String,
    /// A file left out of the package.
    pub omit: Option<PackagePart>,
    /// A file with one byte flipped.
    pub corrupt: Option<PackagePart>,
    /// Where on the stick the files go.
    pub layout: StickLayout,
    /// Another model's package, as downloaded for the wrong phone; `None`: the bench's own.
    pub package_model: Option<Model>,
}

/// Where a stick's package files lie.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StickLayout {
    /// In the root directory, as the KB says (step 3: "take the contents of the folder").
    #[default]
    Root,
    /// Still inside the unzipped `Yealink <MODEL>` folder: the KB's step 3 skipped.
    InFolder,
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
    /// An exFAT stick (what Windows offers for large sticks), which is not FAT either.
    UsbExfat,
}

/// One file of a recovery package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackagePart {
    /// The recovery package's kernel (`.bin`).
    Bin,
    /// Its root file system (`.rfs`).
    Rfs,
    /// The firmware itself (`.rom`).
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

/// The password a `login` step tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPassword {
    /// The password `given` provisioned.
    Given,
    /// This password, as written in the scenario (`admin` shows a reset worked).
    Literal(String),
}
