//! The servlet login's cryptography, server side: RSA-unwrap the AES key and IV the browser
//! chose, then AES-128-CBC-decrypt the `<random>;<session id>;<password>` text.
//!
//! T4x firmware does not use TLS on its web UI by default, so its login script encrypts the
//! password itself: the page hands out an RSA public key, the browser wraps a fresh AES key
//! and IV with it (jsbn `RSAKey.encrypt`, PKCS#1 v1.5) and sends the password AES-encrypted
//! with zero padding. Every function here refuses malformed input with a [`LoginCryptoError`]
//! instead of panicking: a broken client must see a refusal, never a dead web server.

use aes::Aes128;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use thiserror::Error;

/// The AES block size: the zero padding fills the plaintext up to a multiple of it.
pub const AES_BLOCK_BYTES: usize = 16;

/// RSA key size the firmware's login page publishes; 1024 bits keeps generation quick, and
/// it happens once per phone.
pub const RSA_KEY_BITS: usize = 1024;

/// The public exponent browsers receive as `g_rsa_e` (hex `10001`).
pub const RSA_PUBLIC_EXPONENT: u64 = 65_537;

/// Why a login's encrypted fields could not be opened. Each one is a refusal on the wire;
/// the message is for the twin's log, to tell the operator which side of the exchange is
/// broken.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LoginCryptoError {
    /// A field that must be hex was not.
    #[error(
        "login field `{field}` is not even-length hex: check that the client sends the RSA ciphertext as hex"
    )]
    NotHex {
        /// The form field at fault.
        field: &'static str,
    },
    /// An RSA ciphertext was longer than the modulus: it was made with another key.
    #[error(
        "login field `{field}` holds {len_bytes} bytes, more than the {modulus_bytes}-byte RSA modulus: check that the client encrypts with this phone's g_rsa_n"
    )]
    CiphertextTooLong {
        /// The form field at fault.
        field: &'static str,
        /// Bytes the field decoded to.
        len_bytes: usize,
        /// Bytes of the phone's modulus.
        modulus_bytes: usize,
    },
    /// RSA decryption or its PKCS#1 v1.5 unpadding failed.
    #[error(
        "login field `{field}` does not RSA-decrypt with this phone's key: check that the client read g_rsa_n/g_rsa_e from this boot's login page and uses PKCS#1 v1.5"
    )]
    RsaDecrypt {
        /// The form field at fault.
        field: &'static str,
    },
    /// The RSA plaintext was not the 32 hex characters of a 16-byte AES key or IV.
    #[error(
        "login field `{field}` does not wrap 32 hex characters: check that the client RSA-encrypts the hex text of a 16-byte AES key/IV"
    )]
    BadAesParameter {
        /// The form field at fault.
        field: &'static str,
    },
    /// `pwd` was not standard base64.
    #[error("login field `pwd` is not base64: check the client's encoding of the AES ciphertext")]
    PwdNotBase64,
    /// `pwd` decoded to a length that is not a non-zero multiple of the AES block.
    #[error(
        "login field `pwd` decodes to {len_bytes} bytes, not a non-zero multiple of 16: check the client's AES zero padding"
    )]
    PwdBadLength {
        /// Bytes the field decoded to.
        len_bytes: usize,
    },
    /// The AES plaintext was not UTF-8 text.
    #[error(
        "login field `pwd` does not decrypt to text: check that the AES key and IV sent in rsakey/rsaiv are the ones that encrypted pwd"
    )]
    PwdNotText,
    /// The AES plaintext was not `<random>;<session id>;<password>`.
    #[error(
        "login field `pwd` does not decrypt to `<random>;<session id>;<password>`: check the client's plaintext layout"
    )]
    PwdNotTriple,
}

/// What the browser packed into `pwd`, after decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPlaintext {
    /// The client's random number, which only makes equal passwords encrypt differently.
    pub nonce: String,
    /// The session id the client claims; the server checks it against the cookie.
    pub session_id: String,
    /// The password typed into the login form.
    pub password: String,
}

