//! Verified objects by id: located in the object index, read from their segment with positioned
//! reads, and opened (MAC, decryption, decompression, id) by the repository's key.

use std::sync::{Arc, RwLock};

use super::config::hex;
use super::crypto;
use super::key::Key;
use super::objects::ObjectIndex;
use super::segments::Segments;

/// The repository's objects as one verified store.
pub struct Store {
    pub segments: Segments,
    pub index: RwLock<Arc<ObjectIndex>>,
    pub key: Key,
}

impl Store {
    /// The verified plaintext of object `id`; the error names the object and what failed.
    pub fn get(&self, id: &[u8; 32]) -> Result<Vec<u8>, String> {
        self.open(id, crypto::Check::Id)
    }

    /// The verified plaintext of the manifest, the one object whose id is not its hash.
    pub fn manifest(&self) -> Result<Vec<u8>, String> {
        self.open(&crypto::MANIFEST_ID, crypto::Check::Manifest)
    }

    fn open(&self, id: &[u8; 32], check: crypto::Check) -> Result<Vec<u8>, String> {
        let index = self.index.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (segment, offset) = index
            .get(id)
            .ok_or_else(|| format!("object {} is not in the index", short(id)))?;
        let stored = self
            .segments
            .read_put(id, segment, offset)
            .map_err(|e| format!("object {}: {e}", short(id)))?;
        crypto::open_object(&self.key, id, stored, check)
            .map_err(|e| format!("object {}: {e}", short(id)))
    }

    /// Replaces the object index (after a refresh found new commits).
    pub fn set_index(&self, index: ObjectIndex) {
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
        self.segments.forget_open();
    }
}

/// The first 8 bytes of an id in hex, as borg's messages show ids.
pub fn short(id: &[u8; 32]) -> String {
    hex(&id[..8])
}
