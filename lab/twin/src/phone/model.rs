//! The phone models a bench can hold and the keys an actuator can press on them.

use std::fmt;

/// A supported T4x model. The model decides the provisioning file names, the User-Agent
/// and which firmware images the phone accepts (the image header's device name); what it
/// decides is its row of [`MODELS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// The Yealink T40P.
    T40P,
    /// The Yealink T41P.
    T41P,
    /// The Yealink T42G.
    T42G,
    /// The Yealink T46G.
    T46G,
    /// The Yealink T48G.
    T48G,
    /// The Yealink T42S.
    T42S,
    /// The Yealink T46S.
    T46S,
    /// The Yealink T48S.
    T48S,
}

/// What the twin plays for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFacts {
    /// The model this row is about.
    pub model: Model,
    /// The name the phone reports (User-Agent, image header device name).
    pub name: &'static str,
    /// The first number of every firmware version.
    pub family: u32,
    /// The `XX` of the common provisioning file `y0000000000XX.cfg`.
    pub common_cfg_code: u32,
    /// The stem of the recovery package files the phone looks for (`<stem>.bin`, `.rfs`,
    /// `.rom`).
    pub package_stem: &'static str,
    /// Whether `package_stem` is ASSUMED (no public source gives this model's names).
    pub package_stem_assumed: bool,
    /// The device names an image this phone accepts may carry in its header: its own, or
    /// for the S family's one image any model that image is made for.
    pub image_models: &'static [&'static str],
    /// Whether the phone has the USB port a recovery stick goes in.
    pub usb_port: bool,
}

/// The models the S family's one image is made for, as its vendor name lists them
/// (yealink.md: `T46S(T48S,T42S,T41S)-66.x.rom`).
const S_IMAGE_MODELS: &[&str] = &["T46S", "T48S", "T42S", "T41S"];

/// One row per model the twin can play.
///
/// Sources: `family` and `common_cfg_code` are public facts (Yealink's auto-provisioning
/// guides: the S models share family 66 and one image, but not a common file).
/// `image_models`: public fact, the S image's vendor name lists its models; a G or P model's
/// image names that model only. `package_stem` is ASSUMED to be the model name for every
/// row: the KB writes `XXXXX.bin XXXXX.rfs XXXXX.rom` and no public source gives the T4x
/// names (other models' packages use other stems: the T21P's are T2XD.bin, T2CD.rfs,
/// T21D.rom). `usb_port`: Yealink's Wi-Fi parameters (a WF40 USB dongle on T4x phones)
/// apply to T48G/T48S/T46G/T46S/T42S/T41S only (quoted in fusionpbx pull request 7094), so
/// the T40P, T41P and T42G have no USB port (lab/twin/BEHAVIOUR.md, V4).
pub const MODELS: &[ModelFacts] = &[
    row(Model::T40P, "T40P", 54, 54, false, &["T40P"]),
    row(Model::T41P, "T41P", 36, 36, false, &["T41P"]),
    row(Model::T42G, "T42G", 29, 29, false, &["T42G"]),
    row(Model::T46G, "T46G", 28, 28, true, &["T46G"]),
    row(Model::T48G, "T48G", 35, 35, true, &["T48G"]),
    s_row(Model::T42S, "T42S", 67),
    s_row(Model::T46S, "T46S", 66),
    s_row(Model::T48S, "T48S", 65),
];

/// A row whose image is its own and whose package files are named by the model (the
/// assumption above).
const fn row(
    model: Model,
    name: &'static str,
    family: u32,
    common_cfg_code: u32,
    usb_port: bool,
    image_models: &'static [&'static str],
) -> ModelFacts {
    ModelFacts {
        model,
        name,
        family,
        common_cfg_code,
        package_stem: name,
        package_stem_assumed: true,
        image_models,
        usb_port,
    }
}

/// An S model: family 66, the shared image, a USB port.
const fn s_row(model: Model, name: &'static str, common_cfg_code: u32) -> ModelFacts {
    row(model, name, 66, common_cfg_code, true, S_IMAGE_MODELS)
}

impl Model {
    /// Every model, for lab files and tests that cover them all: the table's order.
    pub const ALL: [Model; MODELS.len()] = {
        let mut all = [Model::T40P; MODELS.len()];
        let mut i = 0;
        while i < MODELS.len() {
            all[i] = MODELS[i].model;
            i += 1;
        }
        all
    };

    /// Reads a model name as lab files write it (`T46G`, case-insensitive), so a bench's
    /// `model` key maps to one twin.
    pub fn parse(name: &str) -> Option<Model> {
        Model::ALL
            .into_iter()
            .find(|model| model.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The model's row; every variant has one (`every_variant_has_one_row`).
    pub fn facts(self) -> &'static ModelFacts {
        MODELS
            .iter()
            .find(|facts| facts.model == self)
            .expect("every model has a row in MODELS")
    }

    /// The name the phone reports (User-Agent, image header device name).
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The first number of every firmware version of this model.
    pub fn family(self) -> u32 {
        self.facts().family
    }

    /// The model's common provisioning file, `y0000000000XX.cfg`.
    pub fn common_cfg(self) -> String {
        format!("y0000000000{:02}.cfg", self.facts().common_cfg_code)
    }

    /// The stem of the recovery package files the phone looks for.
    pub fn package_stem(self) -> &'static str {
        self.facts().package_stem
    }

