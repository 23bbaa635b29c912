//! The versions view: every generation merged into one tree, where each file becomes a directory of
//! its distinct versions, named by the generation that first held each one; identical ones fold.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

use super::Ino;
use super::inodes::{Child, InoKey, Inode, Slot};
use crate::meta::{FileKind, Meta, Node};
use crate::names;
use crate::repo::Repository;

/// The name a versions directory takes when a directory already has the file's name.
const CONFLICT_SUFFIX: &str = "~versions";
/// Extensions longer than this are not extensions (`notes.2024-01-01_tuesday-draft`).
const MAX_EXTENSION: usize = 16;
/// Entries of merged listings kept for lookups, in all: a few KiB each at most.
const LISTED_ENTRIES_KEPT: u64 = 20_000;

/// Tells merged directories apart, so that a refresh's new ones never find an old listing.
static NEXT_MERGED: AtomicU64 = AtomicU64::new(1);

/// One place in one generation: which generation, its name, and the node there.
#[derive(Debug, Clone)]
pub struct Source<H> {
    pub generation: Ino,
    pub generation_name: Arc<str>,
    pub node: Node<H>,
}

/// A directory of the merged tree: the same path in every generation that has a directory there.
#[derive(Debug)]
pub struct MergedDir<H> {
    id: u64,
    /// The newest generation's directory metadata.
    pub meta: Meta,
    /// Oldest first.
    pub sources: Vec<Source<H>>,
}

/// A file of the merged tree: a directory of its distinct versions.
#[derive(Debug)]
pub struct VersionsDir<H> {
    pub meta: Meta,
    /// Shown name and node, oldest first.
    pub versions: Vec<(Vec<u8>, Slot<H>)>,
}

/// An entry of a merged directory.
#[derive(Debug)]
pub enum MergedChild<H> {
    Dir(Arc<MergedDir<H>>),
    Versions(Arc<VersionsDir<H>>),
}

impl<H> Clone for MergedChild<H> {
    fn clone(&self) -> Self {
        match self {
            MergedChild::Dir(dir) => MergedChild::Dir(dir.clone()),
            MergedChild::Versions(dir) => MergedChild::Versions(dir.clone()),
        }
    }
}

/// An entry of a merged directory and its name.
type Entry<H> = (Vec<u8>, MergedChild<H>);

/// The entries of a merged directory, by safe and unique name.
pub type MergedListing<H> = Arc<[Entry<H>]>;

impl<H> MergedDir<H> {
    /// The merged directory over `sources` (oldest first), dated and owned like the newest one.
    pub fn new(sources: Vec<Source<H>>) -> Option<MergedDir<H>> {
        let meta = sources.last()?.node.meta.clone();
        let id = NEXT_MERGED.fetch_add(1, Ordering::Relaxed);
        Some(MergedDir { id, meta, sources })
    }
}

impl<H> VersionsDir<H> {
    /// The version `name` as an entry of this directory, whose inode is `ino`.
    pub fn child(&self, ino: Ino, name: &[u8]) -> Option<Child<H>>
    where
        H: Clone,
    {
        let (name, slot) = self.versions.iter().find(|(shown, _)| shown == name)?;
        Some(version_child(ino, name, slot))
    }

    /// The versions as entries of this directory, whose inode is `ino`.
    pub fn children(&self, ino: Ino) -> Vec<Child<H>>
    where
        H: Clone,
    {
        self.versions
            .iter()
            .map(|(name, slot)| version_child(ino, name, slot))
            .collect()
    }
}

fn version_child<H: Clone>(ino: Ino, name: &[u8], slot: &Slot<H>) -> Child<H> {
    Child::Node {
        name: name.to_vec(),
        key: InoKey::for_node(slot.generation, ino, name, &slot.node),
        inode: Inode::Node(Arc::new(slot.clone())),
    }
}

