//! The tree cache: restic trees decoded into listings with safe, unique names, kept by tree id, and
//! each directory's link count given where its tree has been read (restic records none).

use std::sync::Arc;

use quick_cache::sync::Cache;
use rustic_core::TreeId;

use super::handle::{ALLOCATION, ResticHandle};
use super::node::{self, NamedNodes};
use crate::error::RepoError;
use crate::meta::{FileKind, Node, Timestamp};
use crate::names;
use crate::repo::Listing;

/// Trees kept decoded in memory; each is a directory's listing.
const TREE_CACHE_ENTRIES: usize = 4096;
/// The bytes those listings may hold in all: the cache is bounded by what it costs, not by how many
/// trees it holds, so a few huge directories cannot make it grow without bound.
const TREE_CACHE_BYTES: u64 = 16 << 20;
/// Subdirectory counts remembered (a few bytes each).
const SUBDIR_COUNTS: usize = 1 << 20;

/// Reads the nodes of a tree from the repository: each with its name as raw bytes.
pub type ReadTree<'a> = &'a (dyn Fn(TreeId) -> Result<NamedNodes, RepoError> + Sync);

/// A directory's entries, with safe names, and their indexes in name order (for lookups).
pub struct TreeListing {
    pub entries: Listing<ResticHandle>,
    by_name: Vec<u32>,
    /// What the listing holds in memory, about: its weight in the cache.
    bytes: u64,
}

impl TreeListing {
    /// The listing of a tree's nodes, with names made safe and unique; `tree` names it in the log.
    fn of(nodes: NamedNodes, tree: &str) -> TreeListing {
        let raw: Vec<(Vec<u8>, Node<ResticHandle>)> = nodes
            .into_iter()
            .map(|(name, stored)| {
                let meta = node::meta_of(&stored, Timestamp::EPOCH);
                let handle = ResticHandle::of(stored, &name);
                (name, Node { meta, handle })
            })
            .collect();
        let entries = names::safe_listing(raw, tree);
        let mut by_name: Vec<u32> = (0..entries.len() as u32).collect();
        by_name.sort_by(|a, b| entries[*a as usize].0.cmp(&entries[*b as usize].0));
        let bytes = entries
            .iter()
            .map(|(name, node)| entry_bytes(name, node))
            .sum();
        TreeListing {
            entries: entries.into(),
            by_name,
            bytes,
        }
    }

    /// How many of the entries are directories.
    fn subdirs(&self) -> u32 {
        let dirs = self
            .entries
            .iter()
            .filter(|(_, node)| node.meta.kind == FileKind::Dir)
            .count();
        u32::try_from(dirs).unwrap_or(u32::MAX)
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

/// Weighs a cached listing by the bytes it holds.
#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<TreeId, Arc<TreeListing>> for ByBytes {
    fn weight(&self, _tree: &TreeId, listing: &Arc<TreeListing>) -> u64 {
        listing.bytes
    }
}

/// Decoded trees, and what is known of each tree's subdirectory count.
pub struct Trees {
    listings: Cache<TreeId, Arc<TreeListing>, ByBytes>,
    /// How many subdirectories each tree read so far has: a directory whose tree was read shows its
    /// true link count; one whose tree was not read shows 1, as btrfs does, rather than read every
    /// child's tree just to count (a second of a 3,000-folder listing, and its memory).
    subdirs: Cache<TreeId, u32>,
}

impl Trees {
    pub fn new() -> Trees {
        Trees {
            listings: listings_cache(),
            subdirs: Cache::new(SUBDIR_COUNTS),
        }
    }

    /// The listing of tree `id`, with the link counts of its subdirectories that are known.
    pub fn get(&self, id: TreeId, read: ReadTree<'_>) -> Result<Arc<TreeListing>, RepoError> {
        self.listings
            .get_or_insert_with(&id, || self.read(id, read).map(Arc::new))
    }

    /// The listing of tree `id` for a walk over a whole generation: from the cache where it is
    /// there, otherwise read and not kept, so that the walk does not push out what users look at.
    pub fn get_passing(
        &self,
        id: TreeId,
        read: ReadTree<'_>,
    ) -> Result<Arc<TreeListing>, RepoError> {
        match self.listings.peek(&id) {
            Some(listing) => Ok(listing),
            None => self.read(id, read).map(Arc::new),
        }
    }

