//! Where each object lies: the committed `index.N` when it matches the last committed segment,
//! otherwise the segments replayed once, each transaction applied only at its COMMIT.

use std::collections::HashMap;
use std::path::Path;

use super::hashindex::HashIndex;
use super::segments::{Segments, TAG_COMMIT, TAG_DELETE, TAG_PUT};

/// An index file larger than this is not read into memory (2^26 buckets of 40 bytes).
const MAX_INDEX_BYTES: u64 = 1 << 32;

/// Object id to (segment, offset).
pub enum ObjectIndex {
    /// Borg's own committed index, looked up in place.
    Committed(HashIndex),
    /// Built by replaying the segments.
    Scanned(HashMap<[u8; 32], (u32, u32)>),
}

impl ObjectIndex {
    pub fn get(&self, id: &[u8; 32]) -> Option<(u32, u32)> {
        match self {
            ObjectIndex::Committed(index) => index.get(id),
            ObjectIndex::Scanned(map) => map.get(id).copied(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ObjectIndex::Committed(index) => index.len(),
            ObjectIndex::Scanned(map) => map.len(),
        }
    }
}

/// The index of the repository's committed state, and the transaction (segment) it belongs to.
pub fn load(repo: &Path, segments: &Segments) -> Result<(ObjectIndex, Option<u32>), String> {
    let all = segments
        .list()
        .map_err(|e| format!("cannot list segments: {e}"))?;
    let committed = all
        .iter()
        .rev()
        .copied()
        .find(|s| segments.ends_with_commit(*s));
    let index_id = latest_index(repo);
    if let (Some(n), Some(c)) = (index_id, committed)
        && n == c
    {
        match read_index(repo, n) {
            Ok(index) => return Ok((ObjectIndex::Committed(index), committed)),
            Err(why) => tracing::info!("index.{n} cannot be used ({why}): scanning the segments"),
        }
    } else {
        tracing::info!(
            index = ?index_id,
            last_commit = ?committed,
            "no committed index matches the segments: scanning the segments"
        );
    }
    let upto = committed.unwrap_or(0);
    let map = replay(segments, all.iter().copied().filter(|s| *s <= upto))?;
    Ok((ObjectIndex::Scanned(map), committed))
}

/// The highest N of a non-empty `index.N`, as borg picks it.
pub fn latest_index(repo: &Path) -> Option<u32> {
    let entries = std::fs::read_dir(repo).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("index.")?;
            n.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| n.parse().ok())?
        })
        .max()
}

fn read_index(repo: &Path, n: u32) -> Result<HashIndex, String> {
    let path = repo.join(format!("index.{n}"));
    let len = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
    if len > MAX_INDEX_BYTES {
        return Err(format!("{len} bytes is more than genmount reads"));
    }
    HashIndex::parse(std::fs::read(&path).map_err(|e| e.to_string())?)
}

/// Applies each segment's PUTs and DELETEs in order, but only once a COMMIT follows them: a
/// transaction that never committed leaves no trace, as in borg.
fn replay(
    segments: &Segments,
    list: impl Iterator<Item = u32>,
) -> Result<HashMap<[u8; 32], (u32, u32)>, String> {
    let started = std::time::Instant::now();
    let mut map = HashMap::new();
    let mut pending: Vec<(u8, [u8; 32], u32, u32)> = Vec::new();
    let mut count = 0usize;
    for segment in list {
        count += 1;
        segments.scan(segment, &mut |tag, key, offset| match tag {
            TAG_PUT | TAG_DELETE => pending.push((tag, key, segment, offset)),
            TAG_COMMIT => {
                for (tag, key, segment, offset) in pending.drain(..) {
                    if tag == TAG_PUT {
                        map.insert(key, (segment, offset));
                    } else {
                        map.remove(&key);
                    }
                }
            }
            _ => {}
        })?;
    }
    tracing::info!(
        segments = count,
        objects = map.len(),
        ms = started.elapsed().as_millis() as u64,
        "segments scanned"
    );
    Ok(map)
}
