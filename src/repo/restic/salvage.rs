//! `--allow-damaged`: a file whose blobs cannot all be read is read blob by blob, with zeros in place
//! of each lost blob (as borg's allow_damaged_files does), and each lost blob is logged once.

use std::collections::HashSet;
use std::sync::Mutex;

use rustic_core::repofile::BlobType;
use rustic_core::{BlobId, DataId};

use super::Indexed;
use crate::error::RepoError;

/// The blobs already reported as lost, so that each is logged once however often it is read.
#[derive(Default)]
pub struct Salvager {
    reported: Mutex<HashSet<DataId>>,
}

impl Salvager {
    /// Bytes `offset..offset + length` of the file made of `blobs`, zeros where a blob is lost.
    /// Fails only when a blob is missing from the index: then its length, and so where everything
    /// after it lies, is unknown.
    pub fn read(
        &self,
        repo: &Indexed,
        blobs: &[DataId],
        file: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, RepoError> {
        let end = offset.saturating_add(length);
        let mut out = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        let mut start = 0u64;
        for id in blobs {
            if start >= end {
                break;
            }
            let entry = repo.get_index_entry(id).map_err(|_| {
                RepoError::Damaged(format!("file {file}: blob {id} is not in the index"))
            })?;
            let blob_len = u64::from(entry.data_length());
            let blob_end = start.saturating_add(blob_len);
            if blob_end > offset {
                let from = (offset.max(start) - start) as usize;
                let to = (end.min(blob_end) - start) as usize;
                match repo.get_blob_cached(&BlobId::from(*id), BlobType::Data) {
                    Ok(bytes) if bytes.len() as u64 == blob_len => {
                        out.extend_from_slice(&bytes[from..to]);
                    }
                    _ => {
                        self.report(id, file, blob_len);
                        out.resize(out.len() + (to - from), 0);
                    }
                }
            }
            start = blob_end;
        }
        Ok(out)
    }

    fn report(&self, id: &DataId, file: &str, len: u64) {
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if reported.insert(*id) {
            tracing::warn!(
                file,
                blob = %id,
                "blob lost: serving {len} zero bytes in its place (--allow-damaged)"
            );
        }
    }
}
