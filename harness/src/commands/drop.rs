//! `harness drop check DIR`: QA's first look at a firmware drop. A drop has the layout of
//! `firmware-fixtures/`: a folder per model with its `manifest.toml` and images. Every
//! image's header is read (as the phone reads it) and checked against its file name and the
//! manifest, before a single phone is touched. `harness run --drop DIR` then runs the matrix
//! with those images.

use std::path::{Path, PathBuf};

use crate::firmware::rom::{RomError, read_header, verify_blocks};
use crate::firmware::{ImageEntry, Manifest};
use crate::lab::Model;
use crate::outcome::exit_code;

/// One checked file.
#[derive(Debug, Clone, PartialEq)]
pub struct DropRow {
    /// The image file checked.
    pub file: PathBuf,
    /// The model folder the file belongs to.
    pub model: String,
    /// The manifest's generation for the file (empty when the manifest names none), so a
    /// row reads like a scenario's `given`.
    pub generation: String,
    /// The version its header declares.
    pub version: String,
    /// The file's size in bytes, shown so a truncated download stands out.
    pub size_bytes: u64,
    /// Empty when the file is good.
    pub problems: Vec<String>,
}

/// Checks every model folder of `dir`; a model without a folder is skipped, a folder
/// without a usable manifest is one row with the manifest's error.
pub fn check_drop(dir: &Path) -> Vec<DropRow> {
    let mut rows = Vec::new();
    for model in Model::ALL {
        let folder = dir.join(model.name());
        if !folder.is_dir() {
            continue;
        }
        let manifest = match Manifest::load(dir, model) {
            Ok(m) => m,
            Err(e) => {
                rows.push(DropRow {
                    file: folder.join("manifest.toml"),
                    model: model.name().into(),
                    generation: String::new(),
                    version: String::new(),
                    size_bytes: 0,
                    problems: vec![e.to_string()],
                });
                continue;
            }
        };
        let mut listed = Vec::new();
        for image in &manifest.images {
            let files = std::iter::once(&image.rom)
                .chain(image.bin.iter())
                .chain(image.rfs.iter());
            for file in files {
                listed.push(file.clone());
                rows.push(check_file(model, image, file));
            }
        }
        // Images in the folder that the manifest does not list would never be used.
        if let Ok(entries) = std::fs::read_dir(&folder) {
            let mut strays: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|e| e == "rom" || e == "bin" || e == "rfs")
                })
                .filter(|p| !listed.contains(p))
                .collect();
            strays.sort();
            for stray in strays {
                rows.push(DropRow {
                    file: stray,
                    model: model.name().into(),
                    generation: String::new(),
                    version: String::new(),
                    size_bytes: 0,
                    problems: vec!["not listed in manifest.toml: no scenario can use it".into()],
                });
            }
        }
    }
    rows
}

fn check_file(model: Model, image: &ImageEntry, file: &Path) -> DropRow {
    let mut row = DropRow {
        file: file.to_path_buf(),
        model: model.name().into(),
        generation: image.generation.clone(),
        version: String::new(),
        size_bytes: 0,
        problems: Vec::new(),
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            row.problems.push(format!("cannot read: {e}"));
            return row;
        }
    };
    row.size_bytes = bytes.len() as u64;
    let header = match read_header(&bytes) {
        Ok(h) => h,
        Err(e) => {
            row.problems.push(e.to_string());
            return row;
        }
    };
    row.version = header.version.clone();
    // A shared image (the S family's) may name any model it is made for. ASSUMED: no public
    // source says which model the header of the S image names, so any of them is accepted.
    let devices = model.image_device_names();
    if !devices.contains(&header.device_name.as_str()) {
        let expected = if devices.len() == 1 {
            model.to_string()
        } else {
            format!(
                "{model} or another model of its shared image ({})",
                devices.join(", ")
            )
        };
        row.problems.push(format!(
            "header names device `{}`, not {expected}",
            header.device_name
        ));
    }
    if header.version != image.version {
        row.problems.push(format!(
            "header version {} differs from the manifest's {}",
            header.version, image.version
        ));
    }
    if !header.version.starts_with(&format!("{}.", model.family())) {
        row.problems.push(format!(
            "version {} is not of the {model} family {}",
            header.version,
            model.family()
        ));
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(&header.version) {
        row.problems.push(format!(
            "file name `{name}` does not carry the header's version {}",
            header.version
        ));
    }
    // Synthetic images carry a block chain with a checksum; vendor images only the magic.
    match verify_blocks(&bytes) {
        Ok(_) | Err(RomError::NoChecksum) => {}
        Err(e) => row.problems.push(e.to_string()),
    }
    row
}

