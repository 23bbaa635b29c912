//! `--allow-damaged`: zeros in place of each data blob that cannot be read (as borg's
//! allow_damaged_files does), and one warning per lost blob naming the file.

use std::collections::HashSet;
use std::sync::Mutex;

use bytes::Bytes;
use rustic_core::DataId;

use super::blobs::BlobRef;
use crate::error::RepoError;

/// The blobs already reported as lost, so that each is logged once however often it is read.
#[derive(Default)]
pub struct Salvager {
    reported: Mutex<HashSet<DataId>>,
}

impl Salvager {
    /// The zeros that stand for a lost blob of `file`.
    pub fn zeros(&self, blob: &BlobRef, file: &str, err: &RepoError) -> Bytes {
        let len = blob.data_length();
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if reported.insert(blob.id) {
            tracing::warn!(
                file,
                blob = %blob.id,
                "blob lost ({err}): serving {len} zero bytes in its place (--allow-damaged)"
            );
        }
        Bytes::from(vec![0; len as usize])
    }
}
