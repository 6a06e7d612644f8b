//! Firmware images: the `.rom` container, model manifests, and the synthetic fixture set.

pub mod fixtures;
pub mod manifest;
pub mod rom;

pub use manifest::{ImageEntry, Manifest, ManifestError};
