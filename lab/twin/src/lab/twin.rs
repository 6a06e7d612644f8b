//! `[twin]`: read by the virtual bench only (the harness keeps it untouched): where the
//! firmware fixtures are and which generation every phone runs at bench start.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::LabError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwin {
    firmware_dir: PathBuf,
    initial_firmware: String,
}

#[derive(Debug, Deserialize)]
struct RawManifest {
    #[serde(default)]
    image: Vec<RawImage>,
}

#[derive(Debug, Deserialize)]
struct RawImage {
    generation: String,
    rom: PathBuf,
}

/// The `[twin]` table, checked: the fixtures folder (resolved against `base_dir`) and the
/// generation name.
pub(super) fn read(
    file: &str,
    table: Option<&toml::Table>,
    base_dir: &Path,
) -> Result<(PathBuf, String), LabError> {
    let table = table.ok_or_else(|| LabError::Invalid {
        file: file.to_string(),
        key: "twin".into(),
        problem: "the virtual bench needs a [twin] table with firmware_dir and initial_firmware"
            .into(),
    })?;
    let twin: RawTwin =
        table
            .clone()
            .try_into()
            .map_err(|err: toml::de::Error| LabError::Syntax {
                file: file.to_string(),
                message: format!("in [twin]: {}", err.message()),
            })?;
    if twin.initial_firmware.is_empty() {
        return Err(LabError::Invalid {
            file: file.to_string(),
            key: "twin.initial_firmware".into(),
            problem: "expected a generation name such as `current`".into(),
        });
    }
    Ok((base_dir.join(&twin.firmware_dir), twin.initial_firmware))
}

/// The `.rom` of `generation` in `<firmware_dir>/<MODEL>/manifest.toml`.
pub(super) fn initial_firmware_path(
    lab_file: &str,
    firmware_dir: &Path,
    generation: &str,
    model: &str,
) -> Result<PathBuf, LabError> {
    let folder = firmware_dir.join(model);
    let manifest = folder.join("manifest.toml");
    let file = manifest.display().to_string();
    let text = std::fs::read_to_string(&manifest).map_err(|source| LabError::Invalid {
        file: lab_file.to_string(),
        key: "twin.firmware_dir".into(),
        problem: format!("cannot read {file}: {source} (generate the fixtures, or fix the folder)"),
    })?;
    let raw: RawManifest = toml::from_str(&text).map_err(|err| LabError::Syntax {
        file: file.clone(),
        message: err.to_string(),
    })?;
    let image = raw
        .image
        .iter()
        .find(|i| i.generation == generation)
        .ok_or_else(|| {
            let known: Vec<&str> = raw.image.iter().map(|i| i.generation.as_str()).collect();
            LabError::Invalid {
                file: lab_file.to_string(),
                key: "twin.initial_firmware".into(),
                problem: format!(
                    "{file} has no [[image]] of generation `{generation}` (it has: {})",
                    known.join(", ")
                ),
            }
        })?;
    let rom = folder.join(&image.rom);
    if !rom.is_file() {
        return Err(LabError::Invalid {
            file,
            key: format!("image.rom (generation `{}`)", image.generation),
            problem: format!("{} does not exist", rom.display()),
        });
    }
    Ok(rom)
}