    fn read(&self, id: TreeId, read: ReadTree<'_>) -> Result<TreeListing, RepoError> {
        let mut listing = read_listing(id, read)?;
        self.subdirs.insert(id, listing.subdirs());
        // Just read, so nobody else holds the entries: no copy.
        let entries = Arc::get_mut(&mut listing.entries).into_iter().flatten();
        for (_, node) in entries {
            // restic records no link count for directories (meta_of gives them 2).
            if let Some(tree) = node.handle.subtree().filter(|_| node.meta.nlink <= 2) {
                node.meta.nlink = self.subdirs.get(&tree).map_or(1, |n| n.saturating_add(2));
            }
        }
        Ok(listing)
    }
}

/// The listings' cache. Trees read ahead of a walk enter it before the walk asks for them: its
/// part for new entries must hold the read-ahead window (with the default 3%, split over shards,
/// trees read ahead were dropped before use, and a `find` read them all twice).
fn listings_cache() -> Cache<TreeId, Arc<TreeListing>, ByBytes> {
    let options = quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(TREE_CACHE_ENTRIES)
        .weight_capacity(TREE_CACHE_BYTES)
        .hot_allocation(0.5)
        .shards(1)
        .build();
    match options {
        Ok(options) => Cache::with_options(
            options,
            ByBytes,
            quick_cache::DefaultHashBuilder::default(),
            quick_cache::sync::DefaultLifecycle::default(),
        ),
        Err(_) => Cache::with_weighter(TREE_CACHE_ENTRIES, TREE_CACHE_BYTES, ByBytes),
    }
}

/// A tree's entries as stored, before directory link counts are worked out.
fn read_listing(id: TreeId, read: ReadTree<'_>) -> Result<TreeListing, RepoError> {
    Ok(TreeListing::of(read(id)?, &id.to_string()))
}

/// What one entry of a listing costs in memory, about: the entry, its name, and what its handle
/// holds on the heap.
fn entry_bytes(name: &[u8], node: &Node<ResticHandle>) -> u64 {
    let total = size_of::<(Vec<u8>, Node<ResticHandle>)>()
        + size_of::<u32>()
        + ALLOCATION
        + name.len()
        + node.handle.heap_bytes();
    total as u64
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsStr;
    use std::sync::Mutex;

    use rustic_core::repofile::{Metadata, Node as ResticNode, NodeType};

    use super::*;
    use crate::repo::restic::node::Stored;

    fn dir(name: &str, tree: TreeId) -> (Vec<u8>, Stored) {
        let mut node = ResticNode::new_node(OsStr::new(name), NodeType::Dir, Metadata::default());
        node.subtree = Some(tree);
        Stored::of_rustic(node)
    }

    fn id(hex: char) -> TreeId {
        hex.to_string().repeat(64).parse().unwrap_or_default()
    }

    /// parent (a) holds `child` (b) and a file; b holds two directories (c, d).
    struct Repo {
        trees: HashMap<TreeId, NamedNodes>,
        reads: Mutex<Vec<TreeId>>,
    }

    impl Repo {
        fn new() -> Repo {
            let file = ResticNode::new_node(OsStr::new("f"), NodeType::File, Metadata::default());
            let file = Stored::of_rustic(file);
            let trees = HashMap::from([
                (id('a'), vec![dir("child", id('b')), file]),
                (id('b'), vec![dir("c", id('c')), dir("d", id('d'))]),
            ]);
            Repo {
                trees,
                reads: Mutex::new(Vec::new()),
            }
        }

        fn read(&self, tree: TreeId) -> Result<NamedNodes, RepoError> {
            self.reads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(tree);
            self.trees.get(&tree).cloned().ok_or(RepoError::NotFound)
        }

        fn child_nlink(&self, trees: &Trees) -> Result<u32, RepoError> {
            let listing = trees.get(id('a'), &|t| self.read(t))?;
            Ok(listing.find(b"child").map_or(0, |node| node.meta.nlink))
        }
    }

    #[test]
    fn a_listing_reads_no_child_tree_and_shows_unknown_counts_as_one() -> Result<(), RepoError> {
        let repo = Repo::new();
        assert_eq!(repo.child_nlink(&Trees::new())?, 1);
        assert_eq!(
            *repo.reads.lock().unwrap_or_else(|p| p.into_inner()),
            [id('a')]
        );
        Ok(())
    }

    #[test]
    fn a_directory_whose_tree_was_read_shows_its_true_count() -> Result<(), RepoError> {
        let repo = Repo::new();
        let trees = Trees::new();
        trees.get(id('b'), &|t| repo.read(t))?;
        assert_eq!(repo.child_nlink(&trees)?, 4, "2 + its two subdirectories");
        Ok(())
    }
}
