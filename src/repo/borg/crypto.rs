//! Opening one repository object: its type byte, its MAC (before any decryption), AES-256-CTR,
//! decompression, and the id recomputed from the plaintext. Nothing unverified leaves here.

use aes::cipher::{KeyIvInit, StreamCipher};
use blake2::Digest;
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use super::compress;
use super::key::{Cipher, IdHash, Key};

/// The manifest's id: its content cannot name it, so it is the one id not checked.
pub const MANIFEST_ID: [u8; 32] = [0; 32];
/// Type byte, 32-byte MAC, 8-byte IV (the low half of the big-endian CTR counter).
const ENVELOPE: usize = 1 + 32 + 8;

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

/// What of an object is verified besides its MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The id is the hash of the plaintext: every object but the manifest.
    Id,
    /// The manifest, whose id is all zeros by convention: borg checks no id for it (its TAM,
    /// where the key requires one, authenticates it instead).
    Manifest,
}

/// The plaintext of object `id` as stored in `data`, verified. `data` is decrypted in place.
pub fn open_object(
    key: &Key,
    id: &[u8; 32],
    mut data: Vec<u8>,
    check: Check,
) -> Result<Vec<u8>, String> {
    match data.first() {
        Some(t) if *t == key.mode.type_byte => {}
        Some(t) => {
            return Err(format!(
                "object of type {t:#04x} in a {} repository",
                key.mode.name
            ));
        }
        None => return Err("empty object".into()),
    }
    let plain = match key.mode.cipher {
        Cipher::Clear => compress::decompress(data.get(1..).unwrap_or_default())?,
        Cipher::AesHmac | Cipher::AesBlake2 => {
            compress::decompress(decrypt_in_place(key, &mut data)?)?
        }
    };
    if check == Check::Id && !bool::from(id_hash(key, &plain).ct_eq(id)) {
        return Err("id verification failed".into());
    }
    Ok(plain)
}

/// The id borg gives `data` under `key`.
pub fn id_hash(key: &Key, data: &[u8]) -> [u8; 32] {
    match key.mode.id {
        IdHash::Sha256 => sha2::Sha256::digest(data).into(),
        IdHash::HmacSha256 => hmac_sha256(&key.id_key, &[data]),
        IdHash::Blake2b => blake2b(&key.id_key, &[data]),
    }
}