/// The entry `name` of a merged listing, as an entry of the merged directory `ino`.
pub fn merged_child<H>(listing: &MergedListing<H>, ino: Ino, name: &[u8]) -> Option<Child<H>> {
    let (name, child) = listing.iter().find(|(shown, _)| shown == name)?;
    Some(merged_entry(ino, name, child))
}

/// A merged listing as entries of the merged directory `ino`.
pub fn merged_children<H>(listing: &MergedListing<H>, ino: Ino) -> Vec<Child<H>> {
    listing
        .iter()
        .map(|(name, child)| merged_entry(ino, name, child))
        .collect()
}

fn merged_entry<H>(ino: Ino, name: &[u8], child: &MergedChild<H>) -> Child<H> {
    Child::Node {
        name: name.to_vec(),
        key: InoKey::child(ino, name),
        inode: Inode::from(child),
    }
}

#[derive(Clone)]
struct ByEntries;

impl<H> quick_cache::Weighter<u64, MergedListing<H>> for ByEntries {
    fn weight(&self, _id: &u64, listing: &MergedListing<H>) -> u64 {
        listing.len() as u64 + 1
    }
}

/// Merged listings recently worked out, bounded by their entries in all. A lookup in a merged
/// directory would otherwise list and merge that directory of every generation again.
pub struct Listings<H> {
    kept: Cache<u64, MergedListing<H>, ByEntries>,
}

impl<H: Clone + Send + Sync + 'static> Listings<H> {
    pub fn new() -> Listings<H> {
        Listings {
            kept: Cache::with_weighter(1024, LISTED_ENTRIES_KEPT, ByEntries),
        }
    }

    /// The entries of `dir`, kept once every generation's directory could be listed: the trees of
    /// generations never change, but a source that failed may list at the next try.
    pub fn children<R: Repository<Handle = H>>(
        &self,
        repo: &R,
        dir: &MergedDir<H>,
    ) -> MergedListing<H> {
        if let Some(listing) = self.kept.get(&dir.id) {
            return listing;
        }
        let (listing, complete) = merge(repo, dir);
        let listing: MergedListing<H> = listing.into();
        if complete {
            self.kept.insert(dir.id, listing.clone());
        }
        listing
    }
}

/// Same-named entries of one merged directory, split into directories and everything else.
struct Gathered<H> {
    dirs: Vec<Source<H>>,
    others: Vec<Source<H>>,
}

/// The entries of `dir`, by safe and unique name, and whether every source could be listed. A
/// source that cannot be listed is logged and left out, so that one damaged generation does not
/// hide the others.
fn merge<R: Repository>(repo: &R, dir: &MergedDir<R::Handle>) -> (Vec<Entry<R::Handle>>, bool) {
    let mut complete = true;
    let mut by_name: BTreeMap<Vec<u8>, Gathered<R::Handle>> = BTreeMap::new();
    let mut listed_trees = HashSet::new();
    for source in &dir.sources {
        // A tree that an older generation already showed adds nothing: its files fold into that one.
        if let Some(key) = repo.dir_key(&source.node.handle)
            && !listed_trees.insert(key)
        {
            continue;
        }
        let listing = match repo.list(&source.node.handle) {
            Ok(listing) => listing,
            Err(err) => {
                tracing::warn!(generation = %source.generation_name, "directory left out of the versions view: {err}");
                complete = false;
                continue;
            }
        };
        for (name, node) in listing.iter() {
            let gathered = by_name.entry(name.clone()).or_insert_with(|| Gathered {
                dirs: Vec::new(),
                others: Vec::new(),
            });
            let entry = Source {
                generation: source.generation,
                generation_name: source.generation_name.clone(),
                node: node.clone(),
            };
            if entry.node.meta.kind == FileKind::Dir {
                gathered.dirs.push(entry);
            } else {
                gathered.others.push(entry);
            }
        }
    }
    let mut out = Vec::with_capacity(by_name.len());
    for (name, gathered) in by_name {
        let conflict = !gathered.dirs.is_empty();
        if let Some(merged) = MergedDir::new(gathered.dirs) {
            out.push((name.clone(), MergedChild::Dir(Arc::new(merged))));
        }
        if let Some(versions) = versions_dir(repo, &name, gathered.others) {
            let mut shown = name;
            if conflict {
                shown.extend_from_slice(CONFLICT_SUFFIX.as_bytes());
            }
            out.push((shown, MergedChild::Versions(Arc::new(versions))));
        }
    }
    // The view makes names of its own (`~versions`), which can meet a name already there.
    (names::safe_listing(out, "versions"), complete)
}

