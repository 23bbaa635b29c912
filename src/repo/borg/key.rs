//! Borg's keys: which mode a repository uses (the first byte of every object), and the key
//! material, decrypted from its encrypted key blob (repokey in `config`, or a key file) with the
//! passphrase: PBKDF2-SHA256, AES-256-CTR and an HMAC-SHA256 that tells a wrong passphrase (or
//! Argon2, in `kdf_argon2`).

use aes::cipher::{KeyIvInit, StreamCipher};
use base64::Engine;
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use super::{kdf_argon2, msgpack};

/// More PBKDF2 rounds than this is a hostile key blob, not a borg one (borg uses 100,000).
const MAX_ITERATIONS: u32 = 10_000_000;
/// Key blobs are about 400 bytes; this bounds the base64 read.
const MAX_BLOB_BYTES: usize = 64 << 10;

/// How object ids are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdHash {
    Sha256,
    HmacSha256,
    /// BLAKE2b-256 of the id key followed by the data (borg's construction).
    Blake2b,
}

/// How object payloads are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// Stored in clear after the type byte (none, authenticated modes).
    Clear,
    /// AES-256-CTR, MAC by HMAC-SHA256.
    AesHmac,
    /// AES-256-CTR, MAC by BLAKE2b-256 of the MAC key followed by the data.
    AesBlake2,
}

/// Where a mode keeps its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    NoKey,
    Repo,
    KeyFile,
}

/// A borg key mode, known by its type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub type_byte: u8,
    pub name: &'static str,
    pub storage: Storage,
    pub id: IdHash,
    pub cipher: Cipher,
}

/// The mode whose objects start with `type_byte`.
pub fn mode(type_byte: u8) -> Result<Mode, String> {
    use {Cipher::*, IdHash::*, Storage::*};
    let (name, storage, id, cipher) = match type_byte {
        0x00 => ("keyfile", KeyFile, HmacSha256, AesHmac),
        0x02 => ("none", NoKey, Sha256, Clear),
        0x03 => ("repokey", Repo, HmacSha256, AesHmac),
        0x04 => ("keyfile-blake2", KeyFile, Blake2b, AesBlake2),
        0x05 => ("repokey-blake2", Repo, Blake2b, AesBlake2),
        0x06 => ("authenticated-blake2", Repo, Blake2b, Clear),
        0x07 => ("authenticated", Repo, HmacSha256, Clear),
        0x01 => return Err("the 'passphrase' mode of borg < 1.0 is not supported".into()),
        other => return Err(format!("unknown encryption type {other:#04x}")),
    };
    Ok(Mode {
        type_byte,
        name,
        storage,
        id,
        cipher,
    })
}

/// A mode with its key material.
pub struct Key {
    pub mode: Mode,
    pub enc_key: Zeroizing<Vec<u8>>,
    /// 32 bytes (HMAC), or 128 for the BLAKE2b modes.
    pub enc_hmac_key: Zeroizing<Vec<u8>>,
    pub id_key: Zeroizing<Vec<u8>>,
    /// Whether the manifest must carry an authentication tag (TAM).
    pub tam_required: bool,
}

impl Key {
    /// The key of mode `none`: ids are plain SHA-256, nothing is secret.
    pub fn plaintext(mode: Mode) -> Key {
        Key {
            mode,
            enc_key: Zeroizing::new(Vec::new()),
            enc_hmac_key: Zeroizing::new(Vec::new()),
            id_key: Zeroizing::new(Vec::new()),
            tam_required: false,
        }
    }
}

/// Why a key blob did not open.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    WrongPassphrase,
    Invalid(String),
}

/// Opens the base64 key blob with `passphrase`.
pub fn decrypt_blob(mode: Mode, base64: &str, passphrase: &str) -> Result<Key, KeyError> {
    let invalid = |why: &str| KeyError::Invalid(format!("key: {why}"));
    let text: String = base64.chars().filter(|c| !c.is_whitespace()).collect();
    if text.len() > MAX_BLOB_BYTES {
        return Err(invalid("too large"));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| invalid(&e.to_string()))?;
    let outer = msgpack::decode_whole(&blob, "key").map_err(|e| invalid(&e))?;
    if msgpack::get_i64(&outer, "version") != Some(1) {
        return Err(invalid("unknown version"));
    }
    let algorithm = msgpack::get_bytes(&outer, "algorithm").unwrap_or_default();
    if let Some(layout) = kdf_argon2::layout(algorithm) {
        let plain = kdf_argon2::open(layout, &outer, passphrase)?;
        return key_from(mode, &plain);
    }
    if algorithm != b"sha256" {
        return Err(invalid(&format!(
            "key encryption '{}' is not supported (only borg's PBKDF2-SHA256 and Argon2)",
            String::from_utf8_lossy(algorithm)
        )));
    }
    let field =
        |name: &str| msgpack::get_bytes(&outer, name).ok_or_else(|| invalid(&format!("no {name}")));
    let (salt, hash, data) = (field("salt")?, field("hash")?, field("data")?);
    let iterations = msgpack::get_u64(&outer, "iterations")
        .and_then(|i| u32::try_from(i).ok())
        .filter(|i| (1..=MAX_ITERATIONS).contains(i))
        .ok_or_else(|| invalid("bad iteration count"))?;
    let plain = open_blob(passphrase, salt, iterations, hash, data)?;
    key_from(mode, &plain)
}

