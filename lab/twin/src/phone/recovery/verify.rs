//! The checks a recovery package passes before anything is written to flash: each file is
//! an intact image for this model and declares the part its name says, and the three carry
//! one version (the bootloader's "Rom check ok", public fact from other Yealink models).

use thiserror::Error;

use super::{Package, Part};
use crate::phone::firmware::{Firmware, ImageError};
use crate::phone::model::Model;

/// Why a recovery package was refused; the phone shows `Update failed` and keeps its flash.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    /// A file is not an intact image for this model (magic, device name, blocks, checksum).
    #[error("{file}: {source} (replace the file with the one from the model's recovery package)")]
    Image {
        /// The file name as read.
        file: String,
        /// What the image check found.
        source: ImageError,
    },
    /// A file declares another part (or none) than its extension says.
    #[error(
        "{file}: declares part {found:?}, expected {expected:?} (the package's files are mixed up or renamed)"
    )]
    WrongPart {
        /// The file name as read.
        file: String,
        /// The part its name says.
        expected: &'static str,
        /// The part its declaration says, if any.
        found: Option<String>,
    },
    /// The files do not all carry the `.rom`'s version.
    #[error(
        "{file} is version {found}, {rom} is {expected}: the three files must come from one package"
    )]
    VersionMismatch {
        /// The odd file.
        file: String,
        /// Its header version.
        found: String,
        /// The `.rom` file.
        rom: String,
        /// The `.rom`'s version.
        expected: String,
    },
    /// The package lacks one of the three parts.
    #[error("the package has no {part} file")]
    MissingPart {
        /// The part not found.
        part: Part,
    },
}

/// Checks the package for `model`; on success returns the firmware the `.rom` carries,
/// which becomes the running firmware once flashed.
pub fn verify(package: &Package, model: Model) -> Result<Firmware, VerifyError> {
    let mut checked = Vec::new();
    for part in Part::ALL {
        let (_, file, bytes) = package
            .files
            .iter()
            .find(|(p, _, _)| *p == part)
            .ok_or(VerifyError::MissingPart { part })?;
        let firmware = Firmware::parse(bytes, model).map_err(|source| VerifyError::Image {
            file: file.clone(),
            source,
        })?;
        if firmware.declaration.part.as_deref() != Some(part.declared()) {
            return Err(VerifyError::WrongPart {
                file: file.clone(),
                expected: part.declared(),
                found: firmware.declaration.part.clone(),
            });
        }
        checked.push((part, file.clone(), firmware));
    }
    let (_, rom_file, rom) = checked
        .iter()
        .find(|(p, _, _)| *p == Part::Firmware)
        .cloned()
        .ok_or(VerifyError::MissingPart {
            part: Part::Firmware,
        })?;
    for (_, file, firmware) in &checked {
        if firmware.version != rom.version {
            return Err(VerifyError::VersionMismatch {
                file: file.clone(),
                found: firmware.version.clone(),
                rom: rom_file,
                expected: rom.version.clone(),
            });
        }
    }
    Ok(rom)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn image(model: &str, version: &str, part: &str) -> Vec<u8> {
        fn block(kind: u32, data: &[u8]) -> Vec<u8> {
            let mut out = vec![0xEB, 0x9F, 0x56, 0xC9];
            out.extend(kind.to_be_bytes());
            out.extend((data.len() as u32).to_be_bytes());
            out.extend(data);
            out
        }
        let mut out = vec![0u8; 0x80];
        out[0..4].copy_from_slice(&[0xAD, 0x24, 0xEC, 0x0B]);
        out[0x08..0x08 + model.len()].copy_from_slice(model.as_bytes());
        out[0x28..0x28 + version.len()].copy_from_slice(version.as_bytes());
        let declaration = format!(
            "part = {part}\nmodel = {model}\nversion = {version}\nbuild_date = 2019-05-01\nintermedia = true\nfeatures = autop-reset\n"
        );
        out.extend(block(1, declaration.as_bytes()));
        out.extend(block(2, &[3u8; 64]));
        let sum = Sha256::digest(&out);
        out.extend(block(255, &sum));
        out
    }

    fn package(versions: [&str; 3], parts: [&str; 3]) -> Package {
        Package {
            files: Part::ALL
                .iter()
                .zip(versions.iter().zip(parts))
                .map(|(&p, (v, declared))| {
                    (p, p.file_name(Model::T46G), image("T46G", v, declared))
                })
                .collect(),
        }
    }

    #[test]
    fn a_consistent_package_yields_the_roms_firmware() {
        let pkg = package(["28.83.0.50"; 3], ["kernel", "rootfs", "firmware"]);
        let firmware = verify(&pkg, Model::T46G).unwrap();
        assert_eq!(firmware.version, "28.83.0.50");
        assert_eq!(firmware.declaration.part.as_deref(), Some("firmware"));
    }

    #[test]
    fn mixed_versions_swapped_parts_and_corruption_are_refused() {
        let pkg = package(
            ["28.83.0.50", "28.80.0.1", "28.83.0.50"],
            ["kernel", "rootfs", "firmware"],
        );
        assert!(matches!(
            verify(&pkg, Model::T46G),
            Err(VerifyError::VersionMismatch { file, .. }) if file == "T46G.rfs"
        ));
        let pkg = package(["28.83.0.50"; 3], ["rootfs", "kernel", "firmware"]);
        assert!(matches!(
            verify(&pkg, Model::T46G),
            Err(VerifyError::WrongPart { file, .. }) if file == "T46G.bin"
        ));
        let mut pkg = package(["28.83.0.50"; 3], ["kernel", "rootfs", "firmware"]);
        pkg.files[2].2[0x90] ^= 0x01;
        assert!(matches!(
            verify(&pkg, Model::T46G),
            Err(VerifyError::Image { file, .. }) if file == "T46G.rom"
        ));
        pkg.files.pop();
        assert_eq!(
            verify(&pkg, Model::T46G),
            Err(VerifyError::MissingPart {
                part: Part::Firmware
            })
        );
        assert!(matches!(
            verify(
                &package(["28.83.0.50"; 3], ["kernel", "rootfs", "firmware"]),
                Model::T48G
            ),
            Err(VerifyError::Image { .. })
        ));
    }
}
