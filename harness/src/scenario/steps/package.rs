//! `tftp_package = "<generation>"` and `usb_stick = "<generation>"` (with `filesystem`,
//! `omit`, `corrupt`): a recovery package staged where the phone will look for it; the
//! prompt types it as `package tftp|usb-fat|usb-ntfs`.

use super::prompt::{bad, first};
use super::{CommandError, StepFields, StepFuture, StepKind, StepOption, toml_string};
use crate::config_error::FileProblems;
use crate::scenario::engine::{Abort, Case};
use crate::scenario::load::generation_name;
use crate::scenario::model::{Medium, PackagePart, PackageStep, Step};
use crate::scenario::package::{PackageError, stage};

/// The package on the bench's TFTP folder.
const TFTP: &str = "tftp_package";
/// The package on the bench's USB stick.
const USB: &str = "usb_stick";

/// The stick's file systems, as a scenario writes them.
const FILESYSTEMS: [(&str, Medium); 2] = [("fat", Medium::UsbFat), ("ntfs", Medium::UsbNtfs)];

/// Each medium as the prompt types it.
const MEDIA: [(&str, Medium); 3] = [
    ("tftp", Medium::Tftp),
    ("usb-fat", Medium::UsbFat),
    ("usb-ntfs", Medium::UsbNtfs),
];

/// The package's files, by extension.
const PARTS: [(&str, PackagePart); 3] = [
    ("bin", PackagePart::Bin),
    ("rfs", PackagePart::Rfs),
    ("rom", PackagePart::Rom),
];

/// A fixture generation's recovery package, optionally with a file left out or corrupted.
pub struct Package;

impl StepKind for Package {
    fn actions(&self) -> &'static [&'static str] {
        &[TFTP, USB]
    }

    fn options(&self) -> &'static [StepOption] {
        &[
            StepOption {
                key: "filesystem",
                actions: &[USB],
            },
            StepOption {
                key: "omit",
                actions: &[USB, TFTP],
            },
            StepOption {
                key: "corrupt",
                actions: &[USB, TFTP],
            },
        ]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let generation = fields.required::<String>(problems, action)?;
        let medium = if action == TFTP {
            Medium::Tftp
        } else {
            fields
                .choice(problems, "filesystem", &FILESYSTEMS)?
                .map_or(Medium::UsbFat, |f| *f.get_ref())
        };
        let omit = fields.choice(problems, "omit", &PARTS)?;
        let corrupt = fields.choice(problems, "corrupt", &PARTS)?;
        let generation = generation_name(problems, &fields.key_path(action), &generation)?;
        Some(Step::new(
            &Package,
            PackageStep {
                medium,
                generation,
                omit: omit.map(|p| *p.get_ref()),
                corrupt: corrupt.map(|p| *p.get_ref()),
            },
        ))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(package) = step.what::<PackageStep>() else {
                return Err(case.not_this_kind(self, step));
            };
            let image = case.image(&package.generation)?;
            let staged = stage(case.endpoints(), &case.rig().bench, &image, package)
                .await
                .map_err(|e| match e {
                    PackageError::Fixtures(m) => Abort::Config(m),
                    PackageError::Lab(m) => Abort::Lab(m),
                })?;
            for size in staged.sizes {
                // A phone that reads a file whole is not a finding about the drop's size.
                case.redactor_mut()
                    .replace(format!("({size} bytes)"), "(whole file)");
            }
            case.action(format!("{number}. {}", staged.words));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let package = step.what::<PackageStep>()?;
        let generation = toml_string(&package.generation);
        let mut entries = match package.medium {
            Medium::Tftp => vec![(TFTP, generation)],
            usb => {
                let filesystem = FILESYSTEMS
                    .iter()
                    .find(|(_, m)| *m == usb)
                    .map_or("", |(name, _)| *name);
                vec![(USB, generation), ("filesystem", toml_string(filesystem))]
            }
        };
        if let Some(part) = package.omit {
            entries.push(("omit", toml_string(part.extension())));
        }
        if let Some(part) = package.corrupt {
            entries.push(("corrupt", toml_string(part.extension())));
        }
        Some(entries)
    }

    fn command(&self) -> &'static str {
        "package"
    }

    fn usage(&self) -> &'static str {
        "package tftp|usb-fat|usb-ntfs GENERATION [omit=bin|rfs|rom] [corrupt=bin|rfs|rom]"
    }

    fn about(&self) -> String {
        "a recovery package on the TFTP folder or the USB stick".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        const WHAT: &str = "tftp, usb-fat or usb-ntfs, then a firmware generation";
        let (medium, rest) = first("package", args, WHAT)?;
        let medium = super::prompt::choice("package", medium, &MEDIA)?;
        let (generation, options) = first("package", rest, WHAT)?;
        let mut step = PackageStep {
            medium,
            generation: generation.to_string(),
            omit: None,
            corrupt: None,
        };
        for option in options {
            let (slot, name, part) = match option.split_once('=') {
                Some(("omit", part)) if step.omit.is_none() => (&mut step.omit, "omit", part),
                Some(("corrupt", part)) if step.corrupt.is_none() => {
                    (&mut step.corrupt, "corrupt", part)
                }
                _ => {
                    return Err(bad(
                        "package",
                        option,
                        "omit=PART or corrupt=PART, each once",
                    ));
                }
            };
            let found = PARTS
                .iter()
                .find(|(n, _)| *n == part)
                .ok_or_else(|| bad("package", &format!("{name}={part}"), "bin, rfs or rom"))?;
            *slot = Some(found.1);
        }
        Ok(Step::new(&Package, step))
    }
}
