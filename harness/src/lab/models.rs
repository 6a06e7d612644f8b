//! The phone models the lab supports, as data: one row of [`MODELS`] per model holds
//! everything the harness needs to know about it (firmware family, provisioning file,
//! firmware image names, recovery package names, web login, ports). Supporting a new model
//! is adding its row; nothing else in the harness names a model.
//!
//! Every value says where it comes from: `yealink.md` is the project's file of public facts
//! (Yealink admin and auto-provisioning guides, open-source provisioning plugins), the KB
//! is the support article the lab is built around. What no source gives is marked ASSUMED,
//! with the reason.

/// Everything the harness knows about one phone model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The model as Yealink writes it in the User-Agent and the image header (`T46G`).
    pub name: &'static str,
    /// The first number of every firmware version of this model.
    pub family: u32,
    /// The `XX` of the common provisioning file `y0000000000XX.cfg`.
    pub common_cfg_code: u32,
    /// How the vendor names this model's `.rom` images.
    pub rom_image: RomImage,
    /// The file names the phone looks for in a recovery package.
    pub recovery: RecoveryFiles,
    /// How a client logs in to the phone's web UI.
    pub web_login: WebLogin,
    /// Whether the phone has a USB port a recovery stick can go in, and who says so.
    pub usb_port: Capability,
    /// The newest firmware the fixtures carry as their `current` generation.
    pub current_firmware: CurrentFirmware,
}

/// The vendor's `.rom` file name: `<prefix>-<version>.rom`, e.g. `T46-28.83.0.120.rom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RomImage {
    /// An image made for this model alone, named by `prefix`.
    Own {
        /// `T46` in `T46-28.83.0.120.rom`.
        prefix: &'static str,
    },
    /// One image shared by several models (the S family), named by them all.
    Shared {
        /// `T46S(T48S,T42S,T41S)` in `T46S(T48S,T42S,T41S)-66.86.0.15.rom`.
        prefix: &'static str,
        /// Every model the image is made for. Its header may name any of them (ASSUMED: no
        /// public source says which one the header of the S image names).
        models: &'static [&'static str],
    },
}

/// A yes-or-no property of the hardware, with the public source that gives it: a
/// scenario that needs a part the model lacks is not applicable there, and the report says
/// why by quoting `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// Whether the model has it.
    pub present: bool,
    /// Where that comes from.
    pub source: &'static str,
}

/// Where a value of the table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// A public source gives it (named here).
    Public(&'static str),
    /// No public source gives it: the lab's assumption, with the reason.
    Assumed(&'static str),
}

/// The three files of a recovery package, as the phone looks for them on a stick or the
/// TFTP recovery server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryFiles {
    /// The kernel (`.bin`).
    pub kernel: &'static str,
    /// The root file system (`.rfs`).
    pub rootfs: &'static str,
    /// The firmware (`.rom`).
    pub firmware: &'static str,
    /// Who gives these names.
    pub names: Provenance,
}

/// No public source gives the recovery file names of any T4x model; a model whose names
/// become known gets its own [`RecoveryFiles`] with [`Provenance::Public`].
const RECOVERY_NAMES_ASSUMED: Provenance = Provenance::Assumed(
    "no public source gives this model's recovery file names: the KB writes `XXXXX.bin \
     XXXXX.rfs XXXXX.rom`, read as the model name; other models' packages use other stems \
     (yealink.md: the T21P's are T2XD.bin, T2CD.rfs, T21D.rom), so confirm on the real package",
);

/// The recovery files named `<stem>.bin`, `.rfs`, `.rom` after the model, ASSUMED.
const fn assumed_recovery(
    kernel: &'static str,
    rootfs: &'static str,
    firmware: &'static str,
) -> RecoveryFiles {
    RecoveryFiles {
        kernel,
        rootfs,
        firmware,
        names: RECOVERY_NAMES_ASSUMED,
    }
}

/// The models whose Wi-Fi parameters Yealink documents are those with a USB port: on T4x
/// phones Wi-Fi is the WF40 USB dongle, which needs one.
const USB_SOURCE: &str = "Yealink's Wi-Fi parameters apply only to \
     T54S/T52S/T48G/T48S/T46G/T46S/T42S/T41S/T29G/T27G (quoted in fusionpbx/fusionpbx pull \
     request 7094); T4x Wi-Fi is the WF40 USB dongle, so exactly these T4x models have a USB \
     port. No datasheet was readable from the lab's sources: confirm on the model's datasheet";

/// A USB port, per [`USB_SOURCE`].
const USB_PORT: Capability = Capability {
    present: true,
    source: USB_SOURCE,
};

/// No USB port: the model is absent from the list in [`USB_SOURCE`].
const NO_USB_PORT: Capability = Capability {
    present: false,
    source: USB_SOURCE,
};

