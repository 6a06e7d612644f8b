//! A scenario file as written: serde types that mirror its TOML shape (unknown keys
//! rejected), read part by part so that one malformed step does not hide the mistakes of the
//! next. Values keep their spans so that `load.rs` can point at the offending line. A step's
//! keys belong to its kind (`steps/`), which reads them.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use toml::Spanned;
use toml::de::DeValue;

use super::steps::StepFields;
use crate::config_error::{FileProblems, join_key};
use crate::lab::raw::{entries, quoted_list};

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

/// `network` of `[given]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawLink {
    /// Cable connected.
    #[default]
    Up,
    /// Cable pulled.
    Down,
}

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
pub struct RawScenario<'t> {
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
    /// The readable `[[step]]` entries, their values read by each step's kind.
    pub steps: Vec<StepFields<'t>>,
    /// Top-level keys written in the file, readable or not.
    pub present: BTreeSet<&'static str>,
}

impl<'t> RawScenario<'t> {
    /// Reads every part of a parsed scenario document, recording each shape or type mistake
    /// and going on with the rest.
    pub(crate) fn read(
        root: &Spanned<DeValue<'t>>,
        problems: &mut FileProblems<'_>,
    ) -> RawScenario<'t> {
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
                    for (index, _, entry) in entries(name, value, problems) {
                        if let Some(step) = StepFields::read(index, entry, problems) {
                            raw.steps.push(step);
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
