//! Reading a `.rom` firmware image the way the phone does before it flashes one: header,
//! block chain, build declaration and checksum (firmware-fixtures/FORMAT.md).

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::model::Model;

const HEADER_MAGIC: [u8; 4] = [0xAD, 0x24, 0xEC, 0x0B];
const BLOCK_MAGIC: [u8; 4] = [0xEB, 0x9F, 0x56, 0xC9];
const HEADER_LEN: usize = 0x80;
const BLOCK_HEADER_LEN: usize = 12;
const KIND_DECLARATION: u32 = 1;
const KIND_CHECKSUM: u32 = 255;

/// Why the phone refused an image: it keeps its running firmware and says why in syslog.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImageError {
    /// The file is shorter than the 0x80-byte header.
    #[error(
        "image is {len} bytes, shorter than the 128-byte header: check the download is complete"
    )]
    TooShort {
        /// File length in bytes.
        len: usize,
    },
    /// The header does not start with `AD 24 EC 0B`.
    #[error("bad header magic {found}: not a T4x .rom file")]
    BadMagic {
        /// The first four bytes, hex.
        found: String,
    },
    /// The header's device name is another model.
    #[error(
        "image is for {found:?}, this phone is a {expected}: check the model folder of the drop"
    )]
    WrongModel {
        /// Device name in the header.
        found: String,
        /// The phone's model.
        expected: Model,
    },
    /// A block does not start with `EB 9F 56 C9`, or runs past the end of the file.
    #[error("block chain broken at offset {offset:#x}: the image is truncated or corrupt")]
    BrokenChain {
        /// Offset of the broken block.
        offset: usize,
    },
    /// No checksum block ends the chain.
    #[error("no checksum block: the image is truncated")]
    NoChecksum,
    /// The checksum block does not match the bytes before it.
    #[error("checksum mismatch: the image is corrupt")]
    ChecksumMismatch,
    /// The first block is not a readable build declaration.
    #[error("build declaration missing or unreadable: {reason}")]
    BadDeclaration {
        /// What was wrong.
        reason: String,
    },
}

/// What a build declares about itself: the facts the phone's behaviour depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// `YYYY-MM-DD`; decides whether the Long Press reset still exists.
    pub build_date: String,
    /// Built by Yealink for Intermedia.
    pub intermedia: bool,
    /// Declared features, e.g. `autop-reset` (the `**7283` activation code).
    pub features: Vec<String>,
    /// Which file of a recovery package this is (`kernel`, `rootfs`, `firmware`); `None`
    /// for an image that does not say (a plain `.rom` from a firmware URL).
    pub part: Option<String>,
}

/// A checked firmware image, as the phone keeps it in flash (the payload itself is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// The header's version, `A.B.C.D`.
    pub version: String,
    /// The header's OEM name.
    pub oem: String,
    /// The build declaration.
    pub declaration: Declaration,
}

impl Firmware {
    /// Parses and checks a whole image for `model`; a phone only runs what passes this.
    pub fn parse(bytes: &[u8], model: Model) -> Result<Firmware, ImageError> {
        if bytes.len() < HEADER_LEN {
            return Err(ImageError::TooShort { len: bytes.len() });
        }
        if bytes[0..4] != HEADER_MAGIC {
            return Err(ImageError::BadMagic {
                found: hex::encode(&bytes[0..4]),
            });
        }
        let device = ascii_field(&bytes[0x08..0x18]);
        // F2: the S family's one image may name any model it is made for.
        if !model.accepts_image_for(&device) {
            return Err(ImageError::WrongModel {
                found: device,
                expected: model,
            });
        }
        let oem = ascii_field(&bytes[0x18..0x28]);
        let version = ascii_field(&bytes[0x28..0x38]);

        let mut offset = HEADER_LEN;
        let mut declaration = None;
        let mut first = true;
        loop {
            if offset == bytes.len() {
                return Err(ImageError::NoChecksum);
            }
            let header = bytes
                .get(offset..offset + BLOCK_HEADER_LEN)
                .ok_or(ImageError::BrokenChain { offset })?;
            if header[0..4] != BLOCK_MAGIC {
                return Err(ImageError::BrokenChain { offset });
            }
            let kind = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
            let start = offset + BLOCK_HEADER_LEN;
            let data = start
                .checked_add(len)
                .and_then(|end| bytes.get(start..end))
                .ok_or(ImageError::BrokenChain { offset })?;
            if first {
                if kind != KIND_DECLARATION {
                    return Err(ImageError::BadDeclaration {
                        reason: format!("first block is of kind {kind}, not 1"),
                    });
                }
                declaration = Some(parse_declaration(data)?);
                first = false;
            }
            if kind == KIND_CHECKSUM {
                let expected = Sha256::digest(&bytes[..offset]);
                if data != expected.as_slice() {
                    return Err(ImageError::ChecksumMismatch);
                }
                if start + len != bytes.len() {
                    return Err(ImageError::BrokenChain {
                        offset: start + len,
                    });
                }
                break;
            }
            offset = start + len;
        }
        let declaration = declaration.ok_or(ImageError::NoChecksum)?;
        Ok(Firmware {
            version,
            oem,
            declaration,
        })
    }

