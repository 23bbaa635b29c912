//! A file's bytes from its data blobs: where each blob lies (from the index), a cache of decrypted
//! blobs bounded in bytes, one read and an in-place decryption per blob, and small neighbours merged.
//! This replaces rustic's `read_file_at`, which opens the pack, copies and allocates for every blob.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;
use quick_cache::sync::Cache;
use rustic_core::DataId;
use rustic_core::repofile::PackId;

use super::Indexed;
use super::crypto::BlobKey;
use super::packfile::Packs;
use crate::error::RepoError;

/// Blobs up to this size are read together with what follows them in their pack: the small files of
/// one directory lie side by side, so one read serves the next ones too.
const SMALL_BLOB: u32 = 64 << 10;
const SPAN: u32 = 1 << 20;
/// Raw pack spans kept for the small blobs that follow.
const SPANS_KEPT: usize = 4;
/// restic's chunker makes blobs of at most 8 MiB; anything far larger is a damaged index.
const MAX_BLOB: u32 = 64 << 20;
/// A tree is one blob however many entries its directory has (a million entries make some 300 MB
/// of JSON), so trees get a bound of their own.
const MAX_TREE: u32 = 1 << 30;
/// IV before and MAC after every encrypted blob.
const OVERHEAD: u32 = 32;

/// Where one data blob lies and what it holds.
#[derive(Debug, Clone, Copy)]
pub struct BlobRef {
    pub id: DataId,
    pack: PackId,
    offset: u32,
    length: u32,
    data_length: u32,
    compressed: bool,
}

impl BlobRef {
    /// The blob at `offset..offset + length` of `pack`, holding `uncompressed` bytes if compressed.
    pub fn new(
        id: DataId,
        pack: PackId,
        offset: u32,
        length: u32,
        uncompressed: Option<NonZeroU32>,
    ) -> BlobRef {
        BlobRef {
            id,
            pack,
            offset,
            length,
            // Not rustic's `data_length`, which underflows on a damaged length below the overhead.
            data_length: uncompressed.map_or(length.saturating_sub(OVERHEAD), NonZeroU32::get),
            compressed: uncompressed.is_some(),
        }
    }

    pub fn data_length(&self) -> u32 {
        self.data_length
    }
}

/// The blobs of one file and where each starts in the file.
#[derive(Debug)]
pub struct FileBlobs {
    refs: Vec<BlobRef>,
    /// `starts[i]` is where blob `i` starts; the last entry is the content's length.
    starts: Vec<u64>,
}

impl FileBlobs {
    /// Finds every blob of a file in the index; fails on the first one the index does not have.
    pub fn locate(repo: &Indexed, ids: &[DataId]) -> Result<FileBlobs, DataId> {
        let mut refs = Vec::with_capacity(ids.len());
        let mut starts = Vec::with_capacity(ids.len() + 1);
        let mut at = 0u64;
        for id in ids {
            let entry = repo.get_index_entry(id).map_err(|_| *id)?;
            let location = entry.location;
            let blob = BlobRef::new(
                *id,
                entry.pack,
                location.offset,
                location.length,
                location.uncompressed_length,
            );
            let data_length = blob.data_length;
            refs.push(blob);
            starts.push(at);
            at = at.saturating_add(u64::from(data_length));
        }
        starts.push(at);
        Ok(FileBlobs { refs, starts })
    }

    /// The blobs that hold bytes `offset..offset + len`, with where each starts.
    pub fn covering(&self, offset: u64, len: u64) -> impl Iterator<Item = (u64, &BlobRef)> {
        let end = offset.saturating_add(len);
        let first = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        self.refs
            .iter()
            .zip(&self.starts)
            .skip(first)
            .take_while(move |(_, start)| **start < end)
            .map(|(blob, start)| (*start, blob))
    }

    /// Bytes `offset..offset + len` (fewer at the end of the content): a slice of the cached blob
    /// when one blob holds them all, else a copy of the pieces. A blob that cannot be read goes to
    /// `lost` (with where it starts), which either fails the read or has zeros served in its place;
    /// the ranges served as zeros are added to `zeroed`.
    pub fn read(
        &self,
        store: &BlobStore,
        offset: u64,
        len: u64,
        lost: &dyn Fn(&BlobRef, u64, RepoError) -> Result<(), RepoError>,
        zeroed: &mut Vec<Range<u64>>,
    ) -> Result<Bytes, RepoError> {
        let end = offset.saturating_add(len);
        let mut pieces = Vec::new();
        for (start, blob) in self.covering(offset, len) {
            let from = offset.max(start);
            match store.blob(blob) {
                Ok(data) => {
                    let from = usize::try_from(from - start).unwrap_or(usize::MAX);
                    let to = usize::try_from(end - start).unwrap_or(usize::MAX);
                    let to = to.min(data.len());
                    if from < to {
                        pieces.push(data.slice(from..to));
                    }
                }
                Err(err) => {
                    lost(blob, start, err)?;
                    // Only the part of the read the blob covers, never the length the index claims.
                    let to = end.min(start.saturating_add(u64::from(blob.data_length)));
                    if from < to {
                        zeroed.push(from..to);
                        zeros(to - from, &mut pieces);
                    }
                }
            }
        }
        if pieces.len() <= 1 {
            return Ok(pieces.pop().unwrap_or_default());
        }
        Ok(Bytes::from(pieces.concat()))
    }
}

