//! Reading a file at any offset: its chunk list with the offset where each starts, a binary
//! search for the chunks a read covers, a byte-bounded cache of verified plaintext chunks, and
//! zeros for lost chunks where `--allow-damaged` asks for them.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use quick_cache::sync::Cache;

use super::items::ChunkRef;
use super::prefetch::Prefetcher;
use super::store::{Store, short};
use super::tree::ArchiveTree;
use crate::error::RepoError;

/// An opened file.
pub struct BorgReader {
    chunks: Arc<[ChunkRef]>,
    /// Where each chunk starts in the file; the last value is the file's size.
    starts: Vec<u64>,
    pub size: u64,
    /// The tree and entry, to name the file in an error: worked out only then, since it walks
    /// every directory above the file and scans their entries.
    entry: (Arc<ArchiveTree>, u32),
    /// Where the last read ended, and the last chunk asked for ahead: a read that starts where
    /// the last one ended is sequential, and the chunks after it are opened ahead.
    last_end: AtomicU64,
    asked_upto: AtomicUsize,
}

impl BorgReader {
    pub fn new(chunks: Arc<[ChunkRef]>, entry: (Arc<ArchiveTree>, u32)) -> BorgReader {
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
            entry,
            last_end: AtomicU64::new(u64::MAX),
            asked_upto: AtomicUsize::new(0),
        }
    }

    /// The file's path in its archive, for a log line.
    pub fn name(&self) -> String {
        self.entry.0.path_of(self.entry.1)
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
    /// quick_cache's defaults (a shard per quarter core, 3% of each for new entries) leave a
    /// 32 MiB cache a cold area far below one 2 MiB chunk: chunks read ahead were evicted before
    /// the reader came, and opened twice (measured: twice the CPU time for a 512 MiB file). One
    /// shard, and half of it for new entries, keeps the read-ahead chunks until they are read.
    pub fn new(bytes: u64) -> ChunkCache {
        let capacity = bytes.max(1 << 20);
        let options = quick_cache::OptionsBuilder::new()
            .shards(1)
            .hot_allocation(0.5)
            .estimated_items_capacity(4096)
            .weight_capacity(capacity)
            .build();
        let cache = match options {
            Ok(options) => {
                Cache::with_options(options, ByLength, Default::default(), Default::default())
            }
            // Only a missing capacity fails to build, and both are given above.
            Err(_) => Cache::with_weighter(4096, capacity, ByLength),
        };
        ChunkCache { cache }
    }

    pub fn contains(&self, id: &[u8; 32]) -> bool {
        self.cache.contains_key(id)
    }

    pub fn get(&self, store: &Store, chunk: &ChunkRef) -> Result<Bytes, String> {
        let data = self
            .cache
            .get_or_insert_with(&chunk.id, || store.get(&chunk.id).map(Bytes::from))?;
        // Checked at every use, not only when cached: two items of a damaged or hostile archive
        // may list one chunk with different sizes, and no read may run past what a chunk holds.
        if data.len() != chunk.size as usize {
            return Err(format!(
                "chunk {} holds {} bytes, the item says {}",
                short(&chunk.id),
                data.len(),
                chunk.size
            ));
        }
        Ok(data)
    }
}

/// How far from the end of the last read a read may start and still count as sequential.
const NEAR: u64 = 4 << 20;

/// What a read does with a chunk that cannot be read: fail (EIO), or, with `--allow-damaged`, serve
/// zeros in its place, note where, and log each lost chunk once, naming the file.
pub struct OnLost<'a> {
    pub salvage: Option<&'a Salvager>,
    /// The ranges of the file served as zeros.
    pub zeroed: &'a mut Vec<Range<u64>>,
}

/// The chunks already reported as lost, so that each is logged once however often it is read.
#[derive(Default)]
pub struct Salvager {
    reported: Mutex<HashSet<[u8; 32]>>,
}

impl Salvager {
    fn lost(&self, chunk: &ChunkRef, file: &BorgReader, err: &str) {
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if reported.insert(chunk.id) {
            tracing::warn!(
                file = %file.name(),
                chunk = %short(&chunk.id),
                "chunk lost ({err}): serving {} zero bytes in its place (--allow-damaged)",
                chunk.size
            );
        }
    }
}