    /// Whether the build carries a declared feature (`autop-reset`).
    pub fn has_feature(&self, feature: &str) -> bool {
        self.declaration.features.iter().any(|f| f == feature)
    }
}

fn ascii_field(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn parse_declaration(data: &[u8]) -> Result<Declaration, ImageError> {
    let text = std::str::from_utf8(data).map_err(|_| ImageError::BadDeclaration {
        reason: "not UTF-8".to_owned(),
    })?;
    let mut build_date = None;
    let mut intermedia = false;
    let mut features = Vec::new();
    let mut part = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "build_date" => build_date = Some(value.to_owned()),
            "intermedia" => intermedia = value == "true",
            "part" => part = Some(value.to_owned()),
            "features" => {
                features = value
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            _ => {}
        }
    }
    let build_date = build_date.ok_or(ImageError::BadDeclaration {
        reason: "no build_date".to_owned(),
    })?;
    if !is_iso_date(&build_date) {
        return Err(ImageError::BadDeclaration {
            reason: format!("build_date {build_date:?} is not YYYY-MM-DD"),
        });
    }
    Ok(Declaration {
        build_date,
        intermedia,
        features,
        part,
    })
}

fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: u32, data: &[u8]) -> Vec<u8> {
        let mut out = BLOCK_MAGIC.to_vec();
        out.extend(kind.to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(data);
        out
    }

    fn image(device: &str, version: &str) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&HEADER_MAGIC);
        out[0x08..0x08 + device.len()].copy_from_slice(device.as_bytes());
        out[0x18..0x18 + 10].copy_from_slice(b"Intermedia");
        out[0x28..0x28 + version.len()].copy_from_slice(version.as_bytes());
        out.extend(block(
            1,
            b"model = T46G\nversion = 28.83.0.120\nbuild_date = 2021-03-01\nintermedia = true\nfeatures = autop-reset\n",
        ));
        out.extend(block(2, &[7u8; 100]));
        let sum = Sha256::digest(&out);
        out.extend(block(255, &sum));
        out
    }

    #[test]
    fn a_well_formed_image_parses() {
        let fw = Firmware::parse(&image("T46G", "28.83.0.120"), Model::T46G).unwrap();
        assert_eq!(fw.version, "28.83.0.120");
        assert_eq!(fw.oem, "Intermedia");
        assert_eq!(fw.declaration.build_date, "2021-03-01");
        assert!(fw.declaration.intermedia);
        assert!(fw.has_feature("autop-reset"));
        assert_eq!(fw.declaration.part, None);
    }

    #[test]
    fn another_models_image_is_refused() {
        let err = Firmware::parse(&image("T48G", "35.83.0.120"), Model::T46G).unwrap_err();
        assert!(matches!(err, ImageError::WrongModel { .. }));
    }

    #[test]
    fn a_flipped_payload_byte_fails_the_checksum() {
        let mut bytes = image("T46G", "28.83.0.120");
        bytes[HEADER_LEN + 200] ^= 1;
        assert_eq!(
            Firmware::parse(&bytes, Model::T46G),
            Err(ImageError::ChecksumMismatch)
        );
    }

    #[test]
    fn a_truncated_image_breaks_the_chain() {
        let bytes = image("T46G", "28.83.0.120");
        let err = Firmware::parse(&bytes[..bytes.len() - 10], Model::T46G).unwrap_err();
        assert!(matches!(err, ImageError::BrokenChain { .. }));
        let mut bad = image("T46G", "28.83.0.120");
        bad[0] = 0;
        assert!(matches!(
            Firmware::parse(&bad, Model::T46G),
            Err(ImageError::BadMagic { .. })
        ));
    }
}
