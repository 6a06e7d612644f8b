//! The `.rom` container: the public T4x header layout and its data blocks.
//!
//! The harness reads real drops' headers with this, and writes the synthetic fixture images
//! whose build declaration block tells a phone what the build is (see
//! `firmware-fixtures/FORMAT.md`).

use sha2::{Digest, Sha256};

/// Header magic `AD 24 EC 0B`.
pub const ROM_MAGIC: [u8; 4] = [0xAD, 0x24, 0xEC, 0x0B];
/// Every data block starts with `EB 9F 56 C9`.
pub const BLOCK_MAGIC: [u8; 4] = [0xEB, 0x9F, 0x56, 0xC9];
/// The header is 0x80 bytes.
pub const HEADER_LEN: usize = 0x80;
/// Block kind of the build declaration (`key = value` lines).
pub const BLOCK_DECLARATION: u32 = 1;
/// Block kind of filler bytes.
pub const BLOCK_FILLER: u32 = 2;
/// Block kind of the closing SHA-256.
pub const BLOCK_CHECKSUM: u32 = 255;

const BLOCK_HEADER_LEN: usize = 12;

/// The fields of a `.rom` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RomHeader {
    /// The device id field.
    pub device_id: u32,
    /// The device name field.
    pub device_name: String,
    /// The OEM name field.
    pub oem_name: String,
    /// The firmware version, checked against the manifest.
    pub version: String,
    /// The hardware id field.
    pub hardware_id: u32,
    /// The software id field.
    pub software_id: u32,
}

/// What a fixture image declares about its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDeclaration {
    /// `firmware` (`.rom`), `kernel` (`.bin`) or `rootfs` (`.rfs`): the three files of a
    /// recovery package share one container layout.
    pub part: String,
    /// The model the build is for.
    pub model: String,
    /// The firmware version.
    pub version: String,
    /// `YYYY-MM-DD`.
    pub build_date: String,
    /// An Intermedia build (custom firmware made for Intermedia).
    pub intermedia: bool,
    /// What the build carries, such as `autop-reset`.
    pub features: Vec<String>,
}

/// Why a file is not a well-formed image.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[allow(missing_docs)] // Each variant's `#[error]` text says what it means, fields included.
pub enum RomError {
    #[error("file is {0} bytes, shorter than the 128-byte .rom header")]
    TooShort(usize),
    #[error("header magic is {0}, not AD24EC0B: not a T4x .rom image")]
    BadMagic(String),
    #[error("header field `{0}` is not NUL-padded ASCII")]
    BadText(&'static str),
    #[error("data block at offset {0:#x} does not start with EB9F56C9")]
    BadBlockMagic(usize),
    #[error("data block at offset {0:#x} runs past the end of the file")]
    TruncatedBlock(usize),
    #[error("no checksum block: the image is truncated")]
    NoChecksum,
    #[error("checksum mismatch: the image is corrupt")]
    ChecksumMismatch,
    #[error("bytes after the checksum block at offset {0:#x}")]
    TrailingBytes(usize),
}

/// Reads the header of an image (real or synthetic); checks only the magic.
pub fn read_header(bytes: &[u8]) -> Result<RomHeader, RomError> {
    if bytes.len() < HEADER_LEN {
        return Err(RomError::TooShort(bytes.len()));
    }
    if bytes[..4] != ROM_MAGIC {
        return Err(RomError::BadMagic(hex::encode_upper(&bytes[..4])));
    }
    let u32_at = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    Ok(RomHeader {
        device_id: u32_at(0x04),
        device_name: text_field(&bytes[0x08..0x18], "device name")?,
        oem_name: text_field(&bytes[0x18..0x28], "OEM name")?,
        version: text_field(&bytes[0x28..0x38], "version")?,
        hardware_id: u32_at(0x38),
        software_id: u32_at(0x3C),
    })
}

fn text_field(raw: &[u8], name: &'static str) -> Result<String, RomError> {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    if raw[end..].iter().any(|b| *b != 0)
        || !raw[..end]
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ')
    {
        return Err(RomError::BadText(name));
    }
    Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// One data block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block<'a> {
    /// Where the block starts, for messages that point into the file.
    pub offset: usize,
    /// What the block holds (see the `BLOCK_*` kinds).
    pub kind: u32,
    /// The block's payload.
    pub data: &'a [u8],
}

/// Walks the block chain of a synthetic image and verifies its closing checksum.
pub fn verify_blocks(bytes: &[u8]) -> Result<Vec<Block<'_>>, RomError> {
    read_header(bytes)?;
    let mut blocks = Vec::new();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        if bytes.len() - at < BLOCK_HEADER_LEN {
            return Err(RomError::TruncatedBlock(at));
        }
        if bytes[at..at + 4] != BLOCK_MAGIC {
            return Err(RomError::BadBlockMagic(at));
        }
        let kind = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let len = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let start = at + BLOCK_HEADER_LEN;
        let end = start
            .checked_add(len)
            .filter(|e| *e <= bytes.len())
            .ok_or(RomError::TruncatedBlock(at))?;
        let data = &bytes[start..end];
        if kind == BLOCK_CHECKSUM {
            if data != Sha256::digest(&bytes[..at]).as_slice() {
                return Err(RomError::ChecksumMismatch);
            }
            if end != bytes.len() {
                return Err(RomError::TrailingBytes(end));
            }
            blocks.push(Block {
                offset: at,
                kind,
                data,
            });
            return Ok(blocks);
        }
        blocks.push(Block {
            offset: at,
            kind,
            data,
        });
        at = end;
    }
    Err(RomError::NoChecksum)
}

