//! Key blobs encrypted under Argon2 rather than PBKDF2: `argon2 chacha20-poly1305` (borg 2's
//! `borg key change-algorithm argon2`) and `argon2 aes256-ctr hmac-sha256` (borg 1.3.0a1, the
//! alpha that first had it). The cost parameters come from the key file, so they are bounded
//! before anything is allocated or computed.

use aes::cipher::{KeyIvInit, StreamCipher};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use hmac::Mac;
use rmpv::Value;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::key::KeyError;
use super::msgpack;

/// Borg's own setting is 64 MiB (`memory_cost` is in KiB); a key file asking for more than
/// 1 GiB is hostile or damaged, not borg's, and would have us allocate it all.
const MAX_MEMORY_KIB: u32 = 1 << 20;
/// Borg uses 3 passes.
const MAX_TIME_COST: u32 = 100;
/// The work of memory times passes, in KiB: borg's 64 MiB x 3 is 192 MiB; 4 GiB (a few seconds
/// here) allows 16 times that, and keeps a hostile key (1 GiB x 100 passes) from holding a
/// mount for minutes.
const MAX_WORK_KIB: u64 = 4 << 20;
/// Borg uses 4 lanes.
const MAX_PARALLELISM: u32 = 64;

/// The two layouts, by the blob's `algorithm` field; `None` for anything else.
pub fn layout(algorithm: &[u8]) -> Option<Layout> {
    match algorithm {
        b"argon2 chacha20-poly1305" => Some(Layout::ChaCha20Poly1305),
        b"argon2 aes256-ctr hmac-sha256" => Some(Layout::AesCtrHmac),
        _ => None,
    }
}

/// How the Argon2 output encrypts the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// 32-byte key, zero nonce, no associated data; `data` is the 16-byte tag, then the
    /// ciphertext.
    ChaCha20Poly1305,
    /// 64 bytes: AES-256 key, then HMAC-SHA256 key; `data` is the MAC (over IV and ciphertext),
    /// the low 8 bytes of the CTR IV, then the ciphertext.
    AesCtrHmac,
}

/// Opens the key blob `outer` (already read as msgpack) with `passphrase`.
pub fn open(
    layout: Layout,
    outer: &Value,
    passphrase: &str,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let invalid = |why: &str| KeyError::Invalid(format!("key: {why}"));
    let salt = msgpack::get_bytes(outer, "salt").ok_or_else(|| invalid("no salt"))?;
    let data = msgpack::get_bytes(outer, "data").ok_or_else(|| invalid("no data"))?;
    let out_len = match layout {
        Layout::ChaCha20Poly1305 => 32,
        Layout::AesCtrHmac => 64,
    };
    let kek = derive(outer, passphrase, salt, out_len)?;
    match layout {
        Layout::ChaCha20Poly1305 => open_chacha(&kek, data),
        Layout::AesCtrHmac => open_aes_hmac(&kek, data),
    }
}

/// The Argon2 parameters of the blob, bounded, and the key they derive.
fn derive(
    outer: &Value,
    passphrase: &str,
    salt: &[u8],
    out_len: usize,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let invalid = |why: String| KeyError::Invalid(format!("key: {why}"));
    let param = |name: &str, max: u32| {
        let value = msgpack::get_u64(outer, name).ok_or_else(|| invalid(format!("no {name}")))?;
        u32::try_from(value)
            .ok()
            .filter(|v| (1..=max).contains(v))
            .ok_or_else(|| invalid(format!("{name} {value} is out of bounds (1 to {max})")))
    };
    let memory = param("argon2_memory_cost", MAX_MEMORY_KIB)?;
    let time = param("argon2_time_cost", MAX_TIME_COST)?;
    let lanes = param("argon2_parallelism", MAX_PARALLELISM)?;
    if u64::from(memory) * u64::from(time) > MAX_WORK_KIB {
        return Err(invalid(format!(
            "argon2 memory {memory} KiB x {time} passes is out of bounds ({MAX_WORK_KIB} KiB)"
        )));
    }
    let algorithm = match msgpack::get_bytes(outer, "argon2_type") {
        Some(b"id") => argon2::Algorithm::Argon2id,
        Some(b"i") => argon2::Algorithm::Argon2i,
        Some(b"d") => argon2::Algorithm::Argon2d,
        _ => return Err(invalid("unknown argon2_type".into())),
    };
    let params = argon2::Params::new(memory, time, lanes, Some(out_len))
        .map_err(|e| invalid(format!("argon2 parameters: {e}")))?;
    let mut kek = Zeroizing::new(vec![0u8; out_len]);
    argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut kek)
        .map_err(|e| invalid(format!("argon2: {e}")))?;
    Ok(kek)
}

/// Borg 2's layout: the tag tells a wrong passphrase.
fn open_chacha(kek: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (tag, body) = data
        .split_at_checked(16)
        .ok_or_else(|| KeyError::Invalid("key: data shorter than its tag".into()))?;
    let cipher = ChaCha20Poly1305::new_from_slice(kek)
        .map_err(|_| KeyError::Invalid("key: chacha20 key size".into()))?;
    let tag = Tag::try_from(tag).map_err(|_| KeyError::Invalid("key: tag size".into()))?;
    let mut plain = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_inout_detached(&Nonce::default(), &[], plain.as_mut_slice().into(), &tag)
        .map_err(|_| KeyError::WrongPassphrase)?;
    Ok(plain)
}

/// Borg 1.3.0a1's layout: encrypt-then-MAC, the MAC checked first.
fn open_aes_hmac(kek: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (Some(enc_key), Some(mac_key)) = (kek.get(..32), kek.get(32..)) else {
        return Err(KeyError::Invalid("key: derived key too short".into()));
    };
    let (Some(mac), Some(covered), Some(short_iv), Some(body)) = (
        data.get(..32),
        data.get(32..),
        data.get(32..40),
        data.get(40..),
    ) else {
        return Err(KeyError::Invalid(
            "key: data shorter than its envelope".into(),
        ));
    };
    let mut check = hmac::Hmac::<sha2::Sha256>::new_from_slice(mac_key)
        .map_err(|_| KeyError::Invalid("key: hmac".into()))?;
    check.update(covered);
    let expected: [u8; 32] = check.finalize().into_bytes().into();
    if !bool::from(expected.ct_eq(mac)) {
        return Err(KeyError::WrongPassphrase);
    }
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(short_iv);
    let mut plain = Zeroizing::new(body.to_vec());
    ctr::Ctr128BE::<aes::Aes256>::new_from_slices(enc_key, &iv)
        .map_err(|_| KeyError::Invalid("key: aes key size".into()))?
        .apply_keystream(&mut plain);
    Ok(plain)
}

#[cfg(test)]
#[path = "kdf_argon2_tests.rs"]
mod tests;
