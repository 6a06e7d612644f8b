//! The twin's table of models against the public facts it cites, written here as the
//! project's facts file (yealink.md) gives them, not read from the table or from the
//! harness's: the two tables are independent and each must match the facts.

use yealink_twin::phone::model::{MODELS, Model};

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
    assert_eq!(MODELS.len(), Model::ALL.len());
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
/// must carry these names and not be marked ASSUMED.
const PUBLIC_PACKAGE_STEMS: [(&str, &str); 0] = [];

/// yealink.md: "T46S(T48S,T42S,T41S)-66.x.rom": one image for those four models.
const S_IMAGE: [&str; 4] = ["T46S", "T48S", "T42S", "T41S"];

#[test]
fn usb_ports_are_the_public_ones() {
    for model in Model::ALL {
        assert_eq!(model.has_usb_port(), fact(&USB_PORT, model), "{model}");
    }
}

#[test]
fn package_names_are_public_or_marked_assumed() {
    for model in Model::ALL {
        let facts = model.facts();
        match PUBLIC_PACKAGE_STEMS
            .iter()
            .find(|(m, _)| *m == model.name())
        {
            Some((_, stem)) => {
                assert_eq!(facts.package_stem, *stem, "{model}");
                assert!(!facts.package_stem_assumed, "{model}");
            }
            None => {
                assert!(facts.package_stem_assumed, "{model}: no source, so ASSUMED");
                assert_eq!(facts.package_stem, model.name(), "{model}");
            }
        }
    }
}

#[test]
fn an_s_phone_accepts_the_shared_image_and_no_other_model_does() {
    for model in Model::ALL {
        let shared = S_IMAGE.contains(&model.name());
        for device in S_IMAGE {
            assert_eq!(model.accepts_image_for(device), shared, "{model} {device}");
        }
        assert!(model.accepts_image_for(model.name()), "{model}");
    }
}
