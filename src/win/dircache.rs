//! Directories as Windows sees them, kept per inode and bounded in memory: one listing serves both
//! path resolution (Explorer opens files constantly: thumbnails, previews, icons) and directory
//! listings, so that neither lists a directory or looks up its children more than once per TTL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::listing::{WinEntry, fold, windows_listing};
use crate::error::VfsResult;
use crate::vfs::{Entry, Ino, KernelCache, Plus, VfsTree};

/// Entries kept across all directories: about 300 bytes each, so some 20 MiB at most. A directory
/// with more entries than this is listed afresh each time instead.
pub const DEFAULT_CAPACITY: u64 = 65_536;

/// One child: its names and its attributes as they were when the directory was listed.
#[derive(Debug, Clone)]
pub struct WinChild {
    pub name: WinEntry,
    pub entry: Entry,
}

/// A directory's children in listing order, with a case-insensitive index of their shown names.
#[derive(Debug)]
pub struct WinDir {
    pub children: Vec<WinChild>,
    /// `windows_listing` made the shown names unique ignoring case, so one index serves both
    /// exact and case-insensitive lookups.
    by_folded: HashMap<String, usize>,
    expires: Instant,
}

impl WinDir {
    /// The child Windows means by `name`: the one whose shown name matches, ignoring case.
    pub fn find(&self, name: &str) -> Option<&WinChild> {
        self.by_folded
            .get(&fold(name))
            .and_then(|&i| self.children.get(i))
    }
}

#[derive(Clone)]
struct ByChildren;

impl quick_cache::Weighter<Ino, Arc<WinDir>> for ByChildren {
    fn weight(&self, _ino: &Ino, dir: &Arc<WinDir>) -> u64 {
        dir.children.len() as u64 + 1
    }
}

/// The kept directories, shared by every request of one mount.
pub struct DirCache {
    dirs: quick_cache::sync::Cache<Ino, Arc<WinDir>, ByChildren>,
}

impl DirCache {
    /// A cache that holds at most `capacity` entries across its directories.
    pub fn new(capacity: u64) -> Arc<DirCache> {
        let directories = usize::try_from(capacity / 16).unwrap_or(usize::MAX).max(1);
        Arc::new(DirCache {
            dirs: quick_cache::sync::Cache::with_weighter(directories, capacity, ByChildren),
        })
    }

    /// The directory `dir` (an entry the tree gave out), from the cache while its TTL lasts.
    pub fn get<T: VfsTree>(&self, tree: &T, dir: &Entry) -> VfsResult<Arc<WinDir>> {
        let ino = dir.attr.ino;
        if let Some(kept) = self.dirs.get(&ino)
            && kept.expires > Instant::now()
        {
            return Ok(kept);
        }
        let listed = Arc::new(list(tree, dir)?);
        self.dirs.insert(ino, listed.clone());
        Ok(listed)
    }

    /// Forgets what is kept of `ino`, after the tree said it changed.
    pub fn drop_dir(&self, ino: Ino) {
        self.dirs.remove(&ino);
    }

    /// Tells the tree to drop kept directories when it changes them (a refresh of the root).
    pub fn invalidator(self: &Arc<Self>) -> Box<dyn KernelCache> {
        Box::new(Dropper(self.clone()))
    }
}

struct Dropper(Arc<DirCache>);

impl KernelCache for Dropper {
    fn entry(&self, parent: Ino, _name: &[u8]) {
        self.0.drop_dir(parent);
    }
    fn inode(&self, ino: Ino) {
        self.0.drop_dir(ino);
    }
}

