//! Open files and directories: the handles given out by `open` and `opendir`, the readers and
//! listings of files and directories the kernel reads by inode without opening them (FUSE's
//! zero-message open and opendir), and the listing of a directory into the kernel's buffer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::inodes::{Child, InoKey, Inode, Slot};
use super::{DirEntry, Entry, Ino, ROOT_INO, lock};
use crate::error::{VfsError, VfsResult};
use crate::meta::FileKind;
use crate::repo::Listing;

/// Files read without an open handle whose readers are kept, by inode. A folder backend's reader
/// holds an open file: this many must stay well inside the usual limit of 1024 descriptors.
const READERS_KEPT: usize = 128;
/// Directories listed without an open handle whose listings are kept, by inode: one for each
/// listing in progress is enough (a listing holds a tree the repository's cache shares).
const LISTINGS_KEPT: usize = 64;

/// What reading an open file goes through.
pub enum OpenFile<R> {
    /// `.pid`, whose text the root makes.
    Pid,
    /// `.damaged`, as it was when opened: one open reads one version of it.
    Damaged(Bytes),
    Data(R),
}

/// An open directory: what it listed at opendir.
pub enum OpenDir<H> {
    /// A directory of a generation (inode `ino`): the repository's listing itself, shared with
    /// the repository's cache; an entry becomes an inode only when readdirplus returns it.
    Node {
        ino: Ino,
        generation: Ino,
        listing: Listing<H>,
    },
    /// The root, a group or a directory of the versions view: the entries made for it.
    Made(Vec<Child<H>>),
}

impl<H: Clone> OpenDir<H> {
    pub fn len(&self) -> usize {
        match self {
            OpenDir::Node { listing, .. } => listing.len(),
            OpenDir::Made(children) => children.len(),
        }
    }

    /// Entry `index` as a plain readdir shows it: name, type and inode number.
    pub fn entry(&self, index: usize) -> Option<(&[u8], FileKind, Ino)> {
        match self {
            OpenDir::Node {
                ino,
                generation,
                listing,
            } => {
                let (name, node) = listing.get(index)?;
                let key = InoKey::for_node(*generation, *ino, name, node);
                Some((name, node.meta.kind, key.ino))
            }
            OpenDir::Made(children) => {
                let child = children.get(index)?;
                Some((child.name(), child.kind(), child.ino()))
            }
        }
    }

    /// Entry `index` as what it stands for, for readdirplus to remember.
    pub fn child(&self, index: usize) -> Option<Child<H>> {
        match self {
            OpenDir::Node {
                ino,
                generation,
                listing,
            } => {
                let (name, node) = listing.get(index)?;
                Some(Child::Node {
                    name: name.clone(),
                    key: InoKey::for_node(*generation, *ino, name, node),
                    inode: Inode::Node(Arc::new(Slot {
                        generation: *generation,
                        node: node.clone(),
                    })),
                })
            }
            OpenDir::Made(children) => children.get(index).cloned(),
        }
    }
}

/// The handle tables of a mount. `R` is the repository's reader, `H` its node handle.
pub struct Handles<R, H> {
    files: Mutex<HashMap<u64, Arc<OpenFile<R>>>>,
    dirs: Mutex<HashMap<u64, Arc<OpenDir<H>>>>,
    /// Readers of files read by inode (`NO_HANDLE`), dropped when the kernel forgets the inode.
    by_inode: quick_cache::sync::Cache<Ino, Arc<OpenFile<R>>>,
    /// Listings of directories listed without an open handle, dropped when the kernel forgets them.
    dirs_by_inode: quick_cache::sync::Cache<Ino, Arc<OpenDir<H>>>,
    next_fh: AtomicU64,
}