/// PBKDF2 → AES-256-CTR (zero IV) → HMAC-SHA256 over the plaintext, which must match `hash`.
fn open_blob(
    passphrase: &str,
    salt: &[u8],
    rounds: u32,
    hash: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mut kek = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), salt, rounds, &mut *kek);
    let mut plain = Zeroizing::new(data.to_vec());
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new((&*kek).into(), &[0u8; 16].into());
    cipher.apply_keystream(&mut plain);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&*kek)
        .map_err(|_| KeyError::Invalid("key: hmac".into()))?;
    mac.update(&plain);
    mac.verify_slice(hash)
        .map_err(|_| KeyError::WrongPassphrase)?;
    Ok(plain)
}

/// The key material from the decrypted blob.
fn key_from(mode: Mode, plain: &[u8]) -> Result<Key, KeyError> {
    let invalid = |why: &str| KeyError::Invalid(format!("key: {why}"));
    let inner = msgpack::decode_whole(plain, "key").map_err(|e| invalid(&e))?;
    let part = |name: &str| {
        msgpack::get_bytes(&inner, name)
            .filter(|b| b.len() >= 32)
            .map(|b| Zeroizing::new(b.to_vec()))
            .ok_or_else(|| invalid(&format!("no {name}")))
    };
    let enc_key = part("enc_key")?;
    if enc_key.len() != 32 {
        return Err(invalid("enc_key is not 32 bytes"));
    }
    Ok(Key {
        mode,
        enc_key,
        enc_hmac_key: part("enc_hmac_key")?,
        id_key: part("id_key")?,
        // Borg 1.2 keys record it; older ones leave it to a local security file: require it then
        // only when the manifest has a tag, which `tam` decides.
        tam_required: msgpack::get_bool(&inner, "tam_required").unwrap_or(false),
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A key blob as borg writes it, with `iterations` rounds (few, for speed).
    pub fn make_blob(passphrase: &str, inner: &[u8]) -> String {
        use rmpv::Value;
        let salt = [9u8; 32];
        let mut kek = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), &salt, 10, &mut kek);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&kek).expect("hmac");
        mac.update(inner);
        let hash = mac.finalize().into_bytes().to_vec();
        let mut data = inner.to_vec();
        ctr::Ctr128BE::<aes::Aes256>::new((&kek).into(), &[0u8; 16].into())
            .apply_keystream(&mut data);
        let map = Value::Map(vec![
            (Value::from("version"), Value::from(1)),
            (Value::from("salt"), Value::Binary(salt.to_vec())),
            (Value::from("iterations"), Value::from(10)),
            (Value::from("algorithm"), Value::from("sha256")),
            (Value::from("hash"), Value::Binary(hash)),
            (Value::from("data"), Value::Binary(data)),
        ]);
        let mut packed = Vec::new();
        rmpv::encode::write_value(&mut packed, &map).expect("pack");
        base64::engine::general_purpose::STANDARD.encode(packed)
    }

    pub fn inner_key() -> Vec<u8> {
        use rmpv::Value;
        let map = Value::Map(vec![
            (Value::from("version"), Value::from(1)),
            (Value::from("repository_id"), Value::Binary(vec![1; 32])),
            (Value::from("enc_key"), Value::Binary(vec![2; 32])),
            (Value::from("enc_hmac_key"), Value::Binary(vec![3; 32])),
            (Value::from("id_key"), Value::Binary(vec![4; 32])),
            (Value::from("chunk_seed"), Value::from(0)),
            (Value::from("tam_required"), Value::Boolean(true)),
        ]);
        let mut packed = Vec::new();
        rmpv::encode::write_value(&mut packed, &map).expect("pack");
        packed
    }

    #[test]
    fn key_blob_opens_with_its_passphrase_only() -> Result<(), String> {
        let repokey = mode(0x03)?;
        let blob = make_blob("secret", &inner_key());
        let key = decrypt_blob(repokey, &blob, "secret").map_err(|e| format!("{e:?}"))?;
        assert_eq!(*key.enc_key, vec![2; 32]);
        assert_eq!(*key.id_key, vec![4; 32]);
        assert!(key.tam_required);
        assert!(matches!(
            decrypt_blob(repokey, &blob, "wrong"),
            Err(KeyError::WrongPassphrase)
        ));
        assert!(matches!(
            decrypt_blob(repokey, "!!", "secret"),
            Err(KeyError::Invalid(_))
        ));
        Ok(())
    }

    #[test]
    fn modes_by_type_byte() {
        assert_eq!(mode(0x05).map(|m| m.name), Ok("repokey-blake2"));
        assert_eq!(mode(0x00).map(|m| m.storage), Ok(Storage::KeyFile));
        assert!(mode(0x01).is_err() && mode(0x42).is_err());
    }
}