/// Appends zero bytes up to the next AES block boundary; an aligned (or empty) input gets
/// none, as the firmware's script does it. Clients use it; the twin's tests use it to
/// play one.
pub fn zero_pad(data: &[u8]) -> Vec<u8> {
    let mut padded = data.to_vec();
    let remainder = padded.len() % AES_BLOCK_BYTES;
    if remainder != 0 {
        padded.resize(padded.len() + AES_BLOCK_BYTES - remainder, 0);
    }
    padded
}

/// Removes the zero padding: every trailing NUL goes, since a password never ends in one.
pub fn strip_zero_padding(data: &[u8]) -> &[u8] {
    let end = data
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    &data[..end]
}

/// Unwraps one of `rsakey`/`rsaiv`: hex RSA ciphertext -> the 16 AES bytes its hex text
/// names. A ciphertext shorter than the modulus is accepted, because jsbn only pads hex
/// to an even length while other clients pad to the full modulus.
pub fn unwrap_aes_parameter(
    key: &RsaPrivateKey,
    field: &'static str,
    ciphertext_hex: &str,
) -> Result<[u8; AES_BLOCK_BYTES], LoginCryptoError> {
    let ciphertext =
        hex::decode(ciphertext_hex.trim()).map_err(|_| LoginCryptoError::NotHex { field })?;
    let modulus_bytes = key.size();
    if ciphertext.len() > modulus_bytes {
        return Err(LoginCryptoError::CiphertextTooLong {
            field,
            len_bytes: ciphertext.len(),
            modulus_bytes,
        });
    }
    // Blinding keeps the decryption time independent of the key, as on any server.
    let plaintext = key
        .decrypt_blinded(&mut rand::thread_rng(), Pkcs1v15Encrypt, &ciphertext)
        .map_err(|_| LoginCryptoError::RsaDecrypt { field })?;
    if plaintext.len() != 2 * AES_BLOCK_BYTES {
        return Err(LoginCryptoError::BadAesParameter { field });
    }
    let mut parameter = [0u8; AES_BLOCK_BYTES];
    hex::decode_to_slice(&plaintext, &mut parameter)
        .map_err(|_| LoginCryptoError::BadAesParameter { field })?;
    Ok(parameter)
}

/// Decrypts `pwd`: base64 -> AES-128-CBC without padding -> zero padding stripped -> text.
pub fn decrypt_pwd(
    aes_key: &[u8; AES_BLOCK_BYTES],
    aes_iv: &[u8; AES_BLOCK_BYTES],
    pwd_base64: &str,
) -> Result<String, LoginCryptoError> {
    let mut buffer = BASE64
        .decode(pwd_base64.trim())
        .map_err(|_| LoginCryptoError::PwdNotBase64)?;
    if buffer.is_empty() || buffer.len() % AES_BLOCK_BYTES != 0 {
        return Err(LoginCryptoError::PwdBadLength {
            len_bytes: buffer.len(),
        });
    }
    let len_bytes = buffer.len();
    let plaintext = cbc::Decryptor::<Aes128>::new(aes_key.into(), aes_iv.into())
        .decrypt_padded_mut::<NoPadding>(&mut buffer)
        // The length was checked above; NoPadding cannot refuse an aligned buffer.
        .map_err(|_| LoginCryptoError::PwdBadLength { len_bytes })?;
    let text = std::str::from_utf8(strip_zero_padding(plaintext))
        .map_err(|_| LoginCryptoError::PwdNotText)?;
    Ok(text.to_owned())
}

/// Splits the decrypted text into its three fields. The password keeps any `;` it holds:
/// only the first two separators count.
pub fn parse_plaintext(text: &str) -> Result<LoginPlaintext, LoginCryptoError> {
    let mut fields = text.splitn(3, ';');
    match (fields.next(), fields.next(), fields.next()) {
        (Some(nonce), Some(session_id), Some(password)) => Ok(LoginPlaintext {
            nonce: nonce.to_owned(),
            session_id: session_id.to_owned(),
            password: password.to_owned(),
        }),
        _ => Err(LoginCryptoError::PwdNotTriple),
    }
}