impl<R, H> Handles<R, H>
where
    R: Send + Sync + 'static,
    H: Send + Sync + 'static,
{
    pub fn new() -> Handles<R, H> {
        Handles {
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            by_inode: quick_cache::sync::Cache::new(READERS_KEPT),
            dirs_by_inode: quick_cache::sync::Cache::new(LISTINGS_KEPT),
            // Real handles start at 1: 0 is `NO_HANDLE`.
            next_fh: AtomicU64::new(1),
        }
    }

    fn next_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    /// A new handle for an opened file.
    pub fn open_file(&self, file: OpenFile<R>) -> u64 {
        let fh = self.next_fh();
        lock(&self.files).insert(fh, Arc::new(file));
        fh
    }

    pub fn file(&self, fh: u64) -> VfsResult<Arc<OpenFile<R>>> {
        lock(&self.files)
            .get(&fh)
            .cloned()
            .ok_or(VfsError::BAD_HANDLE)
    }

    /// Whether `fh` is an open `.pid`.
    pub fn is_pid(&self, fh: u64) -> bool {
        matches!(
            lock(&self.files).get(&fh).map(|f| &**f),
            Some(OpenFile::Pid)
        )
    }

    pub fn release_file(&self, fh: u64) -> VfsResult<()> {
        lock(&self.files)
            .remove(&fh)
            .map(|_| ())
            .ok_or(VfsError::BAD_HANDLE)
    }

    /// The reader of a file read without an open handle, opened by `open` at its first read.
    pub fn by_inode(
        &self,
        ino: Ino,
        open: impl FnOnce() -> VfsResult<OpenFile<R>>,
    ) -> VfsResult<Arc<OpenFile<R>>> {
        self.by_inode
            .get_or_insert_with(&ino, || open().map(Arc::new))
    }

    /// The kernel forgot `ino`: the number may later stand for another node, so its reader goes.
    pub fn forget(&self, ino: Ino) {
        self.by_inode.remove(&ino);
        self.dirs_by_inode.remove(&ino);
    }

    /// The listing of a directory listed without an open handle: made by `list` when `fresh` (a
    /// listing from its start, as after an opendir) or when none is kept, else the one kept.
    pub fn dir_by_inode(
        &self,
        ino: Ino,
        fresh: bool,
        list: impl FnOnce() -> VfsResult<OpenDir<H>>,
    ) -> VfsResult<Arc<OpenDir<H>>> {
        if let Some(dir) = self.dirs_by_inode.get(&ino).filter(|_| !fresh) {
            return Ok(dir);
        }
        let dir = Arc::new(list()?);
        self.dirs_by_inode.insert(ino, dir.clone());
        Ok(dir)
    }

    /// A new handle for a directory listing.
    pub fn open_dir(&self, dir: OpenDir<H>) -> u64 {
        let fh = self.next_fh();
        lock(&self.dirs).insert(fh, Arc::new(dir));
        fh
    }

    pub fn dir(&self, fh: u64) -> VfsResult<Arc<OpenDir<H>>> {
        lock(&self.dirs)
            .get(&fh)
            .cloned()
            .ok_or(VfsError::BAD_HANDLE)
    }

    pub fn release_dir(&self, fh: u64) -> VfsResult<()> {
        lock(&self.dirs)
            .remove(&fh)
            .map(|_| ())
            .ok_or(VfsError::BAD_HANDLE)
    }
}

/// Bytes `offset..offset + size` of `text` (fewer at its end).
pub fn slice_of(text: &[u8], offset: u64, size: u32) -> Bytes {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let end = start.saturating_add(size as usize).min(text.len());
    Bytes::copy_from_slice(&text[start..end])
}

/// What a listing needs of the layout: to remember a child the kernel is given (readdirplus) and
/// to forget it again when the buffer had no room for it.
pub trait Remember<H> {
    fn remember_child(&self, parent: Ino, child: &Child<H>) -> VfsResult<Entry>;
    fn forget(&self, ino: Ino, nlookup: u64);
}

/// What `list_into` gives with each name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Give {
    Names,
    /// Attributes, each entry counted as a lookup.
    Attrs,
    /// Attributes of `.` and `..`, the listing ending after them.
    DotsOnly,
}

/// Lists `dir` (inode `ino`, whose own entry is `own`) from `offset` into `add` until it returns
/// `false`.
pub fn list_into<H: Clone>(
    dir: &OpenDir<H>,
    ino: Ino,
    own: &Entry,
    offset: u64,
    give: Give,
    layout: &dyn Remember<H>,
    add: &mut dyn FnMut(&DirEntry, Option<&Entry>) -> bool,
) {
    let dots = [(&b"."[..], ino), (&b".."[..], ROOT_INO)];
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = match give {
        Give::DotsOnly => dots.len(),
        Give::Names | Give::Attrs => dots.len() + dir.len(),
    };
    let plus = give != Give::Names;
    for index in start..end {
        let next_offset = index as u64 + 1;
        let (entry, plus_entry, counted) = if let Some((name, dot_ino)) = dots.get(index) {
            let entry = DirEntry {
                name: name.to_vec(),
                ino: *dot_ino,
                kind: FileKind::Dir,
                next_offset,
            };
            (entry, plus.then(|| own.clone()), false)
        } else {
            let at = index - dots.len();
            let Some((name, kind, listed_ino)) = dir.entry(at) else {
                break;
            };
            let (plus_entry, counted) = match plus.then(|| dir.child(at)).flatten() {
                Some(child) => {
                    // Failing here would drop entries already counted as lookups: skip this one.
                    let Ok(entry) = layout.remember_child(ino, &child) else {
                        continue;
                    };
                    (Some(entry), matches!(child, Child::Node { .. }))
                }
                None => (None, false),
            };
            let entry = DirEntry {
                name: name.to_vec(),
                ino: plus_entry.as_ref().map_or(listed_ino, |e| e.attr.ino),
                kind,
                next_offset,
            };
            (entry, plus_entry, counted)
        };
        if !add(&entry, plus_entry.as_ref()) {
            if counted {
                layout.forget(entry.ino, 1);
            }
            break;
        }
    }
}
