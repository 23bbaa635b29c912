//! Reading a file at any offset: its chunk list with the offset where each starts, a binary
//! search for the chunks a read covers, and a byte-bounded cache of verified plaintext chunks.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use quick_cache::sync::Cache;

use super::items::ChunkRef;
use super::store::{Store, short};
use crate::error::RepoError;

/// An opened file.
pub struct BorgReader {
    chunks: Arc<[ChunkRef]>,
    /// Where each chunk starts in the file; the last value is the file's size.
    starts: Vec<u64>,
    pub size: u64,
    pub name: Arc<str>,
}

impl BorgReader {
    pub fn new(chunks: Arc<[ChunkRef]>, name: Arc<str>) -> BorgReader {
        let mut starts = Vec::with_capacity(chunks.len() + 1);
        let mut at = 0u64;
        starts.push(0);
        for chunk in chunks.iter() {
            at += u64::from(chunk.size);
            starts.push(at);
        }
        BorgReader {
            chunks,
            starts,
            size: at,
            name,
        }
    }

    /// The index of the chunk holding byte `offset` (which is below the size).
    fn chunk_at(&self, offset: u64) -> usize {
        self.starts
            .partition_point(|start| *start <= offset)
            .saturating_sub(1)
    }
}

/// Weighs cached chunks by their bytes.
#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<[u8; 32], Bytes> for ByLength {
    fn weight(&self, _id: &[u8; 32], data: &Bytes) -> u64 {
        data.len() as u64 + 1
    }
}

/// Verified chunks kept in memory, at most `bytes` of them.
pub struct ChunkCache {
    cache: Cache<[u8; 32], Bytes, ByLength>,
}

impl ChunkCache {
    pub fn new(bytes: u64) -> ChunkCache {
        ChunkCache {
            cache: Cache::with_weighter(4096, bytes.max(1 << 20), ByLength),
        }
    }

    fn get(&self, store: &Store, chunk: &ChunkRef) -> Result<Bytes, String> {
        self.cache.get_or_insert_with(&chunk.id, || {
            let plain = store.get(&chunk.id)?;
            if plain.len() != chunk.size as usize {
                return Err(format!(
                    "chunk {} holds {} bytes, the item says {}",
                    short(&chunk.id),
                    plain.len(),
                    chunk.size
                ));
            }
            Ok(Bytes::from(plain))
        })
    }
}

/// Up to `size` bytes of `file` at `offset`; fewer only at the end.
pub fn read(
    store: &Store,
    cache: &ChunkCache,
    file: &BorgReader,
    offset: u64,
    size: u32,
) -> Result<Bytes, RepoError> {
    if offset >= file.size {
        return Ok(Bytes::new());
    }
    let end = offset.saturating_add(u64::from(size)).min(file.size);
    let mut out = BytesMut::with_capacity((end - offset) as usize);
    let mut at = file.chunk_at(offset);
    let mut pos = offset;
    while pos < end {
        let (Some(chunk), Some(start)) = (file.chunks.get(at), file.starts.get(at)) else {
            break;
        };
        let data = cache
            .get(store, chunk)
            .map_err(|e| RepoError::Damaged(format!("file {}: {e}", file.name)))?;
        let from = (pos - start) as usize;
        let to = ((end - start) as usize).min(data.len());
        out.extend_from_slice(data.get(from..to).unwrap_or_default());
        pos = start + to as u64;
        at += 1;
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_find_their_chunks() {
        let chunk = |size| ChunkRef { id: [0; 32], size };
        let reader = BorgReader::new(Arc::from([chunk(10), chunk(0), chunk(5)]), "f".into());
        assert_eq!(reader.size, 15);
        assert_eq!(reader.chunk_at(0), 0);
        assert_eq!(reader.chunk_at(9), 0);
        assert_eq!(reader.chunk_at(10), 2);
        assert_eq!(reader.chunk_at(14), 2);
    }
}
