//! The tree cache: restic trees decoded into listings with safe, unique names, kept by tree id, and
//! each directory's link count worked out from the subdirectories it holds (restic records none).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quick_cache::sync::Cache;
use rustic_core::TreeId;
use rustic_core::repofile::Node as ResticNode;

use super::handle::ResticHandle;
use super::node;
use crate::error::RepoError;
use crate::meta::{FileKind, Node, Timestamp};
use crate::names;
use crate::repo::Listing;

/// Trees kept decoded in memory; each is a directory's listing.
const TREE_CACHE_ENTRIES: usize = 4096;
/// The directory entries those trees may hold in all (about 200 bytes each): a few huge directories
/// cannot make the cache grow without bound.
const TREE_CACHE_WEIGHT: u64 = 500_000;
/// Entries of listings read only to count subdirectories, kept until their directory is entered.
const COUNTED_WEIGHT: u64 = 200_000;
/// Trees read side by side to count subdirectories: most of the time goes to waiting on the disk.
const COUNTERS: usize = 8;
/// A listing with fewer subdirectories than this per counter counts them on its own thread.
const TREES_PER_COUNTER: usize = 16;

/// Reads the nodes of a tree from the repository.
pub type ReadTree<'a> = &'a (dyn Fn(TreeId) -> Result<Vec<ResticNode>, RepoError> + Sync);

/// A directory's entries, with safe names, and their indexes in name order (for lookups).
pub struct TreeListing {
    pub entries: Listing<ResticHandle>,
    by_name: Vec<u32>,
}

impl TreeListing {
    /// The listing of a tree's nodes, with names made safe and unique; `tree` names it in the log.
    fn of(nodes: Vec<ResticNode>, tree: &str) -> TreeListing {
        let raw: Vec<(Vec<u8>, Node<ResticHandle>)> = nodes
            .into_iter()
            .map(|n| {
                let name = n.name().as_encoded_bytes().to_vec();
                let meta = node::meta_of(&n, Timestamp::EPOCH);
                let handle = ResticHandle::of(n, &name);
                (name, Node { meta, handle })
            })
            .collect();
        let entries = names::safe_listing(raw, tree);
        let mut by_name: Vec<u32> = (0..entries.len() as u32).collect();
        by_name.sort_by(|a, b| entries[*a as usize].0.cmp(&entries[*b as usize].0));
        TreeListing {
            entries: entries.into(),
            by_name,
        }
    }

    pub fn find(&self, name: &[u8]) -> Option<&Node<ResticHandle>> {
        let entry = |i: &u32| self.entries.get(*i as usize);
        let found = self
            .by_name
            .binary_search_by(|i| entry(i).map_or(&[][..], |(n, _)| n.as_slice()).cmp(name));
        found
            .ok()
            .and_then(|pos| entry(&self.by_name[pos]))
            .map(|(_, node)| node)
    }
}

/// Weighs a cached listing by its entries.
#[derive(Clone)]
struct ByEntries;

impl quick_cache::Weighter<TreeId, Arc<TreeListing>> for ByEntries {
    fn weight(&self, _tree: &TreeId, listing: &Arc<TreeListing>) -> u64 {
        listing.entries.len() as u64 + 1
    }
}

/// Decoded trees, and the subdirectory counts that give directories their link count.
pub struct Trees {
    listings: Cache<TreeId, Arc<TreeListing>, ByEntries>,
    /// How many subdirectories each tree has.
    subdirs: Cache<TreeId, u32>,
    /// Listings read to count subdirectories, until `get` takes them.
    counted: Cache<TreeId, Arc<TreeListing>, ByEntries>,
}

impl Trees {
    pub fn new() -> Trees {
        Trees {
            listings: Cache::with_weighter(TREE_CACHE_ENTRIES, TREE_CACHE_WEIGHT, ByEntries),
            subdirs: Cache::new(TREE_CACHE_ENTRIES * 16),
            counted: Cache::with_weighter(TREE_CACHE_ENTRIES, COUNTED_WEIGHT, ByEntries),
        }
    }

    /// The listing of tree `id`, its subdirectories' link counts worked out.
    pub fn get(&self, id: TreeId, read: ReadTree<'_>) -> Result<Arc<TreeListing>, RepoError> {
        self.listings.get_or_insert_with(&id, || {
            let counted = self.counted.remove(&id);
            let mut listing = match counted.and_then(|(_, listing)| Arc::try_unwrap(listing).ok()) {
                Some(listing) => listing,
                None => read_listing(id, read)?,
            };
            let uncounted =
                |node: &Node<ResticHandle>| node.handle.subtree().filter(|_| node.meta.nlink <= 2);
            let subtrees: Vec<TreeId> = listing
                .entries
                .iter()
                .filter_map(|(_, node)| uncounted(node))
                .collect();
            let mut counts = self.subdir_counts(&subtrees, read).into_iter();
            // Just read or taken back from `counted`, so nobody else holds the entries: no copy.
            let mut entries = Arc::get_mut(&mut listing.entries).map(|e| e.iter_mut());
            for (_, node) in entries.iter_mut().flatten() {
                if uncounted(node).is_some() {
                    // A damaged subtree fails when it is entered, not its parent's listing.
                    let count = counts.next().flatten().unwrap_or(0);
                    node.meta.nlink = count.saturating_add(2);
                }
            }
            Ok(Arc::new(listing))
        })
    }

    /// The subdirectory counts of `ids` (`None` where a tree cannot be read), several trees read
    /// at a time: a directory of 1,000 folders took 370 ms to list one tree after another.
    fn subdir_counts(&self, ids: &[TreeId], read: ReadTree<'_>) -> Vec<Option<u32>> {
        let threads = ids.len().div_ceil(TREES_PER_COUNTER).min(COUNTERS);
        if threads <= 1 {
            return ids
                .iter()
                .map(|id| self.subdir_count(*id, read).ok())
                .collect();
        }
        let next = AtomicUsize::new(0);
        let count_some = || {
            let mut found = Vec::new();
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(at) else {
                    return found;
                };
                found.push((at, self.subdir_count(*id, read).ok()));
            }
        };
        let mut counts = vec![None; ids.len()];
        let mut keep = |found: Vec<(usize, Option<u32>)>| {
            for (at, count) in found {
                if let Some(slot) = counts.get_mut(at) {
                    *slot = count;
                }
            }
        };
        std::thread::scope(|scope| {
            // This thread counts too, so that all gets counted even if no helper can be started.
            let helpers: Vec<_> = (1..threads)
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .spawn_scoped(scope, count_some)
                        .ok()
                })
                .collect();
            keep(count_some());
            for helper in helpers {
                keep(helper.join().unwrap_or_default());
            }
        });
        counts
    }

    /// The number of directories in a tree, which makes a directory's link count as on disk. The
    /// listing read for it is kept for `get`: a directory listed is usually entered next.
    fn subdir_count(&self, id: TreeId, read: ReadTree<'_>) -> Result<u32, RepoError> {
        self.subdirs.get_or_insert_with(&id, || {
            let listing = read_listing(id, read)?;
            let dirs = listing
                .entries
                .iter()
                .filter(|(_, node)| node.meta.kind == FileKind::Dir)
                .count();
            self.counted.insert(id, Arc::new(listing));
            Ok(u32::try_from(dirs).unwrap_or(u32::MAX))
        })
    }
}

/// A tree's entries as stored, before directory link counts are worked out.
fn read_listing(id: TreeId, read: ReadTree<'_>) -> Result<TreeListing, RepoError> {
    Ok(TreeListing::of(read(id)?, &id.to_string()))
}