/// Checks the MAC over IV and ciphertext, then decrypts the ciphertext where it lies.
fn decrypt_in_place<'a>(key: &Key, data: &'a mut [u8]) -> Result<&'a [u8], String> {
    let (Some(mac), Some(covered), Some(short_iv)) =
        (data.get(1..33), data.get(33..), data.get(33..ENVELOPE))
    else {
        return Err("object shorter than its envelope".into());
    };
    let expected = match key.mode.cipher {
        Cipher::AesBlake2 => blake2b(&key.enc_hmac_key, &[covered]),
        _ => hmac_sha256(&key.enc_hmac_key, &[covered]),
    };
    if !bool::from(expected.ct_eq(mac)) {
        return Err("MAC verification failed".into());
    }
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(short_iv);
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new_from_slices(&key.enc_key, &iv)
        .map_err(|_| "encryption key has the wrong size".to_string())?;
    let body = data.get_mut(ENVELOPE..).unwrap_or_default();
    cipher.apply_keystream(body);
    Ok(body)
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn blake2b(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Blake2b256::new();
    hasher.update(key);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Verifies a metadata authentication tag (TAM): HMAC-SHA512 of the packed metadata with the tag's
/// HMAC zeroed, keyed by HKDF-SHA512 over the key material with the tag's salt. `context` is
/// `manifest` or `archive`.
pub fn verify_tam(
    key: &Key,
    packed: &[u8],
    tag: &[u8],
    salt: &[u8],
    context: &str,
) -> Result<(), String> {
    if tag.len() != 64 {
        return Err("authentication tag of the wrong size".into());
    }
    let at = packed
        .windows(tag.len())
        .position(|w| w == tag)
        .ok_or("authentication tag not found in its data")?;
    let mut zeroed = packed.to_vec();
    zeroed[at..at + tag.len()].fill(0);
    let tam_key = tam_key(key, salt, context)?;
    let mut mac =
        hmac::Hmac::<sha2::Sha512>::new_from_slice(&tam_key).map_err(|_| "tam key".to_string())?;
    mac.update(&zeroed);
    mac.verify_slice(tag)
        .map_err(|_| format!("{context} authentication (TAM) failed"))
}

fn tam_key(key: &Key, salt: &[u8], context: &str) -> Result<Vec<u8>, String> {
    let info = format!("borg-metadata-authentication-{context}");
    if key.mode.cipher == Cipher::Clear && key.id_key.is_empty() {
        // Mode none: borg keys the tag with salt and context, which authenticates nothing.
        let mut plain = salt.to_vec();
        plain.extend_from_slice(context.as_bytes());
        return Ok(plain);
    }
    let mut ikm = zeroize::Zeroizing::new(key.id_key.to_vec());
    ikm.extend_from_slice(&key.enc_key);
    ikm.extend_from_slice(&key.enc_hmac_key);
    let mut okm = vec![0u8; 64];
    hkdf::Hkdf::<sha2::Sha512>::new(Some(salt), &ikm)
        .expand(info.as_bytes(), &mut okm)
        .map_err(|_| "tam key derivation".to_string())?;
    Ok(okm)
}

#[cfg(test)]
mod tests {
    use super::super::key::{self, Key};
    use super::*;
    use zeroize::Zeroizing;

    fn repokey(type_byte: u8) -> Key {
        let blake = type_byte == 0x05;
        Key {
            mode: key::mode(type_byte).unwrap_or_else(|_| panic!("mode")),
            enc_key: Zeroizing::new(vec![2; 32]),
            enc_hmac_key: Zeroizing::new(vec![3; if blake { 128 } else { 32 }]),
            id_key: Zeroizing::new(vec![4; if blake { 128 } else { 32 }]),
            tam_required: true,
        }
    }

    /// An object as borg encrypts it.
    fn seal(key: &Key, plain: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 0];
        body.extend(plain);
        let iv = 5u64.to_be_bytes();
        let mut full_iv = [0u8; 16];
        full_iv[8..].copy_from_slice(&iv);
        ctr::Ctr128BE::<aes::Aes256>::new_from_slices(&key.enc_key, &full_iv)
            .unwrap_or_else(|_| panic!("cipher"))
            .apply_keystream(&mut body);
        let mut covered = iv.to_vec();
        covered.extend(body);
        let mac = match key.mode.cipher {
            Cipher::AesBlake2 => blake2b(&key.enc_hmac_key, &[&covered]),
            _ => hmac_sha256(&key.enc_hmac_key, &[&covered]),
        };
        let mut out = vec![key.mode.type_byte];
        out.extend(mac);
        out.extend(covered);
        out
    }

    #[test]
    fn objects_open_and_tampering_is_caught() -> Result<(), String> {
        for type_byte in [0x03, 0x05] {
            let key = repokey(type_byte);
            let plain = b"chunk data";
            let id = id_hash(&key, plain);
            let sealed = seal(&key, plain);
            assert_eq!(open_object(&key, &id, sealed.clone(), Check::Id)?, plain);
            let mut flipped = sealed.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(open_object(&key, &id, flipped, Check::Id).is_err());
            assert!(open_object(&key, &[1; 32], sealed.clone(), Check::Id).is_err());
            // Only the manifest is read without its id checked; a reference to the zero id is not.
            assert!(open_object(&key, &MANIFEST_ID, sealed.clone(), Check::Id).is_err());
            assert_eq!(
                open_object(&key, &MANIFEST_ID, sealed.clone(), Check::Manifest)?,
                plain
            );
            assert!(open_object(&key, &id, sealed[..20].to_vec(), Check::Id).is_err());
        }
        Ok(())
    }

    #[test]
    fn plaintext_ids_are_sha256() -> Result<(), String> {
        let key = Key::plaintext(key::mode(0x02)?);
        let stored = [&[0x02u8, 0, 0][..], b"abc"].concat();
        let id = id_hash(&key, b"abc");
        assert_eq!(open_object(&key, &id, stored, Check::Id)?, b"abc");
        Ok(())
    }
}
