//! `tftp_package = "<generation>"` and `usb_stick = "<generation>"` (with `filesystem`,
//! `folder`, `model`, `omit`, `corrupt`): a recovery package staged where the phone will
//! look for it; the prompt types it as `package tftp|usb-fat|usb-ntfs|usb-exfat`.

use super::prompt::{bad, first};
use super::{CommandError, StepFields, StepFuture, StepKind, StepOption, toml_string};
use crate::config_error::FileProblems;
use crate::lab::Model;
use crate::scenario::engine::{Abort, Case};
use crate::scenario::load::generation_name;
use crate::scenario::model::{Medium, PackagePart, PackageStep, Step, StickLayout};
use crate::scenario::package::{PackageError, stage};

/// The package on the bench's TFTP folder.
const TFTP: &str = "tftp_package";
/// The package on the bench's USB stick.
const USB: &str = "usb_stick";

/// The stick's file systems, as a scenario writes them.
const FILESYSTEMS: [(&str, Medium); 3] = [
    ("fat", Medium::UsbFat),
    ("ntfs", Medium::UsbNtfs),
    ("exfat", Medium::UsbExfat),
];

/// Each medium as the prompt types it.
const MEDIA: [(&str, Medium); 4] = [
    ("tftp", Medium::Tftp),
    ("usb-fat", Medium::UsbFat),
    ("usb-ntfs", Medium::UsbNtfs),
    ("usb-exfat", Medium::UsbExfat),
];

/// Where the files lie on the stick, as a scenario writes it.
const LAYOUTS: [(&str, StickLayout); 2] = [
    ("root", StickLayout::Root),
    ("yealink-folder", StickLayout::InFolder),
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
                key: "folder",
                actions: &[USB],
            },
            StepOption {
                key: "model",
                actions: &[USB, TFTP],
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
        let layout = fields
            .choice(problems, "folder", &LAYOUTS)?
            .map_or(StickLayout::Root, |l| *l.get_ref());
        let package_model = match fields.optional::<String>(problems, "model")? {
            None => None,
            Some(name) => match Model::parse(name.get_ref()) {
                Some(model) => Some(model),
                None => {
                    let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
                    problems.at(
                        &name.span(),
                        fields.key_path("model"),
                        format!(
                            "unknown model `{}`, expected {}",
                            name.get_ref(),
                            super::expected_one_of(&names)
                        ),
                    );
                    return None;
                }
            },
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
                layout,
                package_model,
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
            let model = package.package_model.unwrap_or(case.rig().bench.model);
            let image = case.image_of(model, &package.generation)?;
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
        if package.layout == StickLayout::InFolder {
            entries.push(("folder", toml_string("yealink-folder")));
        }
        if let Some(model) = package.package_model {
            entries.push(("model", toml_string(model.name())));
        }
        if let Some(part) = package.omit {
            entries.push(("omit", toml_string(part.extension())));
        }
        if let Some(part) = package.corrupt {
            entries.push(("corrupt", toml_string(part.extension())));
        }
        Some(entries)
    }

    fn needs_usb_port(&self, step: &Step) -> bool {
        step.what::<PackageStep>()
            .is_some_and(|package| package.medium != Medium::Tftp)
    }

    fn command(&self) -> &'static str {
        "package"
    }

    fn usage(&self) -> &'static str {
        "package MEDIUM GENERATION [omit=PART] [corrupt=PART] [folder=yealink-folder] [model=MODEL]"
    }

    fn about(&self) -> String {
        "a recovery package on the TFTP folder or the USB stick\n\
         MEDIUM: tftp, usb-fat, usb-ntfs or usb-exfat; PART: bin, rfs or rom"
            .into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        const WHAT: &str = "tftp, usb-fat, usb-ntfs or usb-exfat, then a firmware generation";
        let (medium, rest) = first("package", args, WHAT)?;
        let medium = super::prompt::choice("package", medium, &MEDIA)?;
        let (generation, options) = first("package", rest, WHAT)?;
        let mut step = PackageStep {
            medium,
            generation: generation.to_string(),
            omit: None,
            corrupt: None,
            layout: StickLayout::Root,
            package_model: None,
        };
        for option in options {
            match option.split_once('=') {
                Some(("folder", "yealink-folder"))
                    if medium != Medium::Tftp && step.layout == StickLayout::Root =>
                {
                    step.layout = StickLayout::InFolder;
                    continue;
                }
                Some(("model", name)) if step.package_model.is_none() => {
                    step.package_model = Some(Model::parse(name).ok_or_else(|| {
                        bad("package", option, "model=<a model of the table, e.g. T48G>")
                    })?);
                    continue;
                }
                _ => {}
            }
            let (slot, name, part) = match option.split_once('=') {
                Some(("omit", part)) if step.omit.is_none() => (&mut step.omit, "omit", part),
                Some(("corrupt", part)) if step.corrupt.is_none() => {
                    (&mut step.corrupt, "corrupt", part)
                }
                _ => {
                    return Err(bad(
                        "package",
                        option,
                        "omit=PART, corrupt=PART, folder=yealink-folder (a stick) or model=MODEL, each once",
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