/// Zeros served in place of lost data come from here, a slice at a time: no allocation at all.
static ZERO_BLOCK: [u8; 1 << 20] = [0; 1 << 20];

/// `count` zero bytes as slices of `ZERO_BLOCK`.
fn zeros(mut count: u64, pieces: &mut Vec<Bytes>) {
    while count > 0 {
        let n = usize::try_from(count).map_or(ZERO_BLOCK.len(), |c| c.min(ZERO_BLOCK.len()));
        pieces.push(Bytes::from_static(&ZERO_BLOCK[..n]));
        count -= n as u64;
    }
}

/// A raw (still encrypted) range of a pack.
struct Span {
    pack: PackId,
    start: u32,
    bytes: Bytes,
}

impl Span {
    fn holds(&self, blob: &BlobRef) -> Option<Bytes> {
        let from = blob.offset.checked_sub(self.start)? as usize;
        let to = from.checked_add(blob.length as usize)?;
        (self.pack == blob.pack && to <= self.bytes.len()).then(|| self.bytes.slice(from..to))
    }
}

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<DataId, Bytes> for ByLength {
    fn weight(&self, _id: &DataId, data: &Bytes) -> u64 {
        data.len() as u64 + 1
    }
}

/// Reads, decrypts and caches data blobs.
pub struct BlobStore {
    packs: Packs,
    key: BlobKey,
    cache: Cache<DataId, Bytes, ByLength>,
    spans: Mutex<VecDeque<Span>>,
}

