//! A scenario file as written: serde types that mirror its TOML shape (unknown keys
//! rejected), read part by part so that one malformed step does not hide the mistakes of the
//! next. Values keep their spans so that `load.rs` can point at the offending line.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use toml::Spanned;
use toml::de::DeValue;

use crate::config_error::{FileProblems, join_key};
use crate::lab::raw::{Indexed, entries, quoted_list};

/// `models`: the text `"all"` or a list of model names, told apart here and checked in
/// `load.rs`.
#[derive(Debug, Clone)]
pub enum RawModels {
    /// A single string; only `"all"` is valid, anything else gets a hint to write a list.
    Text(String),
    /// A list of model names, each with its span.
    List(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawModels {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModelsVisitor;

        impl<'de> Visitor<'de> for ModelsVisitor {
            type Value = RawModels;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\" or a list of model names such as [\"T46G\", \"T48S\"]")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawModels, E> {
                Ok(RawModels::Text(text.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawModels, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<Spanned<String>>()? {
                    names.push(name);
                }
                Ok(RawModels::List(names))
            }
        }

        deserializer.deserialize_any(ModelsVisitor)
    }
}

/// `[given]`: the state the phone is put into before the steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGiven {
    /// A fixture generation name (`legacy`, `below-min`, `min`, `current`, or a drop's own).
    pub firmware: Spanned<String>,
    /// The account state the registrar and provisioning server act out.
    pub account: RawAccount,
    /// `"random"` or a literal password.
    pub admin_password: Spanned<String>,
    /// Which provisioning server the phone holds (Intermedia's when omitted).
    #[serde(default)]
    pub provisioning: RawProvisioning,
    /// Whether the network cable is in at the start (in when omitted).
    #[serde(default)]
    pub network: RawLink,
}

/// `account` of `[given]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawAccount {
    /// A 1.x account in service.
    Active,
    /// A 1.x account the customer cancelled.
    Cancelled,
    /// An account on the 2.0 platform.
    V2,
}

/// `provisioning` of `[given]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawProvisioning {
    /// The lab's Intermedia provisioning stand-in.
    #[default]
    Intermedia,
    /// The foreign provisioning server.
    Foreign,
}

/// `network` of `[given]` and of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawLink {
    /// Cable connected.
    #[default]
    Up,
    /// Cable pulled.
    Down,
}

/// `power` of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPower {
    /// Apply power.
    On,
    /// Cut power.
    Off,
    /// Cut, then apply.
    Cycle,
}

/// `wait` of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawWait {
    /// A REGISTER answered.
    Register,
    /// A boot-time provisioning fetch completed.
    Config,
    /// An Auto-P call-home.
    CallHome,
    /// A firmware image fetched.
    FirmwareDownload,
    /// A request to the foreign provisioning server.
    ForeignProvisioning,
    /// A syslog line.
    Syslog,
    /// A TFTP read.
    Tftp,
}

/// One `[[step]]` as written: every action optional here, because "exactly one" is checked
/// in `load.rs` with a message that names the actions found.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Switch the phone's power.
    pub power: Option<Spanned<RawPower>>,
    /// Press a key and keep it pressed.
    pub hold: Option<Spanned<String>>,
    /// Release a held key.
    pub release: Option<Spanned<String>>,
    /// Press and release a key.
    pub tap: Option<Spanned<String>>,
    /// Tap digit keys in turn.
    pub dial: Option<Spanned<String>>,
    /// Plug or pull the network cable.
    pub network: Option<Spanned<RawLink>>,
    /// Wait for an endpoint event.
    pub wait: Option<Spanned<RawWait>>,
    /// Try the web UI login.
    pub login: Option<Spanned<String>>,
    /// How long a `tap` holds the key; signed so that a negative value gets the range message.
    pub hold_ms: Option<Spanned<i64>>,
    /// How long a `wait` waits.
    pub timeout_s: Option<Spanned<f64>>,
    /// Do nothing for this long (real seconds, scaled): a key held through a boot.
    pub pause_s: Option<Spanned<f64>>,
    /// Offer this firmware generation through provisioning from now on.
    pub offer_firmware: Option<Spanned<String>>,
    /// Put this generation's recovery package on the bench's TFTP folder.
    pub tftp_package: Option<Spanned<String>>,
    /// Write this generation's recovery package onto the bench's USB stick.
    pub usb_stick: Option<Spanned<String>>,
    /// The stick's file system (with `usb_stick`; FAT when omitted).
    pub filesystem: Option<Spanned<RawFilesystem>>,
    /// A file of the package left out (with `tftp_package` or `usb_stick`).
    pub omit: Option<Spanned<RawPart>>,
    /// A file of the package with one byte flipped (with `tftp_package` or `usb_stick`).
    pub corrupt: Option<Spanned<RawPart>>,
}