/// How the phone's web UI takes a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebLogin {
    /// The servlet login of T4x firmware (`/servlet?m=mod_listener&p=login`): an RSA key in
    /// the login form, the password AES-encrypted (yealink.md, "Web login").
    Servlet,
}

/// The newest public build of a model, which the fixtures' `current` generation copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentFirmware {
    /// The release train, the version's second number.
    pub train: u32,
    /// The version's last number.
    pub patch: u32,
    /// The build date the fixtures give it (synthetic: no public source dates the builds).
    pub build_date: &'static str,
}

/// Vendor names of the shared S image (yealink.md: `T46S(T48S,T42S,T41S)-66.x.rom`).
const S_IMAGE: RomImage = RomImage::Shared {
    prefix: "T46S(T48S,T42S,T41S)",
    models: &["T46S", "T48S", "T42S", "T41S"],
};

/// yealink.md: "Recent: x.83.0.120 (T41P/T42G/T46G/T48G)". For the T40P no public source
/// gives its newest build: ASSUMED the same train and patch as its siblings.
const CURRENT_83: CurrentFirmware = CurrentFirmware {
    train: 83,
    patch: 120,
    build_date: "2021-03-10",
};

/// yealink.md: "Recent: ... 66.86.0.15 (S)".
const CURRENT_86: CurrentFirmware = CurrentFirmware {
    train: 86,
    patch: 15,
    build_date: "2021-06-01",
};

/// The rows, in the order reports and lab files list the models (the KB's order).
///
/// Sources, for every row unless the row says otherwise:
/// - `name`: the KB's list of supported models.
/// - `family`: yealink.md, "Firmware version `A.B.C.D`; A is the model family".
/// - `common_cfg_code`: yealink.md, "Provisioning: common file `y0000000000XX.cfg`".
/// - `rom_image`: yealink.md, "Vendor file names".
/// - `recovery`: per row; today every row is ASSUMED `<MODEL>.bin/.rfs/.rom`
///   ([`RECOVERY_NAMES_ASSUMED`]). The twin assumes the same (lab/twin/BEHAVIOUR.md, V1).
/// - `web_login`: yealink.md, "Web login (servlet firmware)", as public phone-management
///   clients perform it on T4x phones.
/// - `usb_port`: per row, [`USB_SOURCE`]. The KB's USB method ("locate the USB slot on the
///   back of the phone") is written for every model it lists, but a T40P, T41P or T42G has
///   no slot: USB scenarios are not applicable there (`scenario::applicability`).
/// - `current_firmware`: see [`CURRENT_83`] and [`CURRENT_86`].
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "T40P",
        family: 54,
        common_cfg_code: 54,
        rom_image: RomImage::Own { prefix: "T40" },
        recovery: assumed_recovery("T40P.bin", "T40P.rfs", "T40P.rom"),
        web_login: WebLogin::Servlet,
        usb_port: NO_USB_PORT,
        current_firmware: CURRENT_83,
    },
    ModelSpec {
        name: "T41P",
        family: 36,
        common_cfg_code: 36,
        rom_image: RomImage::Own { prefix: "T41" },
        recovery: assumed_recovery("T41P.bin", "T41P.rfs", "T41P.rom"),
        web_login: WebLogin::Servlet,
        usb_port: NO_USB_PORT,
        current_firmware: CURRENT_83,
    },
    ModelSpec {
        name: "T42G",
        family: 29,
        common_cfg_code: 29,
        rom_image: RomImage::Own { prefix: "T42" },
        recovery: assumed_recovery("T42G.bin", "T42G.rfs", "T42G.rom"),
        web_login: WebLogin::Servlet,
        usb_port: NO_USB_PORT,
        current_firmware: CURRENT_83,
    },
    ModelSpec {
        name: "T46G",
        family: 28,
        common_cfg_code: 28,
        rom_image: RomImage::Own { prefix: "T46" },
        recovery: assumed_recovery("T46G.bin", "T46G.rfs", "T46G.rom"),
        web_login: WebLogin::Servlet,
        usb_port: USB_PORT,
        current_firmware: CURRENT_83,
    },
    ModelSpec {
        name: "T48G",
        family: 35,
        common_cfg_code: 35,
        rom_image: RomImage::Own { prefix: "T48" },
        recovery: assumed_recovery("T48G.bin", "T48G.rfs", "T48G.rom"),
        web_login: WebLogin::Servlet,
        usb_port: USB_PORT,
        current_firmware: CURRENT_83,
    },
    ModelSpec {
        name: "T42S",
        family: 66,
        common_cfg_code: 67,
        rom_image: S_IMAGE,
        recovery: assumed_recovery("T42S.bin", "T42S.rfs", "T42S.rom"),
        web_login: WebLogin::Servlet,
        usb_port: USB_PORT,
        current_firmware: CURRENT_86,
    },
    ModelSpec {
        name: "T46S",
        family: 66,
        common_cfg_code: 66,
        rom_image: S_IMAGE,
        recovery: assumed_recovery("T46S.bin", "T46S.rfs", "T46S.rom"),
        web_login: WebLogin::Servlet,
        usb_port: USB_PORT,
        current_firmware: CURRENT_86,
    },
    ModelSpec {
        name: "T48S",
        family: 66,
        common_cfg_code: 65,
        rom_image: S_IMAGE,
        recovery: assumed_recovery("T48S.bin", "T48S.rfs", "T48S.rom"),
        web_login: WebLogin::Servlet,
        usb_port: USB_PORT,
        current_firmware: CURRENT_86,
    },
];