/// Lists `dir` in one pass (readdirplus), giving back each lookup it took. The listing lives as
/// long as the shortest TTL among the directory and its children, as the kernel would keep them.
fn list<T: VfsTree>(tree: &T, dir: &Entry) -> VfsResult<WinDir> {
    let ino = dir.attr.ino;
    let opened = tree.opendir(ino)?;
    let mut raw = Vec::new();
    let mut entries = Vec::new();
    let listed = tree.readdir(ino, opened.fh, 0, Plus::Attrs, &mut |child, entry| {
        // `.` and `..` count as no lookup (as in FUSE); every other entry counts as one.
        if let Some(entry) = entry
            && child.name != b"."
            && child.name != b".."
        {
            raw.push(child.name.clone());
            entries.push(entry.clone());
        }
        true
    });
    let _ = tree.releasedir(ino, opened.fh);
    for entry in &entries {
        tree.forget(entry.attr.ino, 1);
    }
    listed?;
    let ttl = entries.iter().map(|e| e.ttl).fold(dir.ttl, Duration::min);
    let children: Vec<WinChild> = windows_listing(&raw)
        .into_iter()
        .zip(entries)
        .map(|(name, entry)| WinChild { name, entry })
        .collect();
    let by_folded = children
        .iter()
        .enumerate()
        .map(|(i, child)| (fold(&child.name.shown), i))
        .collect();
    Ok(WinDir {
        children,
        by_folded,
        expires: Instant::now() + ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::folder::FolderRepo;
    use crate::vfs::{Layout, LayoutOptions, ROOT_INO};
    use crate::win::memrepo::MemRepo;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn shown(dir: &Arc<WinDir>) -> Vec<&str> {
        dir.children.iter().map(|c| c.name.shown.as_str()).collect()
    }

    /// A generation whose `Docs` holds names that are one name on Windows.
    fn colliding() -> Result<Layout<MemRepo>, Box<dyn std::error::Error>> {
        let repo = MemRepo::new(&[
            ("2026-01-01/Docs/README", b"upper"),
            ("2026-01-01/Docs/Readme", b"mixed"),
        ]);
        Ok(Layout::new(repo, LayoutOptions::default())?)
    }

    fn docs<T: VfsTree>(tree: &T) -> VfsResult<Entry> {
        let generation = tree.lookup(ROOT_INO, b"2026-01-01")?;
        tree.lookup(generation.attr.ino, b"Docs")
    }

    #[test]
    fn a_listing_maps_collisions_and_keeps_each_childs_attributes() -> TestResult {
        let tree = colliding()?;
        let dirs = DirCache::new(DEFAULT_CAPACITY);
        let listed = dirs.get(&tree, &docs(&tree)?)?;
        assert_eq!(shown(&listed), ["README", "Readme (2)"]);
        let mixed = listed
            .find("readme (2)")
            .map(|c| (c.name.raw.clone(), c.entry.attr.meta.size));
        assert_eq!(mixed, Some((b"Readme".to_vec(), 5)));
        let upper = listed.find("readme").map(|c| c.name.raw.clone());
        assert_eq!(upper, Some(b"README".to_vec()));
        Ok(())
    }

    #[test]
    fn a_directory_is_kept_until_the_tree_says_it_changed() -> TestResult {
        let tmp = tempfile::tempdir()?;
        std::fs::create_dir_all(tmp.path().join("2026-01-01/Docs"))?;
        std::fs::write(tmp.path().join("2026-01-01/Docs/a"), b"")?;
        let tree = Layout::new(FolderRepo::open(tmp.path())?, LayoutOptions::default())?;
        let dirs = DirCache::new(DEFAULT_CAPACITY);
        let docs_entry = docs(&tree)?;
        assert_eq!(shown(&dirs.get(&tree, &docs_entry)?), ["a"]);
        // Generations never change: a file that appears in the folder later is not listed while
        // the listing is kept, and is once the tree says the directory changed.
        std::fs::write(tmp.path().join("2026-01-01/Docs/b"), b"")?;
        assert_eq!(shown(&dirs.get(&tree, &docs_entry)?), ["a"]);
        dirs.drop_dir(docs_entry.attr.ino);
        assert_eq!(shown(&dirs.get(&tree, &docs_entry)?), ["a", "b"]);
        Ok(())
    }

    #[test]
    fn a_refresh_of_the_root_drops_its_kept_listing() -> TestResult {
        let tmp = tempfile::tempdir()?;
        std::fs::create_dir(tmp.path().join("2026-01-01"))?;
        let tree = Layout::new(FolderRepo::open(tmp.path())?, LayoutOptions::default())?;
        let dirs = DirCache::new(DEFAULT_CAPACITY);
        tree.set_kernel_cache(dirs.invalidator());
        let root = tree.getattr(ROOT_INO)?;
        assert_eq!(
            shown(&dirs.get(&tree, &root)?),
            ["2026-01-01", "latest", ".pid"]
        );
        std::fs::create_dir(tmp.path().join("2026-01-02"))?;
        tree.refresh()?;
        assert_eq!(
            shown(&dirs.get(&tree, &root)?),
            ["2026-01-01", "2026-01-02", "latest", ".pid"]
        );
        Ok(())
    }

    #[test]
    fn a_directory_bigger_than_the_cache_is_still_listed_in_full() -> TestResult {
        let tree = colliding()?;
        let dirs = DirCache::new(1);
        let docs_entry = docs(&tree)?;
        for _ in 0..2 {
            assert_eq!(
                shown(&dirs.get(&tree, &docs_entry)?),
                ["README", "Readme (2)"]
            );
        }
        Ok(())
    }
}