/// `filesystem` of a `usb_stick` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawFilesystem {
    /// What the KB says to use.
    Fat,
    /// The default of a Windows quick format, which the phone cannot read.
    Ntfs,
}

/// One file of a recovery package, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPart {
    /// The kernel.
    Bin,
    /// The root file system.
    Rfs,
    /// The firmware.
    Rom,
}

impl RawStep {
    /// The action keys present, in file order, for the "exactly one action" check.
    pub fn actions(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut found = Vec::new();
        let mut note = |name: &'static str, span: Option<std::ops::Range<usize>>| {
            if let Some(span) = span {
                found.push((name, span));
            }
        };
        note("power", self.power.as_ref().map(Spanned::span));
        note("hold", self.hold.as_ref().map(Spanned::span));
        note("release", self.release.as_ref().map(Spanned::span));
        note("tap", self.tap.as_ref().map(Spanned::span));
        note("dial", self.dial.as_ref().map(Spanned::span));
        note("network", self.network.as_ref().map(Spanned::span));
        note("wait", self.wait.as_ref().map(Spanned::span));
        note("login", self.login.as_ref().map(Spanned::span));
        note("pause_s", self.pause_s.as_ref().map(Spanned::span));
        note(
            "offer_firmware",
            self.offer_firmware.as_ref().map(Spanned::span),
        );
        note(
            "tftp_package",
            self.tftp_package.as_ref().map(Spanned::span),
        );
        note("usb_stick", self.usb_stick.as_ref().map(Spanned::span));
        found.sort_by_key(|(_, span)| span.start);
        found
    }
}

/// The action keys of a step, for messages.
pub const STEP_ACTIONS: [&str; 12] = [
    "power",
    "hold",
    "release",
    "tap",
    "dial",
    "network",
    "wait",
    "login",
    "pause_s",
    "offer_firmware",
    "tftp_package",
    "usb_stick",
];

/// The top-level keys of a scenario file, for the "unknown key" message.
const TOP_KEYS: [&str; 6] = [
    "summary",
    "source",
    "models",
    "destructive",
    "given",
    "step",
];

/// Everything readable of a scenario file; parts that failed to read are absent (their
/// problem is recorded) and listed in `present` so they are not also reported missing.
#[derive(Debug, Clone, Default)]
pub struct RawScenario {
    /// `summary`.
    pub summary: Option<Spanned<String>>,
    /// `source`.
    pub source: Option<Spanned<String>>,
    /// `models`.
    pub models: Option<Spanned<RawModels>>,
    /// `destructive` (false when omitted).
    pub destructive: Option<bool>,
    /// `[given]`.
    pub given: Option<RawGiven>,
    /// The readable `[[step]]` entries.
    pub steps: Vec<Indexed<RawStep>>,
    /// Top-level keys written in the file, readable or not.
    pub present: BTreeSet<&'static str>,
}

impl RawScenario {
    /// Reads every part of a parsed scenario document, recording each shape or type mistake
    /// and going on with the rest.
    pub(crate) fn read(
        root: &Spanned<DeValue<'_>>,
        problems: &mut FileProblems<'_>,
    ) -> RawScenario {
        let mut raw = RawScenario::default();
        let DeValue::Table(top) = root.get_ref() else {
            return raw;
        };
        for (key, value) in top.iter() {
            let name: &str = key.get_ref();
            if let Some(known) = TOP_KEYS.iter().find(|k| **k == name) {
                raw.present.insert(known);
            }
            match name {
                "summary" => raw.summary = problems.deserialize(name, value),
                "source" => raw.source = problems.deserialize(name, value),
                "models" => raw.models = problems.deserialize(name, value),
                "destructive" => raw.destructive = problems.deserialize(name, value),
                "given" => raw.given = problems.deserialize(name, value),
                "step" => {
                    for (index, span, entry) in entries(name, value, problems) {
                        if let Some(item) = problems.deserialize(&format!("step[{index}]"), entry) {
                            raw.steps.push(Indexed { index, span, item });
                        }
                    }
                }
                _ => problems.at(
                    &key.span(),
                    join_key("", name),
                    format!(
                        "unknown key `{name}`, expected one of {}",
                        quoted_list(&TOP_KEYS)
                    ),
                ),
            }
        }
        raw
    }
}