/// Reads the build declaration of a verified synthetic image (`None` when it has none, as
/// a real vendor image).
pub fn read_declaration(bytes: &[u8]) -> Result<Option<BuildDeclaration>, RomError> {
    let blocks = verify_blocks(bytes)?;
    let Some(block) = blocks.iter().find(|b| b.kind == BLOCK_DECLARATION) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(block.data);
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    Ok(Some(BuildDeclaration {
        part: value("part"),
        model: value("model"),
        version: value("version"),
        build_date: value("build_date"),
        intermedia: value("intermedia") == "true",
        features: value("features")
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect(),
    }))
}

/// Writes a synthetic image: header, declaration, filler up to `total_len` bytes (at least
/// as long as the smallest valid image), checksum. The filler is a deterministic function of
/// the version, so regenerating the fixtures gives identical files.
pub fn write_image(
    header: &RomHeader,
    declaration: &BuildDeclaration,
    total_len: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(total_len.max(512));
    out.extend_from_slice(&ROM_MAGIC);
    out.extend_from_slice(&header.device_id.to_be_bytes());
    push_text(&mut out, &header.device_name);
    push_text(&mut out, &header.oem_name);
    push_text(&mut out, &header.version);
    out.extend_from_slice(&header.hardware_id.to_be_bytes());
    out.extend_from_slice(&header.software_id.to_be_bytes());
    out.resize(HEADER_LEN, 0);

    let text = format!(
        "part = {}\nmodel = {}\nversion = {}\nbuild_date = {}\nintermedia = {}\nfeatures = {}\n",
        declaration.part,
        declaration.model,
        declaration.version,
        declaration.build_date,
        declaration.intermedia,
        declaration.features.join(",")
    );
    push_block(&mut out, BLOCK_DECLARATION, text.as_bytes());

    let fixed = out.len() + 2 * BLOCK_HEADER_LEN + 32;
    let filler_len = total_len.saturating_sub(fixed);
    let mut filler = Vec::with_capacity(filler_len);
    let mut seed = Sha256::digest(format!("{}:{}", header.version, declaration.part));
    while filler.len() < filler_len {
        seed = Sha256::digest(seed);
        let take = (filler_len - filler.len()).min(seed.len());
        filler.extend_from_slice(&seed[..take]);
    }
    push_block(&mut out, BLOCK_FILLER, &filler);

    let sum = Sha256::digest(&out);
    push_block(&mut out, BLOCK_CHECKSUM, &sum);
    out
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    let mut field = [0u8; 16];
    let len = text.len().min(16);
    field[..len].copy_from_slice(&text.as_bytes()[..len]);
    out.extend_from_slice(&field);
}

fn push_block(out: &mut Vec<u8>, kind: u32, data: &[u8]) {
    out.extend_from_slice(&BLOCK_MAGIC);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (RomHeader, BuildDeclaration) {
        (
            RomHeader {
                device_id: 28,
                device_name: "T46G".into(),
                oem_name: "Intermedia".into(),
                version: "28.83.0.120".into(),
                hardware_id: 28,
                software_id: 0,
            },
            BuildDeclaration {
                part: "firmware".into(),
                model: "T46G".into(),
                version: "28.83.0.120".into(),
                build_date: "2021-03-10".into(),
                intermedia: true,
                features: vec!["autop-reset".into()],
            },
        )
    }

    #[test]
    fn written_image_reads_back() {
        let (header, decl) = sample();
        let image = write_image(&header, &decl, 4096);
        assert_eq!(image.len(), 4096);
        assert_eq!(&image[..4], &ROM_MAGIC);
        assert_eq!(read_header(&image).unwrap(), header);
        assert_eq!(read_declaration(&image).unwrap(), Some(decl));
        let kinds: Vec<u32> = verify_blocks(&image)
            .unwrap()
            .iter()
            .map(|b| b.kind)
            .collect();
        assert_eq!(kinds, vec![BLOCK_DECLARATION, BLOCK_FILLER, BLOCK_CHECKSUM]);
    }

    #[test]
    fn header_fields_sit_at_their_public_offsets() {
        let (header, decl) = sample();
        let image = write_image(&header, &decl, 1024);
        assert_eq!(&image[0x08..0x0C], b"T46G");
        assert_eq!(&image[0x18..0x22], b"Intermedia");
        assert_eq!(&image[0x28..0x33], b"28.83.0.120");
        assert_eq!(&image[HEADER_LEN..HEADER_LEN + 4], &BLOCK_MAGIC);
    }

    #[test]
    fn a_flipped_byte_is_a_checksum_mismatch() {
        let (header, decl) = sample();
        let mut image = write_image(&header, &decl, 2048);
        image[1000] ^= 0x40;
        assert_eq!(verify_blocks(&image), Err(RomError::ChecksumMismatch));
    }

    #[test]
    fn truncation_and_bad_magic_are_named() {
        let (header, decl) = sample();
        let image = write_image(&header, &decl, 2048);
        assert_eq!(
            verify_blocks(&image[..1500]),
            Err(RomError::TruncatedBlock(0x100))
        );
        assert_eq!(read_header(&image[..100]), Err(RomError::TooShort(100)));
        let mut bad = image.clone();
        bad[0] = 0;
        assert_eq!(
            read_header(&bad),
            Err(RomError::BadMagic("0024EC0B".into()))
        );
    }
}
