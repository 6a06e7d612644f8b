//! The committed fixture set: five firmware generations per model, as small synthetic
//! images (`harness fixtures write`), or padded to realistic sizes for benchmarks
//! (`harness fixtures synth`).

use std::path::Path;

use crate::firmware::rom::{BuildDeclaration, RomHeader, write_image};
use crate::lab::{Model, RomImage};

/// One generation of the fixture set.
struct Generation {
    name: &'static str,
    /// `(release train, patch)`: the version is `<family>.<train>.0.<patch>`.
    version: fn(Model) -> (u32, u32),
    build_date: fn(Model) -> &'static str,
    features: &'static [&'static str],
    meaning: &'static str,
    /// Built by Yealink for Intermedia (`false`: Yealink's own stock release).
    intermedia: bool,
}

const AUTOP: &[&str] = &["autop-reset"];

const GENERATIONS: [Generation; 5] = [
    Generation {
        name: "legacy",
        version: |_| (80, 70),
        build_date: |_| "2017-09-20",
        features: &[],
        meaning: "built before the August 2018 Intermedia update: the Long Press reset still works",
        intermedia: true,
    },
    Generation {
        name: "below-min",
        version: |_| (82, 20),
        build_date: |_| "2018-11-05",
        features: &[],
        meaning: "after the August 2018 update, below the Auto-P minimum",
        intermedia: true,
    },
    Generation {
        name: "min",
        version: |_| (83, 35),
        build_date: |_| "2019-07-15",
        features: AUTOP,
        meaning: "the Auto-P minimum (PLACEHOLDER: the KB leaves it blank)",
        intermedia: true,
    },
    Generation {
        name: "current",
        version: |m| {
            let current = m.spec().current_firmware;
            (current.train, current.patch)
        },
        build_date: |m| m.spec().current_firmware.build_date,
        features: AUTOP,
        meaning: "the newest Intermedia build",
        intermedia: true,
    },
    Generation {
        name: "stock",
        version: |_| (83, 50),
        build_date: |_| "2020-01-15",
        features: &[],
        meaning: "Yealink's own stock build, not Intermedia's: no built-in Auto-P reset code",
        intermedia: false,
    },
];

/// The files of a recovery package: extension and the `part` its declaration names.
pub const RECOVERY_PARTS: [(&str, &str); 3] =
    [("bin", "kernel"), ("rfs", "rootfs"), ("rom", "firmware")];

/// The file-name prefix of a model's fixture images: the vendor's, as a real drop names
/// them (`T46-28` for `T46-28.83.0.120.rom`; `T46S(T48S,T42S,T41S)-66` for the S family's
/// one image, which every S model's folder then holds under that same name).
pub fn rom_prefix(model: Model) -> String {
    match model.spec().rom_image {
        RomImage::Own { prefix } | RomImage::Shared { prefix, .. } => {
            format!("{prefix}-{}", model.family())
        }
    }
}

/// The device name an image of `model` carries in its header. A shared image is one file
/// for all its models, so it names one of them: the first of its vendor name (`T46S`).
/// ASSUMED: no public source says which model the header of the S image names; the phone
/// and `harness drop check` accept any model of the image.
pub fn header_device_name(model: Model) -> &'static str {
    match model.spec().rom_image {
        RomImage::Own { .. } => model.name(),
        RomImage::Shared { models, .. } => models[0],
    }
}