/// Opens a whole login: both RSA-wrapped AES parameters, then `pwd`.
pub fn open_login(
    key: &RsaPrivateKey,
    rsakey_hex: &str,
    rsaiv_hex: &str,
    pwd_base64: &str,
) -> Result<LoginPlaintext, LoginCryptoError> {
    let aes_key = unwrap_aes_parameter(key, "rsakey", rsakey_hex)?;
    let aes_iv = unwrap_aes_parameter(key, "rsaiv", rsaiv_hex)?;
    parse_plaintext(&decrypt_pwd(&aes_key, &aes_iv, pwd_base64)?)
}

/// The modulus as the login page publishes it: lowercase hex, no leading zeros.
pub fn modulus_hex(key: &RsaPrivateKey) -> String {
    key.n().to_str_radix(16)
}

/// The public exponent as the login page publishes it: lowercase hex.
pub fn exponent_hex(key: &RsaPrivateKey) -> String {
    key.e().to_str_radix(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cbc::cipher::BlockEncryptMut;
    use rsa::{BigUint, RsaPublicKey};
    use std::sync::OnceLock;

    /// One key for all unit tests: generation is the slow part, not what is tested.
    fn test_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| {
            RsaPrivateKey::new_with_exp(
                &mut rand::thread_rng(),
                RSA_KEY_BITS,
                &BigUint::from(RSA_PUBLIC_EXPONENT),
            )
            .expect("1024-bit RSA key generation")
        })
    }

    fn aes_encrypt(key: &[u8; 16], iv: &[u8; 16], plaintext: &[u8]) -> String {
        let mut buffer = zero_pad(plaintext);
        let len = buffer.len();
        cbc::Encryptor::<Aes128>::new(key.into(), iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut buffer, len)
            .expect("aligned buffer");
        BASE64.encode(&buffer)
    }

    fn rsa_wrap(key: &RsaPrivateKey, parameter: &[u8; 16]) -> String {
        let public = RsaPublicKey::from(key);
        let ciphertext = public
            .encrypt(
                &mut rand::thread_rng(),
                Pkcs1v15Encrypt,
                hex::encode(parameter).as_bytes(),
            )
            .expect("RSA encryption");
        hex::encode(ciphertext)
    }

    #[test]
    fn zero_pad_fills_to_the_block_and_leaves_aligned_input_alone() {
        assert_eq!(zero_pad(b"abc").len(), 16);
        assert_eq!(&zero_pad(b"abc")[3..], &[0u8; 13]);
        assert_eq!(zero_pad(&[7u8; 16]), vec![7u8; 16]);
        assert_eq!(zero_pad(&[7u8; 17]).len(), 32);
        assert!(zero_pad(b"").is_empty());
    }

    #[test]
    fn strip_zero_padding_removes_only_trailing_nuls() {
        assert_eq!(strip_zero_padding(b"a\0b\0\0\0"), b"a\0b");
        assert_eq!(strip_zero_padding(b"abc"), b"abc");
        assert_eq!(strip_zero_padding(&[0u8; 16]), b"");
    }

    #[test]
    fn decrypt_pwd_round_trips_aligned_and_unaligned_text() {
        let (key, iv) = ([1u8; 16], [2u8; 16]);
        for text in ["1;s;pw", "0123456789;abcdef0123456789;pass"] {
            let pwd = aes_encrypt(&key, &iv, text.as_bytes());
            assert_eq!(decrypt_pwd(&key, &iv, &pwd).as_deref(), Ok(text));
        }
        // 16 bytes exactly: no padding block was added, none must be expected.
        let aligned = "12345;abcd;pwxyz";
        assert_eq!(aligned.len(), 16);
        let pwd = aes_encrypt(&key, &iv, aligned.as_bytes());
        assert_eq!(BASE64.decode(&pwd).map(|b| b.len()), Ok(16));
        assert_eq!(decrypt_pwd(&key, &iv, &pwd).as_deref(), Ok(aligned));
    }

    #[test]
    fn decrypt_pwd_refuses_bad_base64_and_lengths() {
        let (key, iv) = ([1u8; 16], [2u8; 16]);
        assert_eq!(
            decrypt_pwd(&key, &iv, "%%%"),
            Err(LoginCryptoError::PwdNotBase64)
        );
        assert_eq!(
            decrypt_pwd(&key, &iv, ""),
            Err(LoginCryptoError::PwdBadLength { len_bytes: 0 })
        );
        assert_eq!(
            decrypt_pwd(&key, &iv, &BASE64.encode([0u8; 15])),
            Err(LoginCryptoError::PwdBadLength { len_bytes: 15 })
        );
    }

    #[test]
    fn decrypt_pwd_with_the_wrong_key_is_not_the_text() {
        let pwd = aes_encrypt(&[1u8; 16], &[2u8; 16], b"1;session;secret");
        let opened = decrypt_pwd(&[9u8; 16], &[2u8; 16], &pwd);
        assert_ne!(opened.as_deref(), Ok("1;session;secret"));
    }

    #[test]
    fn parse_plaintext_keeps_semicolons_in_the_password() {
        assert_eq!(
            parse_plaintext("42;abc;pa;ss"),
            Ok(LoginPlaintext {
                nonce: "42".into(),
                session_id: "abc".into(),
                password: "pa;ss".into(),
            })
        );
        assert_eq!(
            parse_plaintext("42;abc"),
            Err(LoginCryptoError::PwdNotTriple)
        );
    }

    #[test]
    fn unwrap_aes_parameter_opens_full_and_short_ciphertexts() {
        let key = test_key();
        let parameter = [0xa5u8; 16];
        let wrapped = rsa_wrap(key, &parameter);
        assert_eq!(wrapped.len(), 2 * key.size());
        assert_eq!(unwrap_aes_parameter(key, "rsakey", &wrapped), Ok(parameter));
        // jsbn drops leading zero bytes of the ciphertext; the server must not care.
        let trimmed = wrapped.trim_start_matches("00");
        let trimmed = if trimmed.len() % 2 == 1 {
            format!("0{trimmed}")
        } else {
            trimmed.to_owned()
        };
        assert_eq!(unwrap_aes_parameter(key, "rsakey", &trimmed), Ok(parameter));
    }

    #[test]
    fn unwrap_aes_parameter_refuses_garbage() {
        let key = test_key();
        assert_eq!(
            unwrap_aes_parameter(key, "rsaiv", "xyz"),
            Err(LoginCryptoError::NotHex { field: "rsaiv" })
        );
        assert_eq!(
            unwrap_aes_parameter(key, "rsaiv", &"ab".repeat(key.size() + 1)),
            Err(LoginCryptoError::CiphertextTooLong {
                field: "rsaiv",
                len_bytes: key.size() + 1,
                modulus_bytes: key.size(),
            })
        );
        assert_eq!(
            unwrap_aes_parameter(key, "rsaiv", &"01".repeat(key.size())),
            Err(LoginCryptoError::RsaDecrypt { field: "rsaiv" })
        );
        // A valid RSA ciphertext of something that is not 32 hex characters.
        let public = RsaPublicKey::from(key);
        let not_hex = public
            .encrypt(&mut rand::thread_rng(), Pkcs1v15Encrypt, &[b'z'; 32])
            .expect("RSA encryption");
        assert_eq!(
            unwrap_aes_parameter(key, "rsaiv", &hex::encode(not_hex)),
            Err(LoginCryptoError::BadAesParameter { field: "rsaiv" })
        );
    }

    #[test]
    fn open_login_reads_the_triple() {
        let key = test_key();
        let (aes_key, aes_iv) = ([3u8; 16], [4u8; 16]);
        let pwd = aes_encrypt(&aes_key, &aes_iv, b"0.123;cafe;admin");
        let opened = open_login(key, &rsa_wrap(key, &aes_key), &rsa_wrap(key, &aes_iv), &pwd);
        assert_eq!(
            opened,
            Ok(LoginPlaintext {
                nonce: "0.123".into(),
                session_id: "cafe".into(),
                password: "admin".into(),
            })
        );
    }

    #[test]
    fn page_key_strings_are_lowercase_hex() {
        let key = test_key();
        assert_eq!(exponent_hex(key), "10001");
        let n = modulus_hex(key);
        assert_eq!(n.len(), RSA_KEY_BITS / 4);
        assert!(
            n.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