    /// Whether an image whose header names `device` is made for this model.
    pub fn accepts_image_for(self, device: &str) -> bool {
        self.facts().image_models.contains(&device)
    }

    /// Whether the phone has a USB port.
    pub fn has_usb_port(self) -> bool {
        self.facts().usb_port
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A physical key of a T4x phone: what an actuator channel is wired across.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// The speakerphone key; held at power-on it selects the bootloader's special path.
    Speaker,
    /// OK: confirms a popup.
    Ok,
    /// Cancel (X): dismisses a popup, clears the dial string.
    Cancel,
    /// Softkey 1, leftmost under the screen.
    F1,
    /// Softkey 2.
    F2,
    /// Softkey 3.
    F3,
    /// Softkey 4, rightmost under the screen.
    F4,
    /// Navigation up.
    Up,
    /// Navigation down.
    Down,
    /// Navigation left.
    Left,
    /// Navigation right.
    Right,
    /// A dial-pad digit, 0 to 9.
    Digit(u8),
    /// The `*` key.
    Star,
    /// The `#` key.
    Pound,
    /// Mute.
    Mute,
    /// Headset.
    Headset,
}

impl Key {
    /// Reads the key names of a lab file's keymap (`speaker ok cancel f1..f4 up down left
    /// right 0-9 star pound mute headset`), so the bench maps actuator channels to keys.
    pub fn parse(name: &str) -> Option<Key> {
        let name = name.trim().to_ascii_lowercase();
        let key = match name.as_str() {
            "speaker" => Key::Speaker,
            "ok" => Key::Ok,
            "cancel" => Key::Cancel,
            "f1" => Key::F1,
            "f2" => Key::F2,
            "f3" => Key::F3,
            "f4" => Key::F4,
            "up" => Key::Up,
            "down" => Key::Down,
            "left" => Key::Left,
            "right" => Key::Right,
            "star" => Key::Star,
            "pound" => Key::Pound,
            "mute" => Key::Mute,
            "headset" => Key::Headset,
            digit if digit.len() == 1 && digit.as_bytes()[0].is_ascii_digit() => {
                Key::Digit(digit.as_bytes()[0] - b'0')
            }
            _ => return None,
        };
        Some(key)
    }

    /// The character this key adds to a dial string, if it is a dial-pad key.
    pub fn dial_char(self) -> Option<char> {
        match self {
            Key::Digit(digit) if digit <= 9 => Some(char::from(b'0' + digit)),
            Key::Star => Some('*'),
            Key::Pound => Some('#'),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_name_round_trips_through_parse() {
        for model in Model::ALL {
            assert_eq!(Model::parse(&model.name().to_lowercase()), Some(model));
        }
        assert_eq!(Model::parse("T41S"), None);
    }

    #[test]
    fn every_variant_has_one_row() {
        for model in Model::ALL {
            let rows = MODELS.iter().filter(|f| f.model == model).count();
            assert_eq!(rows, 1, "{model:?}");
        }
        assert_eq!(Model::ALL.len(), MODELS.len());
    }

    #[test]
    fn every_row_names_itself_among_its_image_models() {
        for model in Model::ALL {
            assert!(model.accepts_image_for(model.name()), "{model:?}");
        }
        assert!(Model::T42S.accepts_image_for("T46S"));
        assert!(!Model::T46G.accepts_image_for("T46S"));
        assert!(!Model::T46S.accepts_image_for("T46G"));
    }

    #[test]
    fn common_cfg_names_follow_the_public_table() {
        assert_eq!(Model::T46G.common_cfg(), "y000000000028.cfg");
        assert_eq!(Model::T42S.common_cfg(), "y000000000067.cfg");
        assert_eq!(Model::T48S.common_cfg(), "y000000000065.cfg");
        assert_eq!(Model::T40P.common_cfg(), "y000000000054.cfg");
    }

    #[test]
    fn keymap_names_parse_to_keys() {
        assert_eq!(Key::parse("speaker"), Some(Key::Speaker));
        assert_eq!(Key::parse("F4"), Some(Key::F4));
        assert_eq!(Key::parse("7"), Some(Key::Digit(7)));
        assert_eq!(Key::parse("star"), Some(Key::Star));
        assert_eq!(Key::parse("pound"), Some(Key::Pound));
        assert_eq!(Key::parse("10"), None);
        assert_eq!(Key::parse("hash"), None);
        assert_eq!(Key::Digit(2).dial_char(), Some('2'));
        assert_eq!(Key::Ok.dial_char(), None);
    }
}
