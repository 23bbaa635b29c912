//! restic's file encryption: AES-256-CTR with Poly1305-AES under the repository's master key.
//! Locks are written with it, and tests use it to build repositories that restic itself would never write.

use aes256ctr_poly1305aes::aead::{Aead, AeadInPlace};
use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Key, Nonce};
use rustic_core::repofile::MasterKey;

/// The cipher of a repository's master key: AES-256-CTR with Poly1305-AES, as restic uses.
pub fn cipher(key: &MasterKey) -> Option<Aes256CtrPoly1305Aes> {
    if key.encrypt.len() != 32 || key.mac.k.len() != 16 || key.mac.r.len() != 16 {
        return None;
    }
    let mut bytes = Key::default();
    bytes[..32].copy_from_slice(&key.encrypt);
    bytes[32..48].copy_from_slice(&key.mac.k);
    bytes[48..].copy_from_slice(&key.mac.r);
    Some(Aes256CtrPoly1305Aes::new(&bytes))
}

/// IV ‖ ciphertext ‖ MAC of `plain`.
pub fn encrypt(cipher: &Aes256CtrPoly1305Aes, plain: &[u8]) -> Option<Vec<u8>> {
    let mut nonce = Nonce::default();
    getrandom::fill(&mut nonce).ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(plain);
    let tag = cipher
        .encrypt_in_place_detached(&nonce, &[], &mut out[16..])
        .ok()?;
    out.extend_from_slice(&tag);
    Some(out)
}

/// The plaintext of a repository file (zstd-compressed ones of repository version 2 too).
pub fn decrypt_file(cipher: &Aes256CtrPoly1305Aes, data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 32 {
        return None;
    }
    let plain = cipher
        .decrypt(Nonce::from_slice(&data[..16]), &data[16..])
        .ok()?;
    match plain.first() {
        Some(2) => zstd::decode_all(&plain[1..]).ok(),
        _ => Some(plain),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn key() -> MasterKey {
        serde_json::from_value(serde_json::json!({
            "mac": {"k": "AAAAAAAAAAAAAAAAAAAAAA==", "r": "AQEBAQEBAQEBAQEBAQEBAQ=="},
            "encrypt": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
        }))
        .unwrap_or_else(|err| panic!("test key: {err}"))
    }
    #[test]
    fn encrypted_files_round_trip() {
        let cipher = cipher(&key()).unwrap_or_else(|| panic!("cipher"));
        let data = encrypt(&cipher, b"{\"a\":1}").unwrap_or_default();
        assert_eq!(data.len(), 16 + 7 + 16);
        assert_eq!(
            decrypt_file(&cipher, &data).as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        let mut bad = data.clone();
        bad[20] ^= 1;
        assert_eq!(decrypt_file(&cipher, &bad), None);
    }
}