thread_local! {
    /// A zstd context per thread: making one for every blob cost a tenth of a small-file walk.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

impl BlobStore {
    /// A store that keeps up to `cache_bytes` of decrypted blobs (`--cache-size`).
    pub fn new(packs: Packs, key: BlobKey, cache_bytes: u64) -> BlobStore {
        // One shard: with several, a shard could hold only a few large blobs and refuse 8 MiB ones.
        let options = quick_cache::OptionsBuilder::new()
            .shards(1)
            .estimated_items_capacity(1024)
            .weight_capacity(cache_bytes)
            .build();
        let cache = match options {
            Ok(options) => {
                Cache::with_options(options, ByLength, Default::default(), Default::default())
            }
            Err(_) => Cache::with_weighter(1024, cache_bytes, ByLength),
        };
        BlobStore {
            packs,
            key,
            cache,
            spans: Mutex::new(VecDeque::new()),
        }
    }

    /// Closes the pack files kept open (the index changed: packs may have been pruned).
    pub fn close_packs(&self) {
        self.packs.close();
    }

    /// The plaintext of a blob, from the cache or the repository. Concurrent readers of one blob
    /// wait for a single load.
    pub fn blob(&self, blob: &BlobRef) -> Result<Bytes, RepoError> {
        self.cache.get_or_insert_with(&blob.id, || self.load(blob))
    }

    fn load(&self, blob: &BlobRef) -> Result<Bytes, RepoError> {
        self.unseal(blob, MAX_BLOB, |blob| self.raw(blob))
    }

    /// The plaintext of a tree blob, read alone and not kept: trees have a cache of their own, and
    /// are read by several threads out of order, where the spans read for small files would be read
    /// again and again.
    pub fn load_tree(&self, blob: &BlobRef) -> Result<Bytes, RepoError> {
        self.unseal(blob, MAX_TREE, |blob| self.exact(blob))
    }

    /// A blob's plaintext from its encrypted bytes, got by `fetch`; `most` bounds what the index
    /// may claim it holds.
    fn unseal(
        &self,
        blob: &BlobRef,
        most: u32,
        fetch: impl FnOnce(&BlobRef) -> Result<Bytes, String>,
    ) -> Result<Bytes, RepoError> {
        let damaged = |what: &str| {
            RepoError::Damaged(format!("blob {} in pack {}: {what}", blob.id, blob.pack))
        };
        if blob.length < OVERHEAD || blob.length > most || blob.data_length > most {
            return Err(damaged("impossible length in the index"));
        }
        let raw = fetch(blob).map_err(|e| damaged(&e))?;
        let mut sealed = Vec::from(raw);
        let plain = self
            .key
            .open_in_place(&mut sealed)
            .ok_or_else(|| damaged("MAC check failed"))?;
        if !blob.compressed {
            let end = plain.end;
            return Ok(Bytes::from(sealed).slice(plain.start..end));
        }
        let data = decompress(&sealed[plain], blob.data_length as usize)
            .ok_or_else(|| damaged("does not decompress to its recorded length"))?;
        Ok(Bytes::from(data))
    }

    /// The encrypted bytes of a blob: from a span read earlier, or read now. A small blob is read
    /// with what follows it, halving the span where the pack ends sooner.
    fn raw(&self, blob: &BlobRef) -> Result<Bytes, String> {
        if blob.length <= SMALL_BLOB {
            let spans = self.spans.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(bytes) = spans.iter().find_map(|span| span.holds(blob)) {
                return Ok(bytes);
            }
            drop(spans);
            let mut span = SPAN;
            while span > blob.length {
                // A span past the pack's end fails (rustic) or comes back short (read directly).
                if let Some(bytes) = self.packs.try_read(&blob.pack, blob.offset, span) {
                    let found = Span {
                        pack: blob.pack,
                        start: blob.offset,
                        bytes,
                    };
                    let raw = found.holds(blob);
                    let mut spans = self.spans.lock().unwrap_or_else(|p| p.into_inner());
                    spans.push_front(found);
                    spans.truncate(SPANS_KEPT);
                    if let Some(raw) = raw {
                        return Ok(raw);
                    }
                    break;
                }
                span /= 2;
            }
        }
        self.exact(blob)
    }

    /// The encrypted bytes of a blob, read alone.
    fn exact(&self, blob: &BlobRef) -> Result<Bytes, String> {
        let bytes = self.packs.read(&blob.pack, blob.offset, blob.length)?;
        if bytes.len() != blob.length as usize {
            return Err(format!(
                "pack gave {} of {} bytes",
                bytes.len(),
                blob.length
            ));
        }
        Ok(bytes)
    }
}

/// A zstd frame decompressed to exactly `expected` bytes, or `None`.
fn decompress(frame: &[u8], expected: usize) -> Option<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Decompressor::new().ok();
        }
        let decompressor = slot.as_mut()?;
        let mut out = Vec::with_capacity(expected);
        let written = decompressor.decompress_to_buffer(frame, &mut out).ok()?;
        (written == expected && out.len() == expected).then_some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_must_decompress_to_their_recorded_length() {
        let frame = zstd::encode_all(&b"hello hello hello"[..], 3).unwrap_or_default();
        assert_eq!(
            decompress(&frame, 17).as_deref(),
            Some(&b"hello hello hello"[..])
        );
        assert_eq!(decompress(&frame, 16), None);
        assert_eq!(decompress(b"not zstd", 8), None);
    }

    fn blob_ref(offset: u32, length: u32) -> BlobRef {
        BlobRef {
            id: DataId::default(),
            pack: PackId::default(),
            offset,
            length,
            data_length: length - OVERHEAD,
            compressed: false,
        }
    }

    #[test]
    fn covering_finds_the_blobs_of_a_range() {
        let refs = vec![blob_ref(0, 132), blob_ref(132, 132), blob_ref(264, 82)];
        let file = FileBlobs {
            refs,
            starts: vec![0, 100, 200, 250],
        };
        let starts = |offset, len| -> Vec<u64> {
            file.covering(offset, len).map(|(start, _)| start).collect()
        };
        assert_eq!(starts(0, 10), [0]);
        assert_eq!(starts(99, 2), [0, 100]);
        assert_eq!(starts(100, 100), [100]);
        assert_eq!(starts(150, 1000), [100, 200]);
        assert_eq!(starts(250, 10), Vec::<u64>::new());
    }

    #[test]
    fn spans_hold_only_whole_blobs_of_their_pack() {
        let span = Span {
            pack: PackId::default(),
            start: 100,
            bytes: Bytes::from(vec![7u8; 200]),
        };
        assert_eq!(span.holds(&blob_ref(100, 50)).map(|b| b.len()), Some(50));
        assert_eq!(span.holds(&blob_ref(250, 50)).map(|b| b.len()), Some(50));
        assert!(
            span.holds(&blob_ref(251, 50)).is_none(),
            "runs past the span"
        );
        assert!(span.holds(&blob_ref(99, 40)).is_none(), "starts before it");
    }
}
