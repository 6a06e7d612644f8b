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