/// Up to `size` bytes of `file` at `offset`; fewer only at the end.
pub fn read(
    store: &Store,
    cache: &ChunkCache,
    ahead: &Prefetcher,
    file: &BorgReader,
    (offset, size): (u64, u32),
    mut on_lost: OnLost<'_>,
) -> Result<Bytes, RepoError> {
    if offset >= file.size {
        return Ok(Bytes::new());
    }
    let end = offset.saturating_add(u64::from(size)).min(file.size);
    let first = file.chunk_at(offset);
    // The kernel's read-ahead sends a sequential reader's reads on several threads, slightly out
    // of order: a read near where the last one ended counts as sequential.
    let last = file.last_end.swap(end, Ordering::Relaxed);
    if last != u64::MAX && offset.abs_diff(last) <= NEAR {
        read_ahead(ahead, file, first);
    }
    let damaged = |e: String| RepoError::Damaged(format!("file {}: {e}", file.name()));
    // Most reads lie within one chunk: they are served from the cached chunk without a copy.
    if let (Some(chunk), Some(start), Some(next)) = (
        file.chunks.get(first),
        file.starts.get(first),
        file.starts.get(first + 1),
    ) && end <= *next
    {
        let wanted = offset..end;
        let Some(data) = chunk_or_lost(store, cache, file, chunk, wanted, &mut on_lost)? else {
            return Ok(Bytes::from(vec![0; (end - offset) as usize]));
        };
        let range = (offset - start) as usize..(end - start) as usize;
        return data
            .get(range.clone())
            .map(|_| data.slice(range))
            .ok_or_else(|| damaged("chunk shorter than its size".into()));
    }
    let mut out = BytesMut::with_capacity((end - offset) as usize);
    let mut at = first;
    let mut pos = offset;
    while pos < end {
        let (Some(chunk), Some(start), Some(next)) = (
            file.chunks.get(at),
            file.starts.get(at),
            file.starts.get(at + 1),
        ) else {
            break;
        };
        let from = pos
            .checked_sub(*start)
            .ok_or_else(|| damaged("chunk offsets out of order".into()))?;
        let to = end.min(*next) - start;
        match chunk_or_lost(store, cache, file, chunk, pos..start + to, &mut on_lost)? {
            Some(data) => {
                out.extend_from_slice(data.get(from as usize..to as usize).unwrap_or_default())
            }
            // Only what this read needs: the chunk's size is the archive's word, not memory's.
            None => out.resize(out.len() + to.saturating_sub(from) as usize, 0),
        }
        pos = start + to;
        at += 1;
    }
    Ok(out.freeze())
}

/// The verified bytes of `chunk`; where it cannot be read, an error naming the file, or with
/// `--allow-damaged` `None`, once the loss is logged and `wanted` (the part of the file this read
/// takes from it) noted as served as zeros.
fn chunk_or_lost(
    store: &Store,
    cache: &ChunkCache,
    file: &BorgReader,
    chunk: &ChunkRef,
    wanted: Range<u64>,
    on_lost: &mut OnLost<'_>,
) -> Result<Option<Bytes>, RepoError> {
    match (cache.get(store, chunk), on_lost.salvage) {
        (Ok(data), _) => Ok(Some(data)),
        (Err(err), Some(salvage)) => {
            salvage.lost(chunk, file, &err);
            on_lost.zeroed.push(wanted);
            Ok(None)
        }
        (Err(err), None) => Err(RepoError::Damaged(format!("file {}: {err}", file.name()))),
    }
}

/// Asks for the chunks after chunk `at` that were not asked for yet.
fn read_ahead(ahead: &Prefetcher, file: &BorgReader, at: usize) {
    let from = (at + 1).max(file.asked_upto.load(Ordering::Relaxed) + 1);
    let upto = (at + ahead.depth()).min(file.chunks.len().saturating_sub(1));
    if let Some(chunks) = file.chunks.get(from..=upto).filter(|c| !c.is_empty()) {
        file.asked_upto.store(upto, Ordering::Relaxed);
        ahead.ahead(chunks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_find_their_chunks() {
        let chunk = |size| ChunkRef { id: [0; 32], size };
        let tree = super::super::tree::Builder::new(crate::meta::Timestamp::EPOCH).finish();
        let reader = BorgReader::new(
            Arc::from([chunk(10), chunk(0), chunk(5)]),
            (Arc::new(tree), 0),
        );
        assert_eq!(reader.size, 15);
        assert_eq!(reader.chunk_at(0), 0);
        assert_eq!(reader.chunk_at(9), 0);
        assert_eq!(reader.chunk_at(10), 2);
        assert_eq!(reader.chunk_at(14), 2);
    }
}