/// Writes every model's folder (manifest and images of `image_len` bytes) under `dir`.
pub fn write_fixture_set(dir: &Path, image_len: usize) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    for model in Model::ALL {
        let folder = dir.join(model.name());
        std::fs::create_dir_all(&folder)?;
        let family = model.family();
        let min = (GENERATIONS[2].version)(model);
        let mut manifest = format!(
            "# Synthetic {model} firmware fixtures (see ../FORMAT.md). Written by `harness fixtures write`.\n\
             model = \"{model}\"\nfamily = {family}\ncommon_cfg = \"{}\"\n\
             # The KB lists the Auto-P minimum firmware per model but leaves every value blank.\n\
             # PLACEHOLDER until QA fills in the real minimum from Intermedia's release notes.\n\
             autop_min_version = \"{family}.{}.0.{}\"\nautop_min_version_placeholder = true\n",
            model.common_cfg(),
            min.0,
            min.1
        );
        for generation in &GENERATIONS {
            let (train, patch) = (generation.version)(model);
            let version = format!("{family}.{train}.0.{patch}");
            let stem = format!("{}.{train}.0.{patch}", rom_prefix(model));
            let header = RomHeader {
                device_id: family,
                device_name: header_device_name(model).into(),
                oem_name: if generation.intermedia {
                    "Intermedia"
                } else {
                    "Yealink"
                }
                .into(),
                version: version.clone(),
                hardware_id: family,
                software_id: 0,
            };
            let mut declaration = BuildDeclaration {
                part: String::new(),
                model: header_device_name(model).into(),
                version: version.clone(),
                build_date: (generation.build_date)(model).into(),
                intermedia: generation.intermedia,
                features: generation.features.iter().map(|f| f.to_string()).collect(),
            };
            // The recovery package: firmware, kernel and root file system.
            for (extension, part) in RECOVERY_PARTS {
                declaration.part = part.to_string();
                let path = folder.join(format!("{stem}.{extension}"));
                std::fs::write(&path, write_image(&header, &declaration, image_len))?;
                written.push(path);
            }
            let features: Vec<String> = generation
                .features
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect();
            manifest.push_str(&format!(
                "\n# {}\n[[image]]\ngeneration = \"{}\"\nversion = \"{version}\"\nbuild_date = \"{}\"\n\
                 intermedia = {}\nfeatures = [{}]\n\
                 rom = \"{stem}.rom\"\nbin = \"{stem}.bin\"\nrfs = \"{stem}.rfs\"\n",
                generation.meaning,
                generation.name,
                declaration.build_date,
                generation.intermedia,
                features.join(", ")
            ));
        }
        let path = folder.join("manifest.toml");
        std::fs::write(&path, manifest)?;
        written.push(path);
    }
    Ok(written)
}

/// The size of the committed fixture images: small enough for git, big enough to span
/// several TFTP blocks.
pub const COMMITTED_IMAGE_LEN: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    /// The S family's images are one file: the same name and bytes in each S folder.
    #[test]
    fn the_s_folders_hold_one_shared_image() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture_set(dir.path(), 1024).unwrap();
        let shared: Vec<Model> = Model::ALL
            .into_iter()
            .filter(|m| matches!(m.spec().rom_image, RomImage::Shared { .. }))
            .collect();
        assert!(shared.len() > 1);
        let name = "T46S(T48S,T42S,T41S)-66.86.0.15.rom";
        let first = std::fs::read(dir.path().join(shared[0].name()).join(name)).unwrap();
        for model in &shared[1..] {
            let bytes = std::fs::read(dir.path().join(model.name()).join(name)).unwrap();
            assert!(bytes == first, "{model}");
        }
    }

    /// The committed fixtures are what the table of models writes, byte for byte: a model's
    /// row is the only source of its folder.
    #[test]
    fn the_table_writes_the_committed_fixtures() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-fixtures");
        let dir = tempfile::tempdir().unwrap();
        let written = write_fixture_set(dir.path(), COMMITTED_IMAGE_LEN).unwrap();
        assert_eq!(
            written.len(),
            Model::ALL.len() * (GENERATIONS.len() * 3 + 1)
        );
        for path in written {
            let relative = path.strip_prefix(dir.path()).unwrap();
            let expected = std::fs::read(committed.join(relative))
                .unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
            assert!(
                std::fs::read(&path).unwrap() == expected,
                "{} differs from the committed file",
                relative.display()
            );
        }
    }
}