/// A supported phone model: a row of [`MODELS`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Model(u8);

impl Model {
    /// Every supported model, in the table's order.
    pub const ALL: [Model; MODELS.len()] = {
        let mut all = [Model(0); MODELS.len()];
        let mut i = 0;
        while i < MODELS.len() {
            all[i] = Model(i as u8);
            i += 1;
        }
        all
    };

    // Names for code and tests that mean one model; each is checked against the table when
    // the crate compiles. A new model needs none of these.
    /// The Yealink T40P.
    pub const T40P: Model = Model::named("T40P");
    /// The Yealink T41P.
    pub const T41P: Model = Model::named("T41P");
    /// The Yealink T42G.
    pub const T42G: Model = Model::named("T42G");
    /// The Yealink T46G.
    pub const T46G: Model = Model::named("T46G");
    /// The Yealink T48G.
    pub const T48G: Model = Model::named("T48G");
    /// The Yealink T42S.
    pub const T42S: Model = Model::named("T42S");
    /// The Yealink T46S.
    pub const T46S: Model = Model::named("T46S");
    /// The Yealink T48S.
    pub const T48S: Model = Model::named("T48S");

    /// The model of the row named exactly `name`; a name that has no row stops the build
    /// when used in a constant (and panics otherwise).
    pub const fn named(name: &str) -> Model {
        let mut i = 0;
        while i < MODELS.len() {
            if const_str_eq(MODELS[i].name, name) {
                return Model(i as u8);
            }
            i += 1;
        }
        panic!("no row of MODELS has this name")
    }

    /// The model's row.
    pub fn spec(self) -> &'static ModelSpec {
        &MODELS[usize::from(self.0)]
    }

    /// The name the phone reports and files use (`T46G`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Reads a model name as lab and scenario files write it, in either case.
    pub fn parse(text: &str) -> Option<Model> {
        Model::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(text))
    }

    /// The first number of every firmware version of this model.
    pub fn family(self) -> u32 {
        self.spec().family
    }

    /// The common provisioning file, `y0000000000XX.cfg`.
    pub fn common_cfg(self) -> String {
        format!("y0000000000{:02}.cfg", self.spec().common_cfg_code)
    }

    /// The vendor's file name of this model's image of `version`.
    pub fn vendor_rom_name(self, version: &str) -> String {
        match self.spec().rom_image {
            RomImage::Own { prefix } | RomImage::Shared { prefix, .. } => {
                format!("{prefix}-{version}.rom")
            }
        }
    }

    /// The device names an image of this model may carry in its header: its own, or for
    /// a shared image any model it is made for.
    pub fn image_device_names(self) -> &'static [&'static str] {
        match &self.spec().rom_image {
            RomImage::Own { .. } => std::slice::from_ref(&self.spec().name),
            RomImage::Shared { models, .. } => models,
        }
    }

    /// The recovery package files, kernel, root file system and firmware.
    pub fn recovery_files(self) -> &'static RecoveryFiles {
        &self.spec().recovery
    }

    /// How the phone's web UI takes a login, which decides the probe the harness uses.
    pub fn web_login(self) -> WebLogin {
        self.spec().web_login
    }

    /// Whether the phone has the USB port the KB's stick recovery needs.
    pub fn has_usb_port(self) -> bool {
        self.spec().usb_port.present
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Shows the name, as the enum this replaces did, so messages and test output stay alike.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for model in Model::ALL {
            assert_eq!(Model::parse(&model.name().to_lowercase()), Some(model));
            assert_eq!(Model::named(model.name()), model);
        }
        assert_eq!(Model::parse("T41S"), None);
    }

    #[test]
    fn every_image_header_may_name_its_own_model() {
        for model in Model::ALL {
            assert!(
                model.image_device_names().contains(&model.name()),
                "{model}"
            );
        }
    }

    #[test]
    fn vendor_names_follow_the_public_pattern() {
        assert_eq!(
            Model::T46G.vendor_rom_name("28.83.0.120"),
            "T46-28.83.0.120.rom"
        );
        assert_eq!(
            Model::T42S.vendor_rom_name("66.86.0.15"),
            "T46S(T48S,T42S,T41S)-66.86.0.15.rom"
        );
    }

    #[test]
    fn debug_shows_the_name() {
        assert_eq!(format!("{:?}", [Model::T40P, Model::T48S]), "[T40P, T48S]");
    }
}
