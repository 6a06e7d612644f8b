//! A model's firmware manifest (`firmware-fixtures/<MODEL>/manifest.toml`): which images
//! exist, of which generation, and the Auto-P minimum version.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::lab::Model;

/// One model's manifest, with paths resolved against its folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The model the folder is for.
    pub model: Model,
    /// The first number of every firmware version of the model.
    pub family: u32,
    /// The common provisioning file the model fetches, `y0000000000XX.cfg`.
    pub common_cfg: String,
    /// The oldest version that carries the Auto-P password reset.
    pub autop_min_version: String,
    /// The KB leaves the minimum versions blank: true until QA fills in the real one.
    pub autop_min_version_placeholder: bool,
    /// Every build of the model in the folder.
    pub images: Vec<ImageEntry>,
}

/// One firmware build of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageEntry {
    /// What the scenarios call the build (`legacy`, `below-min`, `min`, `current`).
    pub generation: String,
    /// The firmware version, checked against the image's header.
    pub version: String,
    /// `YYYY-MM-DD`: builds before the August 2018 update still have the Long Press reset.
    pub build_date: String,
    /// An Intermedia build (custom firmware made for Intermedia).
    pub intermedia: bool,
    /// What the build carries, such as `autop-reset` (the **7283 Auto-P password reset).
    pub features: Vec<String>,
    /// Absolute path of the `.rom`.
    pub rom: PathBuf,
    /// The kernel and root file system of the recovery package, when the drop has them.
    pub bin: Option<PathBuf>,
    /// Absolute path of the `.rfs`, when the drop has it.
    pub rfs: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    model: String,
    family: u32,
    common_cfg: String,
    autop_min_version: String,
    #[serde(default)]
    autop_min_version_placeholder: bool,
    #[serde(rename = "image", default)]
    images: Vec<RawImage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    generation: String,
    version: String,
    build_date: String,
    intermedia: bool,
    #[serde(default)]
    features: Vec<String>,
    rom: String,
    bin: Option<String>,
    rfs: Option<String>,
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum ManifestError {
    #[error("cannot read firmware manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Manifest {
    /// Loads `<dir>/<MODEL>/manifest.toml`.
    pub fn load(fixtures_dir: &Path, model: Model) -> Result<Manifest, ManifestError> {
        let path = fixtures_dir.join(model.name()).join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        let raw: RawManifest = toml::from_str(&text).map_err(|e| ManifestError::Parse {
            path: path.clone(),
            line: e
                .span()
                .map(|s| text[..s.start].lines().count().max(1))
                .unwrap_or(1),
            message: e.message().to_string(),
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.clone(),
            message,
        };
        if Model::parse(&raw.model) != Some(model) {
            return Err(invalid(format!(
                "model is `{}`, but the manifest sits in the {model} folder",
                raw.model
            )));
        }
        if raw.family != model.family() {
            return Err(invalid(format!(
                "family is {}, {model} firmware starts with {}",
                raw.family,
                model.family()
            )));
        }
        let folder = path.parent().expect("manifest has a folder").to_path_buf();
        let mut images = Vec::new();
        for image in raw.images {
            if !image.version.starts_with(&format!("{}.", raw.family)) {
                return Err(invalid(format!(
                    "image {} does not start with the family number {}",
                    image.version, raw.family
                )));
            }
            if image.rom.contains('/') || image.rom.contains('\\') || image.rom.contains("..") {
                return Err(invalid(format!(
                    "rom `{}` must be a file name in the model's folder",
                    image.rom
                )));
            }
            if images
                .iter()
                .any(|i: &ImageEntry| i.generation == image.generation)
            {
                return Err(invalid(format!(
                    "generation `{}` is listed twice",
                    image.generation
                )));
            }
            images.push(ImageEntry {
                generation: image.generation,
                version: image.version,
                build_date: image.build_date,
                intermedia: image.intermedia,
                features: image.features,
                rom: folder.join(image.rom),
                bin: image.bin.map(|b| folder.join(b)),
                rfs: image.rfs.map(|r| folder.join(r)),
            });
        }
        Ok(Manifest {
            model,
            family: raw.family,
            common_cfg: raw.common_cfg,
            autop_min_version: raw.autop_min_version,
            autop_min_version_placeholder: raw.autop_min_version_placeholder,
            images,
        })
    }

    /// The image of a generation, if the manifest has it.
    pub fn generation(&self, generation: &str) -> Option<&ImageEntry> {
        self.images.iter().find(|i| i.generation == generation)
    }
}
