//! The harness's table of models against the public facts it cites, written here as the
//! facts file gives them (/work/shared/facts/yealink.md of the project's notes), not read
//! from the table. A new model's row needs its facts added here, with their source.

use harness::lab::{Model, RomImage, WebLogin};

/// yealink.md: "Firmware version `A.B.C.D`; A is the model family: T40P 54, T41P 36, T42G
/// 29, T46G 28, T48G 35, T41S/T42S/T46S/T48S 66 (one image for the S family)."
const FAMILY: [(&str, u32); 9] = [
    ("T40P", 54),
    ("T41P", 36),
    ("T42G", 29),
    ("T46G", 28),
    ("T48G", 35),
    ("T41S", 66),
    ("T42S", 66),
    ("T46S", 66),
    ("T48S", 66),
];

/// yealink.md: "Provisioning: common file `y0000000000XX.cfg` (T46G 28, T42G 29, T48G 35,
/// T41P 36, T40P 54, T48S 65, T46S 66, T42S 67, T41S 68)".
const COMMON_CFG: [(&str, &str); 9] = [
    ("T46G", "y000000000028.cfg"),
    ("T42G", "y000000000029.cfg"),
    ("T48G", "y000000000035.cfg"),
    ("T41P", "y000000000036.cfg"),
    ("T40P", "y000000000054.cfg"),
    ("T48S", "y000000000065.cfg"),
    ("T46S", "y000000000066.cfg"),
    ("T42S", "y000000000067.cfg"),
    ("T41S", "y000000000068.cfg"),
];

/// yealink.md: "Vendor file names: T40-54.x.rom, T41-36.x.rom, T42-29.x.rom, T46-28.x.rom,
/// T48-35.x.rom, T46S(T48S,T42S,T41S)-66.x.rom", `x` standing for the rest of the version.
const VENDOR_ROM: [(&str, &str); 9] = [
    ("T40P", "T40-54.x.rom"),
    ("T41P", "T41-36.x.rom"),
    ("T42G", "T42-29.x.rom"),
    ("T46G", "T46-28.x.rom"),
    ("T48G", "T48-35.x.rom"),
    ("T41S", "T46S(T48S,T42S,T41S)-66.x.rom"),
    ("T42S", "T46S(T48S,T42S,T41S)-66.x.rom"),
    ("T46S", "T46S(T48S,T42S,T41S)-66.x.rom"),
    ("T48S", "T46S(T48S,T42S,T41S)-66.x.rom"),
];

/// The KB's list of the models Intermedia supports (its minimum-firmware list).
const KB_MODELS: [&str; 8] = [
    "T40P", "T41P", "T42G", "T46G", "T48G", "T42S", "T46S", "T48S",
];

fn fact<T: Copy>(table: &[(&str, T)], model: Model) -> T {
    table
        .iter()
        .find(|(name, _)| *name == model.name())
        .map(|(_, value)| *value)
        .unwrap_or_else(|| panic!("{model} has a row but no cited fact: add its source here"))
}

#[test]
fn every_model_of_the_kb_has_a_row() {
    for name in KB_MODELS {
        let model = Model::parse(name).unwrap_or_else(|| panic!("the KB's {name} has no row"));
        assert_eq!(model.name(), name);
    }
}

#[test]
fn families_are_the_public_ones() {
    for model in Model::ALL {
        assert_eq!(model.family(), fact(&FAMILY, model), "{model}");
    }
}

#[test]
fn common_cfg_files_are_the_public_ones() {
    for model in Model::ALL {
        assert_eq!(model.common_cfg(), fact(&COMMON_CFG, model), "{model}");
    }
}

#[test]
fn vendor_rom_names_are_the_public_ones() {
    for model in Model::ALL {
        let version = format!("{}.x", model.family());
        assert_eq!(
            model.vendor_rom_name(&version),
            fact(&VENDOR_ROM, model),
            "{model}"
        );
    }
}

/// yealink.md: "one image for the S family": every model whose vendor name is shared is
/// named in it, and only the S models share.
#[test]
fn the_shared_image_serves_exactly_the_models_its_name_lists() {
    for model in Model::ALL {
        let vendor = fact(&VENDOR_ROM, model);
        let sharers: Vec<&str> = VENDOR_ROM
            .iter()
            .filter(|(_, name)| *name == vendor)
            .map(|(m, _)| *m)
            .collect();
        match model.spec().rom_image {
            RomImage::Own { .. } => assert_eq!(sharers, [model.name()], "{model}"),
            RomImage::Shared { models, .. } => {
                let mut listed = models.to_vec();
                listed.sort();
                assert_eq!(listed, sharers, "{model}");
            }
        }
    }
}

/// yealink.md, "Web login (servlet firmware)": the login of T4x firmware.
#[test]
fn every_t4x_model_logs_in_through_the_servlet() {
    for model in Model::ALL {
        assert!(model.name().starts_with("T4"), "{model}");
        assert_eq!(model.web_login(), WebLogin::Servlet, "{model}");
    }
}
