//! Recovery packages for a step: the three files of a fixture generation, named as the
//! phone looks for them (the model's row of the table of models), optionally with one left
//! out or corrupted, put on the bench's TFTP folder or written onto its USB stick (in its
//! root, or still in the unzipped `Yealink <MODEL>` folder). The package may be another
//! model's, named as that model's: what a download for the wrong phone holds.

use std::path::PathBuf;

use crate::drivers::media::{Filesystem, StickFile, build_stick_in, open_usb_media};
use crate::endpoints::Endpoints;
use crate::firmware::ImageEntry;
use crate::lab::{Bench, Model};
use crate::scenario::model::{Medium, PackagePart, PackageStep, StickLayout};

/// Why a package could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The fixtures lack a file: the scenario cannot run on this model.
    #[error("{0}")]
    Fixtures(String),
    /// The TFTP folder or the stick could not be written: the lab broke.
    #[error("{0}")]
    Lab(String),
}

/// What staging did.
pub struct Staged {
    /// The transcript's words.
    pub words: String,
    /// The size of each file put in place: a phone that reads one whole is not a finding
    /// about the drop's size.
    pub sizes: Vec<u64>,
}

/// Stages `step`'s package for `bench`; `image` is the generation of the package's model
/// (the bench's, or `step.package_model`).
pub async fn stage(
    endpoints: &Endpoints,
    bench: &Bench,
    image: &ImageEntry,
    step: &PackageStep,
) -> Result<Staged, PackageError> {
    let model = step.package_model.unwrap_or(bench.model);
    let files = package_files(model, image, step)?;
    let sizes = files.iter().map(|f| f.contents.len() as u64).collect();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let listed = if names.is_empty() {
        "no files".to_string()
    } else {
        names.join(", ")
    };
    let tampered = step
        .corrupt
        .filter(|c| Some(*c) != step.omit)
        .map(|part| format!("; {} corrupted", package_name(model, part)))
        .unwrap_or_default();
    let whose = if model == bench.model {
        String::new()
    } else {
        format!("the {model}'s ")
    };
    match step.medium {
        Medium::Tftp => {
            let staging = tempfile::tempdir()
                .map_err(|e| PackageError::Lab(format!("temporary folder: {e}")))?;
            let mut sources = Vec::new();
            for file in &files {
                let path = staging.path().join(&file.name);
                std::fs::write(&path, &file.contents)
                    .map_err(|e| PackageError::Lab(format!("{}: {e}", path.display())))?;
                sources.push((file.name.clone(), path));
            }
            endpoints
                .stage_recovery(&bench.name, &sources)
                .map_err(|e| {
                    PackageError::Lab(format!("staging the TFTP folder of {}: {e}", bench.name))
                })?;
            let words = format!(
                "tftp: {whose}recovery package {} staged: {listed}{tampered}",
                image.version
            );
            Ok(Staged { words, sizes })
        }
        Medium::UsbFat | Medium::UsbNtfs | Medium::UsbExfat => {
            if !bench.model.has_usb_port() {
                return Err(PackageError::Fixtures(format!(
                    "the {} has no USB port: no stick can be put in bench {}",
                    bench.model, bench.name
                )));
            }
            let usb = bench.usb.clone().ok_or_else(|| {
                PackageError::Fixtures(format!(
                    "bench {} has no `usb` stick in the lab file",
                    bench.name
                ))
            })?;
            let (filesystem, words) = match step.medium {
                // A real NTFS or exFAT stick holds the files, but no phone reads either: the
                // image is a well-formed volume start without them (drivers/media/ntfs.rs,
                // exfat.rs).
                Medium::UsbNtfs => (
                    Filesystem::Ntfs,
                    "NTFS-formatted stick (files not written: NTFS is unreadable to the phone) for",
                ),
                Medium::UsbExfat => (
                    Filesystem::ExFat,
                    "exFAT-formatted stick (files not written: exFAT is unreadable to the phone) for",
                ),
                _ => (Filesystem::Fat, "FAT stick with"),
            };
            // The folder the vendor's zip unpacks to, `Yealink XXXXX` (KB step 3).
            let folder = match step.layout {
                StickLayout::Root => None,
                StickLayout::InFolder => Some(format!("Yealink {model}")),
            };
            let place = folder
                .as_ref()
                .map(|f| format!(" in folder `{f}`"))
                .unwrap_or_default();
            tokio::task::spawn_blocking(move || {
                let stick = build_stick_in(filesystem, folder.as_deref(), &files)
                    .map_err(|e| PackageError::Lab(e.to_string()))?;
                let mut media = open_usb_media(&usb);
                media
                    .deliver(&stick)
                    .map_err(|e| PackageError::Lab(e.to_string()))
            })
            .await
            .map_err(|e| PackageError::Lab(format!("writing the stick panicked: {e}")))??;
            let words = format!(
                "usb: {words} {whose}recovery package {}{place}: {listed}{tampered}",
                image.version
            );
            Ok(Staged { words, sizes })
        }
    }
}

/// The package's files in the phone's order, read from the fixtures.
fn package_files(
    model: Model,
    image: &ImageEntry,
    step: &PackageStep,
) -> Result<Vec<StickFile>, PackageError> {
    let mut files = Vec::new();
    for part in [PackagePart::Bin, PackagePart::Rfs, PackagePart::Rom] {
        if step.omit == Some(part) {
            continue;
        }
        let source: Option<&PathBuf> = match part {
            PackagePart::Bin => image.bin.as_ref(),
            PackagePart::Rfs => image.rfs.as_ref(),
            PackagePart::Rom => Some(&image.rom),
        };
        let source = source.ok_or_else(|| {
            PackageError::Fixtures(format!(
                "the {} fixtures of {} have no .{} file",
                image.generation,
                model,
                part.extension()
            ))
        })?;
        let mut contents = std::fs::read(source)
            .map_err(|e| PackageError::Fixtures(format!("{}: {e}", source.display())))?;
        if step.corrupt == Some(part) {
            // One flipped bit in the middle: the header still names the model, only the
            // checksum can tell.
            let middle = contents.len() / 2;
            contents[middle] ^= 0x01;
        }
        files.push(StickFile {
            name: package_name(model, part),
            contents,
        });
    }
    Ok(files)
}

/// `T46G.rom`: a package file of `model` as the phone looks for it (the model's row in the
/// table of models).
pub fn package_name(model: Model, part: PackagePart) -> String {
    let files = model.recovery_files();
    match part {
        PackagePart::Bin => files.kernel,
        PackagePart::Rfs => files.rootfs,
        PackagePart::Rom => files.firmware,
    }
    .to_string()
}
