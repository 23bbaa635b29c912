//! restic's file encryption: AES-256-CTR with Poly1305-AES under the repository's master key.
//! Locks are written with it, and tests use it to build repositories that restic itself would never write.

use std::ops::Range;

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::{Aes128, Aes256};
use aes256ctr_poly1305aes::aead::{Aead, AeadInPlace};
use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Key, Nonce};
use poly1305::Poly1305;
use poly1305::universal_hash::UniversalHash;
use rustic_core::repofile::MasterKey;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Blobs are checked and decrypted this much at a time, so that the bytes the MAC has just read
/// are still in the CPU's cache when they are decrypted. A multiple of 64 bytes, because
/// Poly1305's AVX2 code takes four blocks at once and a pass that left blocks over would fail.
const PASS: usize = 16 << 10;

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

/// The master key as blobs are opened with it. The `aead` crate checks a whole blob's MAC and
/// then decrypts it, reading it from memory twice and the MAC a block at a time; this does both
/// in one pass over cached pieces, with Poly1305's four-block code (half the time per byte here).
pub struct BlobKey {
    encrypt: [u8; 32],
    mac_k: Aes128,
    mac_r: [u8; 16],
}

impl BlobKey {
    pub fn new(key: &MasterKey) -> Option<BlobKey> {
        Some(BlobKey {
            encrypt: key.encrypt.as_slice().try_into().ok()?,
            mac_k: Aes128::new_from_slice(&key.mac.k).ok()?,
            mac_r: key.mac.r.as_slice().try_into().ok()?,
        })
    }

    /// Checks and decrypts IV ‖ ciphertext ‖ MAC in place; returns where the plaintext is, or
    /// `None` if the MAC does not match (the buffer then holds garbage, never to be served).
    pub fn open_in_place(&self, sealed: &mut [u8]) -> Option<Range<usize>> {
        let len = sealed.len();
        let body_len = len.checked_sub(32)?;
        let (iv, rest) = sealed.split_at_mut(16);
        let (body, tag) = rest.split_at_mut(body_len);
        let nonce = GenericArray::from_slice(iv);
        let mut mac = self.mac(nonce);
        // Go's CTR mode, which restic uses, carries into all 128 bits of the counter.
        let mut ctr = ctr::Ctr128BE::<Aes256>::new(&self.encrypt.into(), nonce);
        let (whole, tail) = body.split_at_mut(body_len - body_len % 64);
        for pass in whole.chunks_mut(PASS) {
            mac.update_padded(pass);
            ctr.apply_keystream(pass);
        }
        let expected = mac.compute_unpadded(tail);
        ctr.apply_keystream(tail);
        bool::from(expected.as_slice().ct_eq(tag)).then_some(16..len - 16)
    }

    /// Poly1305-AES: the MAC key is r and AES-128 of the nonce under k.
    fn mac(&self, nonce: &GenericArray<u8, aes::cipher::consts::U16>) -> Poly1305 {
        let mut block = *nonce;
        self.mac_k.encrypt_block(&mut block);
        let mut key = poly1305::Key::default();
        key[..16].copy_from_slice(&self.mac_r);
        key[16..].copy_from_slice(&block);
        let mac = <Poly1305 as poly1305::universal_hash::KeyInit>::new(&key);
        key.zeroize();
        mac
    }
}

impl Drop for BlobKey {
    fn drop(&mut self) {
        self.encrypt.zeroize();
        self.mac_r.zeroize();
    }
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

    #[test]
    fn blob_keys_open_what_the_aead_crate_seals_at_every_length() {
        let cipher = cipher(&key()).unwrap_or_else(|| panic!("cipher"));
        let blob_key = BlobKey::new(&key()).unwrap_or_else(|| panic!("blob key"));
        // Around the 64-byte and pass boundaries, where the two ways of hashing meet.
        for len in [
            0,
            1,
            15,
            16,
            63,
            64,
            65,
            1000,
            PASS - 1,
            PASS,
            PASS + 17,
            3 * PASS + 64,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let sealed = encrypt(&cipher, &plain).unwrap_or_default();
            let mut opened = sealed.clone();
            let range = blob_key.open_in_place(&mut opened);
            assert_eq!(
                range.map(|r| opened[r].to_vec()),
                Some(plain),
                "length {len}"
            );
            for at in [0, 16, sealed.len() / 2, sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[at] ^= 0x40;
                assert_eq!(
                    blob_key.open_in_place(&mut bad),
                    None,
                    "length {len}, flip at {at}"
                );
            }
        }
        assert_eq!(blob_key.open_in_place(&mut [0u8; 31]), None);
    }

    #[test]
    fn the_counter_carries_into_its_upper_half_as_gos_does() {
        let blob_key = BlobKey::new(&key()).unwrap_or_else(|| panic!("blob key"));
        let mut nonce = [0x01u8; 16];
        nonce[8..].fill(0xff);
        // Go's CTR (restic) counts with all 128 bits: the block after ..01 ff..ff is ..02 00..00.
        let aes = Aes256::new_from_slice(&blob_key.encrypt).unwrap_or_else(|_| panic!("aes"));
        let plain = [0x5au8; 48];
        let mut sealed = nonce.to_vec();
        for (i, chunk) in plain.chunks(16).enumerate() {
            let counter = u128::from_be_bytes(nonce).wrapping_add(i as u128);
            let mut block = GenericArray::from(counter.to_be_bytes());
            aes.encrypt_block(&mut block);
            sealed.extend(chunk.iter().zip(block).map(|(p, k)| p ^ k));
        }
        let tag = blob_key
            .mac(GenericArray::from_slice(&nonce))
            .compute_unpadded(&sealed[16..]);
        sealed.extend_from_slice(&tag);
        let range = blob_key.open_in_place(&mut sealed);
        assert_eq!(range.map(|r| sealed[r].to_vec()), Some(plain.to_vec()));
    }
}
