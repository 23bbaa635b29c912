//! An archive's directory tree, built from borg's flat item stream: directories borg did not
//! store are made up, later hardlinks share their first link's data and inode, directories get
//! their real link counts, and every listing gets safe, unique names sorted for lookups.

use std::collections::HashMap;
use std::sync::Arc;

use super::items::{Content, Item};
use super::stat::Stat;
use crate::meta::{FileKind, Meta, Timestamp};
use crate::names;
use crate::repo::Xattrs;

/// One node of an archive.
pub struct Entry {
    pub meta: Stat,
    pub content: Content,
    pub xattrs: Option<Arc<Xattrs>>,
    pub parent: u32,
}

/// A directory's entries: shown name and entry index, sorted by name.
pub type Children = Box<[(Box<[u8]>, u32)]>;

/// An archive as a tree; entry 0 is its root.
pub struct ArchiveTree {
    pub entries: Vec<Entry>,
    children: HashMap<u32, Children>,
}

impl ArchiveTree {
    pub fn children(&self, dir: u32) -> &[(Box<[u8]>, u32)] {
        self.children.get(&dir).map_or(&[], |c| c)
    }

    pub fn entry(&self, at: u32) -> Option<&Entry> {
        self.entries.get(at as usize)
    }

    pub fn find(&self, dir: u32, name: &[u8]) -> Option<u32> {
        let children = self.children(dir);
        let found = children.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?;
        children.get(found).map(|(_, at)| *at)
    }

