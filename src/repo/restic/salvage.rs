//! `--allow-damaged`: zeros in place of each data blob that cannot be read (as borg's
//! allow_damaged_files does), and one warning per lost blob naming the file.

use std::collections::HashSet;
use std::sync::Mutex;

use rustic_core::DataId;

use super::blobs::BlobRef;
use crate::error::RepoError;

/// The blobs already reported as lost, so that each is logged once however often it is read.
#[derive(Default)]
pub struct Salvager {
    reported: Mutex<HashSet<DataId>>,
}

impl Salvager {
    /// Logs, once per blob, that the lost blob starting at `start` of `file` is served as zeros:
    /// as many as the file can hold there, whatever length the index claims.
    pub fn lost(&self, blob: &BlobRef, start: u64, file: &str, file_size: u64, err: &RepoError) {
        let len = u64::from(blob.data_length()).min(file_size.saturating_sub(start));
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if reported.insert(blob.id) {
            tracing::warn!(
                file,
                blob = %blob.id,
                "blob lost ({err}): serving {len} zero bytes in its place (--allow-damaged)"
            );
        }
    }
}