/// The distinct versions of the file `name` among `sources` (oldest first): each version is shown
/// once, under the oldest generation that holds it.
fn versions_dir<R: Repository>(
    repo: &R,
    name: &[u8],
    sources: Vec<Source<R::Handle>>,
) -> Option<VersionsDir<R::Handle>> {
    let meta = directory_meta(&sources.last()?.node.meta);
    let mut seen = HashSet::new();
    let mut versions = Vec::new();
    for source in sources {
        if !seen.insert(repo.content_key(&source.node)) {
            continue;
        }
        let shown = version_name(&source.generation_name, name);
        let slot = Slot {
            generation: source.generation,
            node: source.node,
        };
        versions.push((shown, slot));
    }
    // Version names are made from generation names, which can meet (`a/b` and `a_b`).
    let versions = names::safe_listing(versions, "versions");
    Some(VersionsDir { meta, versions })
}

/// A versions directory's metadata: the newest version's owner and times, and its read bits as
/// the directory's read and search bits, so that whoever could read the file can list its versions.
fn directory_meta(newest: &Meta) -> Meta {
    let read = newest.perm & 0o444;
    let mut meta = newest.clone();
    meta.kind = FileKind::Dir;
    meta.perm = (newest.perm & 0o777) | read | (read >> 2);
    meta.size = 0;
    meta.blocks = 0;
    meta.nlink = 2;
    meta.rdev = 0;
    meta.link_id = None;
    meta
}

/// A version's name: the generation's name, with the file's extension so that programs still know
/// what it holds (`report.pdf` of `2024-05-01_10-00-00` is `2024-05-01_10-00-00.pdf`).
pub fn version_name(generation: &str, file: &[u8]) -> Vec<u8> {
    let mut name: Vec<u8> = generation.replace('/', "_").into_bytes();
    if let Some(ext) = extension(file) {
        name.push(b'.');
        name.extend_from_slice(ext);
    }
    name
}

/// What follows the last dot of a name, unless the dot starts it (`.bashrc`) or ends it.
fn extension(file: &[u8]) -> Option<&[u8]> {
    let dot = file.iter().rposition(|&b| b == b'.')?;
    let ext = &file[dot + 1..];
    let plausible = dot > 0 && !ext.is_empty() && ext.len() <= MAX_EXTENSION;
    plausible.then_some(ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Timestamp;

    #[test]
    fn versions_keep_the_extension() {
        assert_eq!(version_name("2024-05-01", b"report.pdf"), b"2024-05-01.pdf");
        assert_eq!(version_name("host/2024", b"a.tar.gz"), b"host_2024.gz");
        assert_eq!(version_name("g", b".bashrc"), b"g");
        assert_eq!(version_name("g", b"Makefile"), b"g");
        assert_eq!(version_name("g", b"odd."), b"g");
        assert_eq!(version_name("g", b"notes.a-very-long-description"), b"g");
    }

    #[test]
    fn a_private_file_gives_a_private_directory() {
        let mut meta = Meta::synthetic(FileKind::File, 0o4640, 10, Timestamp::EPOCH);
        meta.uid = 1000;
        let dir = directory_meta(&meta);
        assert_eq!(dir.kind, FileKind::Dir);
        assert_eq!(dir.perm, 0o750);
        assert_eq!(dir.uid, 1000);
        assert_eq!(dir.size, 0);
    }
}