    /// The path of an entry as shown, for log lines.
    pub fn path_of(&self, at: u32) -> String {
        let mut parts = Vec::new();
        let mut here = at;
        while here != 0 && parts.len() < 4096 {
            let Some(entry) = self.entry(here) else { break };
            let name = self.children(entry.parent).iter().find(|(_, i)| *i == here);
            parts.push(name.map_or_else(
                || "?".into(),
                |(n, _)| String::from_utf8_lossy(n).into_owned(),
            ));
            here = entry.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// Entries (weight for caches).
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Builds a tree item by item, in stream order.
pub struct Builder {
    entries: Vec<Entry>,
    raw_children: HashMap<u32, Vec<(Vec<u8>, u32)>>,
    /// Directories by parent and name.
    by_name: HashMap<(u32, Vec<u8>), u32>,
    /// Other entries by a hash of parent and name, for hardlinks to find their first link: a
    /// name each would double the builder's memory for an archive of files.
    others: HashMap<u64, u32>,
    /// Keyed per builder, so that a repository cannot choose names that collide.
    hasher: std::collections::hash_map::RandomState,
    made_up: Vec<bool>,
    /// Entries that are the first link of a hardlinked file, and how many links they have.
    links: HashMap<u32, u32>,
    time: Timestamp,
    /// The directory part of the last item's path and the entry it named: the stream holds a
    /// directory's items one after another, so most items need no walk from the root.
    last_dir: (Vec<u8>, u32),
}

impl Builder {
    /// A tree whose root (and made-up directories) carry `time`.
    pub fn new(time: Timestamp) -> Builder {
        let mut builder = Builder {
            entries: Vec::new(),
            raw_children: HashMap::new(),
            by_name: HashMap::new(),
            others: HashMap::new(),
            hasher: Default::default(),
            made_up: Vec::new(),
            links: HashMap::new(),
            time,
            last_dir: (Vec::new(), 0),
        };
        builder.push(Stat::of(&synthetic_dir(time)), Content::Dir, None, 0, true);
        builder
    }

    fn push(
        &mut self,
        meta: Stat,
        content: Content,
        xattrs: Option<Arc<Xattrs>>,
        parent: u32,
        made_up: bool,
    ) -> u32 {
        let at = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        self.entries.push(Entry {
            meta,
            content,
            xattrs,
            parent,
        });
        self.made_up.push(made_up);
        at
    }

    fn attach(&mut self, parent: u32, name: &[u8], at: u32) {
        self.raw_children
            .entry(parent)
            .or_default()
            .push((name.to_vec(), at));
        if self
            .entries
            .get(at as usize)
            .is_some_and(|e| e.meta.kind == FileKind::Dir)
        {
            self.by_name.insert((parent, name.to_vec()), at);
        } else {
            self.others.insert(self.key(parent, name), at);
        }
    }

    fn key(&self, parent: u32, name: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((parent, name))
    }

    /// The directory `name` in `parent`, made up if the stream has not (yet) stored it.
    fn dir(&mut self, parent: u32, name: &[u8]) -> u32 {
        if let Some(&at) = self.by_name.get(&(parent, name.to_vec()))
            && self
                .entries
                .get(at as usize)
                .is_some_and(|e| e.meta.kind == FileKind::Dir)
        {
            return at;
        }
        let made_up = Stat::of(&synthetic_dir(self.time));
        let at = self.push(made_up, Content::Dir, None, parent, true);
        self.attach(parent, name, at);
        at
    }

    /// The non-directory at `path` (components separated by `/`), if the stream has had it.
    fn resolve(&self, path: &[u8]) -> Option<u32> {
        let parts: Vec<&[u8]> = path
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let (name, dirs) = parts.split_last()?;
        let parent = dirs.iter().try_fold(0u32, |dir, part| {
            self.by_name.get(&(dir, part.to_vec())).copied()
        })?;
        self.others.get(&self.key(parent, name)).copied()
    }

    /// Adds one item of the stream.
    pub fn add(&mut self, item: Item) {
        // `borg create .` stores the directory itself as `.` and its entries below it.
        let parts: Vec<&[u8]> = item
            .path
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let Some((name, dirs)) = parts.split_last() else {
            self.set_root(item);
            return;
        };
        // Keyed by the components as filtered, not the raw path: `a/b/` and `a/b/.` name `a/b`.
        let dir_key = dirs.join(&b'/');
        let parent = if dir_key == self.last_dir.0 {
            self.last_dir.1
        } else {
            let parent = dirs.iter().fold(0u32, |dir, part| self.dir(dir, part));
            self.last_dir = (dir_key, parent);
            parent
        };
        let Item {
            mut meta,
            mut content,
            xattrs,
            ..
        } = item;
        if let Content::HardlinkTo(source) = &content {
            match self
                .resolve(source)
                .filter(|at| !self.made_up.get(*at as usize).copied().unwrap_or(true))
            {
                Some(first) => return self.add_link(parent, name, first),
                None => {
                    tracing::warn!(path = %String::from_utf8_lossy(&item.path), "hardlink to an item the archive does not hold: shown empty");
                    content = Content::File(Arc::from([]));
                    meta.size = 0;
                }
            }
        }
        if meta.kind == FileKind::Dir
            && let Some(&at) = self.by_name.get(&(parent, name.to_vec()))
            && self.made_up.get(at as usize) == Some(&true)
            && let Some(entry) = self.entries.get_mut(at as usize)
        {
            // Stored after something inside it: the real metadata replaces the made-up one.
            entry.meta = Stat::of(&meta);
            entry.xattrs = xattrs;
            if let Some(made_up) = self.made_up.get_mut(at as usize) {
                *made_up = false;
            }
            return;
        }
        let at = self.push(Stat::of(&meta), content, xattrs, parent, false);
        self.attach(parent, name, at);
    }

    /// The archive's own root directory (stored as `.`) gives the root its metadata.
    fn set_root(&mut self, item: Item) {
        if item.meta.kind == FileKind::Dir
            && let Some(root) = self.entries.first_mut()
        {
            root.meta = Stat::of(&item.meta);
            root.xattrs = item.xattrs;
        }
    }

    /// A later link of `first`: the same data, counted in its link count.
    fn add_link(&mut self, parent: u32, name: &[u8], first: u32) {
        // A `source` naming a later link, not the first (only a hostile archive does that), still
        // counts towards the first: every link of a file is one inode with one count.
        let first = self
            .entries
            .get(first as usize)
            .and_then(|e| e.meta.link_first())
            .unwrap_or(first);
        let Some(original) = self.entries.get(first as usize) else {
            return;
        };
        let (meta, content, xattrs) = (
            original.meta.clone(),
            original.content.clone(),
            original.xattrs.clone(),
        );
        *self.links.entry(first).or_insert(1) += 1;
        let at = self.push(meta, content, xattrs, parent, false);
        // Every link shares the first one's identity, which makes them one inode in the mount.
        if let Some(entry) = self.entries.get_mut(at as usize) {
            entry.meta.set_link(first);
        }
        self.attach(parent, name, at);
    }

    /// The finished tree: link counts set, listings made safe and sorted.
    pub fn finish(mut self) -> ArchiveTree {
        self.by_name = HashMap::new();
        self.others = HashMap::new();
        let counts: HashMap<u32, u32> = self.links.clone();
        for entry in &mut self.entries {
            if let Some(first) = entry.meta.link_first() {
                entry.meta.nlink = counts.get(&first).copied().unwrap_or(1);
            }
        }
        for (first, count) in &counts {
            if let Some(entry) = self.entries.get_mut(*first as usize) {
                entry.meta.set_link(*first);
                entry.meta.nlink = *count;
            }
        }
        let mut children = HashMap::with_capacity(self.raw_children.len());
        for (dir, raw) in std::mem::take(&mut self.raw_children) {
            let subdirs = raw
                .iter()
                .filter(|(_, at)| {
                    self.entries
                        .get(*at as usize)
                        .is_some_and(|e| e.meta.kind == FileKind::Dir)
                })
                .count();
            if let Some(entry) = self.entries.get_mut(dir as usize) {
                entry.meta.nlink = u32::try_from(subdirs).unwrap_or(u32::MAX).saturating_add(2);
            }
            let mut safe = names::safe_listing(raw, &dir.to_string());
            safe.sort_by(|a, b| a.0.cmp(&b.0));
            children.insert(
                dir,
                safe.into_iter()
                    .map(|(n, at)| (n.into_boxed_slice(), at))
                    .collect(),
            );
        }
        ArchiveTree {
            entries: self.entries,
            children,
        }
    }
}

fn synthetic_dir(time: Timestamp) -> Meta {
    Meta::synthetic(FileKind::Dir, 0o755, 0, time)
}

#[cfg(test)]
mod tests {
    use super::super::items::ChunkRef;
    use super::*;

    fn item(path: &str, kind: FileKind, content: Content) -> Item {
        Item {
            path: path.as_bytes().to_vec(),
            meta: Meta::synthetic(kind, 0o644, 0, Timestamp::EPOCH),
            content,
            xattrs: None,
        }
    }

    #[test]
    fn flat_paths_become_a_tree() {
        let chunks: Arc<[ChunkRef]> = Arc::from([ChunkRef {
            id: [1; 32],
            size: 5,
        }]);
        let mut builder = Builder::new(Timestamp::EPOCH);
        builder.add(item("home/me/a", FileKind::File, Content::File(chunks)));
        builder.add(item("home/me", FileKind::Dir, Content::Dir));
        builder.add(item("home/me/sub", FileKind::Dir, Content::Dir));
        builder.add(item(
            "home/me/b",
            FileKind::File,
            Content::HardlinkTo(b"home/me/a".to_vec().into()),
        ));
        builder.add(item("home/me/..", FileKind::File, Content::Other));
        let tree = builder.finish();
        let home = tree.find(0, b"home").unwrap_or(u32::MAX);
        let me = tree.find(home, b"me").unwrap_or(u32::MAX);
        let names: Vec<&[u8]> = tree.children(me).iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, [&b"a"[..], b"b", b"sub"]);
        let (a, b) = (tree.find(me, b"a"), tree.find(me, b"b"));
        let meta = |at: Option<u32>| tree.entry(at.unwrap_or(u32::MAX)).map(|e| e.meta.to_meta());
        assert_eq!(meta(a).map(|m| m.nlink), Some(2));
        assert_eq!(meta(a).map(|m| m.link_id), meta(b).map(|m| m.link_id));
        assert_eq!(meta(Some(me)).map(|m| (m.nlink, m.perm)), Some((3, 0o644)));
        assert_eq!(tree.path_of(b.unwrap_or(0)), "home/me/b");
    }

    #[test]
    fn a_directory_item_with_a_trailing_slash_is_not_its_own_parent() {
        let mut builder = Builder::new(Timestamp::EPOCH);
        builder.add(item("a/b/", FileKind::Dir, Content::Dir));
        builder.add(item("a/b/x", FileKind::File, Content::Other));
        let tree = builder.finish();
        let a = tree.find(0, b"a").unwrap_or(u32::MAX);
        let b = tree.find(a, b"b").unwrap_or(u32::MAX);
        let names =
            |dir| -> Vec<Vec<u8>> { tree.children(dir).iter().map(|(n, _)| n.to_vec()).collect() };
        assert_eq!(names(a), [b"b".to_vec()]);
        assert_eq!(names(b), [b"x".to_vec()]);
    }

    #[test]
    fn a_link_to_a_link_joins_the_first() {
        let chunks: Arc<[ChunkRef]> = Arc::from([ChunkRef {
            id: [1; 32],
            size: 5,
        }]);
        let mut builder = Builder::new(Timestamp::EPOCH);
        builder.add(item("a", FileKind::File, Content::File(chunks)));
        builder.add(item(
            "b",
            FileKind::File,
            Content::HardlinkTo(b"a".to_vec().into()),
        ));
        builder.add(item(
            "c",
            FileKind::File,
            Content::HardlinkTo(b"b".to_vec().into()),
        ));
        let tree = builder.finish();
        let meta = |name: &[u8]| {
            tree.find(0, name)
                .and_then(|at| tree.entry(at))
                .map(|e| e.meta.to_meta())
        };
        for name in [&b"a"[..], b"b", b"c"] {
            assert_eq!(meta(name).map(|m| m.nlink), Some(3), "{name:?}");
        }
        assert_eq!(meta(b"a").map(|m| m.link_id), meta(b"c").map(|m| m.link_id));
    }
}