/// Prints the table; exit code 0 when every file is good, config error otherwise.
pub fn execute(dir: &Path) -> i32 {
    let rows = check_drop(dir);
    if rows.is_empty() {
        let models: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
        eprintln!(
            "{}: no model folder ({}) found",
            dir.display(),
            models.join(", ")
        );
        return exit_code::CONFIG_ERROR;
    }
    println!(
        "{:<5} {:<10} {:<12} {:>10}  {:<32} verdict",
        "model", "generation", "version", "bytes", "file"
    );
    for row in &rows {
        let name = row
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let verdict = if row.problems.is_empty() {
            "ok".to_string()
        } else {
            row.problems.join("; ")
        };
        println!(
            "{:<5} {:<10} {:<12} {:>10}  {:<32} {verdict}",
            row.model, row.generation, row.version, row.size_bytes, name
        );
    }
    let bad = rows.iter().filter(|r| !r.problems.is_empty()).count();
    println!(
        "\n{} files, {} ok, {bad} with problems",
        rows.len(),
        rows.len() - bad
    );
    if bad == 0 {
        exit_code::PASS
    } else {
        exit_code::CONFIG_ERROR
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::fixtures::write_fixture_set;

    #[test]
    fn the_committed_fixtures_are_a_clean_drop() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-fixtures");
        let rows = check_drop(&dir);
        // Every model, five generations (four of Intermedia's, one stock), three files each.
        assert_eq!(rows.len(), Model::ALL.len() * 5 * 3, "{rows:#?}");
        assert!(rows.iter().all(|r| r.problems.is_empty()), "{rows:#?}");
    }

    #[test]
    fn wrong_headers_names_and_strays_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture_set(dir.path(), 1024).unwrap();
        let folder = dir.path().join("T46G");
        // A T48G image renamed into the T46G folder under a listed name.
        let t48 = std::fs::read(dir.path().join("T48G/T48-35.83.0.120.rom")).unwrap();
        std::fs::write(folder.join("T46-28.83.0.120.rom"), t48).unwrap();
        // A corrupted root file system.
        let rfs = folder.join("T46-28.83.0.35.rfs");
        let mut bytes = std::fs::read(&rfs).unwrap();
        bytes[600] ^= 1;
        std::fs::write(&rfs, bytes).unwrap();
        std::fs::write(folder.join("T46-28.99.0.1.rom"), b"stray").unwrap();

        let rows = check_drop(dir.path());
        let bad: Vec<&DropRow> = rows.iter().filter(|r| !r.problems.is_empty()).collect();
        assert_eq!(bad.len(), 3, "{bad:#?}");
        let renamed = bad
            .iter()
            .find(|r| r.file.ends_with("T46-28.83.0.120.rom"))
            .expect("the renamed image is reported");
        assert!(
            renamed
                .problems
                .iter()
                .any(|p| p.contains("names device `T48G`")),
            "{bad:#?}"
        );
        assert!(
            renamed
                .problems
                .iter()
                .any(|p| p.contains("differs from the manifest's 28.83.0.120"))
        );
        assert!(
            bad.iter()
                .any(|r| r.problems.iter().any(|p| p.contains("checksum mismatch"))),
            "{bad:#?}"
        );
        assert!(
            bad.iter()
                .any(|r| r.problems[0].contains("not listed in manifest.toml")),
            "{bad:#?}"
        );
    }

    /// A real S drop: the vendor's one image for the S family, under its own name, in the
    /// folder of each S model it serves.
    #[test]
    fn an_s_drop_with_the_shared_vendor_image_is_clean() {
        use crate::firmware::rom::{BuildDeclaration, RomHeader, write_image};

        let dir = tempfile::tempdir().unwrap();
        let version = "66.86.0.15";
        let image = |device: &str| {
            let header = RomHeader {
                device_id: 66,
                device_name: device.into(),
                oem_name: "Yealink".into(),
                version: version.into(),
                hardware_id: 66,
                software_id: 0,
            };
            let declaration = BuildDeclaration {
                part: "firmware".into(),
                model: device.into(),
                version: version.into(),
                build_date: "2021-06-01".into(),
                intermedia: false,
                features: Vec::new(),
            };
            write_image(&header, &declaration, 1024)
        };
        let s_models: Vec<Model> = Model::ALL
            .into_iter()
            .filter(|m| m.image_device_names().len() > 1)
            .collect();
        assert!(!s_models.is_empty(), "the table has a shared image");
        let vendor_name = s_models[0].vendor_rom_name(version);
        assert_eq!(vendor_name, "T46S(T48S,T42S,T41S)-66.86.0.15.rom");
        for model in &s_models {
            let folder = dir.path().join(model.name());
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(
                folder.join("manifest.toml"),
                format!(
                    "model = \"{model}\"\nfamily = 66\ncommon_cfg = \"{}\"\n\
                     autop_min_version = \"{version}\"\n\n[[image]]\ngeneration = \"current\"\n\
                     version = \"{version}\"\nbuild_date = \"2021-06-01\"\nintermedia = false\n\
                     rom = \"{vendor_name}\"\n",
                    model.common_cfg()
                ),
            )
            .unwrap();
            // The one vendor image, its header naming the first model of its name.
            std::fs::write(folder.join(&vendor_name), image("T46S")).unwrap();
        }
        let rows = check_drop(dir.path());
        assert_eq!(rows.len(), s_models.len(), "{rows:#?}");
        assert!(rows.iter().all(|r| r.problems.is_empty()), "{rows:#?}");

        // A G-model image under the S name is still caught.
        let t42s = dir.path().join("T42S").join(&vendor_name);
        std::fs::write(&t42s, image("T46G")).unwrap();
        let rows = check_drop(dir.path());
        let bad: Vec<&DropRow> = rows.iter().filter(|r| !r.problems.is_empty()).collect();
        assert_eq!(bad.len(), 1, "{rows:#?}");
        assert_eq!(bad[0].file, t42s);
        assert!(
            bad[0].problems[0].contains(
                "header names device `T46G`, not T42S or another model of its shared image \
                 (T46S, T48S, T42S, T41S)"
            ),
            "{bad:#?}"
        );
    }
}
