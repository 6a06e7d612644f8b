//! The harness's table of models against the public facts it cites, written here as the
//! facts file gives them (/work/shared/facts/yealink.md of the project's notes), not read
//! from the table. A new model's row needs its facts added here, with their source.

use harness::lab::{Model, Provenance, RomImage, WebLogin};

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

/// Yealink's Wi-Fi parameters (a WF40 USB dongle on T4x phones) apply to "T54S/T52S/T48G/
/// T48S/T46G/T46S/T42S/T41S/T29G/T27G" only (quoted in fusionpbx/fusionpbx pull request
/// 7094): the T4x models of that list have a USB port, the others none.
const USB_PORT: [(&str, bool); 9] = [
    ("T40P", false),
    ("T41P", false),
    ("T42G", false),
    ("T46G", true),
    ("T48G", true),
    ("T41S", true),
    ("T42S", true),
    ("T46S", true),
    ("T48S", true),
];

/// Recovery package names a public source gives, per model: none of the T4x models (the
/// only public names are the T21P's, T2XD.bin, T2CD.rfs, T21D.rom). A model added here
/// must carry these names, marked public.
const PUBLIC_RECOVERY_NAMES: [(&str, [&str; 3]); 0] = [];

#[test]
fn usb_ports_are_the_public_ones_and_cite_their_source() {
    for model in Model::ALL {
        let port = model.spec().usb_port;
        assert_eq!(port.present, fact(&USB_PORT, model), "{model}");
        assert!(port.source.contains("pull request 7094"), "{model}");
    }
}

#[test]
fn recovery_names_are_public_or_marked_assumed() {
    for model in Model::ALL {
        let files = model.recovery_files();
        let names = [files.kernel, files.rootfs, files.firmware];
        match PUBLIC_RECOVERY_NAMES
            .iter()
            .find(|(m, _)| *m == model.name())
        {
            Some((_, public)) => {
                assert_eq!(names, *public, "{model}");
                assert!(matches!(files.names, Provenance::Public(_)), "{model}");
            }
            None => {
                assert!(
                    matches!(files.names, Provenance::Assumed(_)),
                    "{model}: no source, so ASSUMED"
                );
                let stem = model.name();
                assert_eq!(
                    names,
                    [
                        format!("{stem}.bin").as_str(),
                        format!("{stem}.rfs").as_str(),
                        format!("{stem}.rom").as_str()
                    ],
                    "{model}"
                );
            }
        }
    }
}
