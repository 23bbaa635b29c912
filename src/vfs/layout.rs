//! The layout of a mount over a repository: the root with one directory per generation, `latest`
//! and `.pid` (view `multiple`, whose root is in `generations`), one generation at the root (view
//! `single`) or all of them merged (view `versions`), optionally of ROOT only.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::inodes::{InoKey, InodeTable, Slot};
use super::usage::{Memo, Usage, measure};
use super::versions::{self, MergedChild, MergedDir, VersionsDir};
use super::{
    Attr, DirEntry, Entry, GenerationSpec, Ino, Invalidator, NO_HANDLE, OpenMode, Opened, ROOT_INO,
    StatFs, VfsTree, XattrReply,
};
use crate::error::{OpenError, RepoError, VfsError, VfsResult};
use crate::meta::{FileKind, Meta, Timestamp};
use crate::names;
use crate::repo::{Generation, Repository};

mod generations;

use generations::{State, generation_xattrs};

/// The symlink to the newest generation.
pub const LATEST_NAME: &[u8] = b"latest";
/// The file that gives the daemon's pid and refreshes the mount when closed.
pub const PID_NAME: &[u8] = b".pid";
const LATEST_INO: Ino = 2;
const PID_INO: Ino = 3;

/// Generation contents never change, so the kernel may cache them for long.
const GENERATION_TTL: Duration = Duration::from_secs(24 * 3600);
/// The root changes at every refresh.
const ROOT_TTL: Duration = Duration::from_secs(1);
const BLOCK_SIZE: u32 = 4096;
/// How long closing `.pid` waits for the kernel to take the invalidations.
const INVALIDATION_WAIT: Duration = Duration::from_secs(2);
/// Files read without an open handle whose readers are kept, by inode. A folder backend's reader
/// holds an open file: this many must stay well inside the usual limit of 1024 descriptors.
const READERS_KEPT: usize = 128;
/// Damaged objects are each logged once; beyond this many the log would only repeat itself.
const MAX_DAMAGED_LOGGED: usize = 10_000;

/// How generations are laid out at the mountpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// One directory per generation, `latest` and `.pid`.
    #[default]
    Multiple,
    /// One generation straight at the mountpoint.
    Single,
    /// Every generation merged into one tree; each file is a directory of its distinct versions.
    Versions,
}

/// What the layout shows and who it says owns its own entries.
#[derive(Debug, Clone, Default)]
pub struct LayoutOptions {
    pub view: View,
    /// The generation of a single view.
    pub generation: GenerationSpec,
    /// Only this path inside each generation is shown (components, outermost first).
    pub root: Vec<Vec<u8>>,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Show a generation that repeats its predecessor's tree as a symlink to it.
    pub fold_identical: bool,
}

/// What an inode the kernel holds stands for: a node of a generation, or a directory of the
/// versions view.
enum Inode<H> {
    Node(Arc<Slot<H>>),
    Merged(Arc<MergedDir<H>>),
    Versions(Arc<VersionsDir<H>>),
}

impl<H> Clone for Inode<H> {
    fn clone(&self) -> Self {
        match self {
            Inode::Node(slot) => Inode::Node(slot.clone()),
            Inode::Merged(dir) => Inode::Merged(dir.clone()),
            Inode::Versions(dir) => Inode::Versions(dir.clone()),
        }
    }
}

impl<H> Inode<H> {
    fn meta(&self) -> &Meta {
        match self {
            Inode::Node(slot) => &slot.node.meta,
            Inode::Merged(dir) => &dir.meta,
            Inode::Versions(dir) => &dir.meta,
        }
    }

    /// Nodes of a generation never change; merged directories gain versions at every refresh.
    fn ttl(&self) -> Duration {
        match self {
            Inode::Node(_) => GENERATION_TTL,
            Inode::Merged(_) | Inode::Versions(_) => ROOT_TTL,
        }
    }
}

/// What an inode number stands for.
enum Target<H> {
    Root,
    /// A folded generation (by its name): a symlink to the generation it repeats.
    Alias(String),
    /// A directory that groups generations whose names start with this prefix (`host/…`).
    Group(String),
    Latest,
    Pid,
    Node(Arc<Slot<H>>),
    Merged(Arc<MergedDir<H>>),
    Versions(Arc<VersionsDir<H>>),
}

enum OpenFile<R> {
    Pid,
    Data(R),
}

/// One entry of an open directory's snapshot.
struct Child<H> {
    name: Vec<u8>,
    kind: FileKind,
    key: InoKey,
    /// What to remember when the entry is returned by readdirplus; `None` for fixed inodes.
    slot: Option<Inode<H>>,
    fixed: Option<Ino>,
}

/// An open directory: the snapshot of its entries taken at opendir.
type OpenDir<H> = Arc<Vec<Child<H>>>;

/// The mount's filesystem over a repository.
pub struct Layout<R: Repository> {
    repo: R,
    options: LayoutOptions,
    state: RwLock<Arc<State<R::Handle>>>,
    inodes: InodeTable<Inode<R::Handle>>,
    files: Mutex<HashMap<u64, Arc<OpenFile<R::Reader>>>>,
    /// Listings of the versions view's merged directories.
    listings: versions::Listings<R::Handle>,
    /// Readers of files read by inode (`NO_HANDLE`), dropped when the kernel forgets the inode.
    readers: quick_cache::sync::Cache<Ino, Arc<OpenFile<R::Reader>>>,
    dirs: Mutex<HashMap<u64, OpenDir<R::Handle>>>,
    next_fh: AtomicU64,
    invalidator: OnceLock<Arc<dyn Invalidator>>,
    /// Held while the repository is re-read, so that an older re-read cannot overwrite a newer one.
    refreshing: Mutex<()>,
    damaged: Mutex<HashSet<String>>,
    /// The generation of a single view.
    single: Option<Generation>,
    /// Group directories handed to the kernel, by inode; few, so never forgotten.
    groups: Mutex<HashMap<Ino, String>>,
    /// Folded generations handed to the kernel, by inode: their names.
    aliases: Mutex<HashMap<Ino, String>>,
    /// What each generation holds, by generation id, where the repository does not record it.
    usage: Mutex<HashMap<String, Usage>>,
    /// Totals of directories the repository can key, shared across generations.
    usage_memo: Mutex<Memo>,
    /// Set at the first `statfs`, which starts the measuring.
    statfs_asked: (Mutex<bool>, std::sync::Condvar),
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<R: Repository> Layout<R> {
    /// Lays out `repo`; fails when there is nothing to show or the chosen generation is missing.
    pub fn new(repo: R, options: LayoutOptions) -> Result<Layout<R>, OpenError> {
        let mut layout = Layout {
            repo,
            options,
            state: RwLock::new(Arc::new(State {
                generations: Vec::new(),
                refreshed: now(),
            })),
            inodes: InodeTable::default(),
            files: Mutex::new(HashMap::new()),
            listings: versions::Listings::new(),
            readers: quick_cache::sync::Cache::new(READERS_KEPT),
            dirs: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            invalidator: OnceLock::new(),
            refreshing: Mutex::new(()),
            damaged: Mutex::new(HashSet::new()),
            single: None,
            groups: Mutex::new(HashMap::new()),
            aliases: Mutex::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
            usage_memo: Mutex::new(Memo::new()),
            statfs_asked: (Mutex::new(false), std::sync::Condvar::new()),
        };
        let state = layout.build_state();
        if state.generations.is_empty() {
            let what = if layout.options.root.is_empty() {
                ""
            } else {
                " that holds ROOT"
            };
            return Err(OpenError::Generation(format!(
                "repository {} has no finished generation{what}",
                layout.repo.describe()
            )));
        }
        match layout.options.view {
            View::Single => layout.single = Some(layout.pin_single(&state)?),
            View::Versions => layout.pin_merged_root(&state),
            View::Multiple => {}
        }
        *layout.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
        Ok(layout)
    }

    /// How many inodes the kernel holds references to.
    #[cfg(test)]
    pub(crate) fn held_inodes(&self) -> usize {
        self.inodes.len()
    }

    /// The repository under the layout.
    pub fn repository(&self) -> &R {
        &self.repo
    }

    fn state(&self) -> Arc<State<R::Handle>> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn multiple(&self) -> bool {
        self.options.view == View::Multiple
    }

    fn target(&self, ino: Ino) -> VfsResult<Target<R::Handle>> {
        if self.multiple() {
            match ino {
                ROOT_INO => return Ok(Target::Root),
                LATEST_INO => return Ok(Target::Latest),
                PID_INO => return Ok(Target::Pid),
                _ => {
                    if let Some(prefix) = lock(&self.groups).get(&ino).cloned() {
                        return Ok(Target::Group(prefix));
                    }
                    if let Some(name) = lock(&self.aliases).get(&ino).cloned() {
                        return Ok(Target::Alias(name));
                    }
                }
            }
        }
        Ok(match self.inodes.get(ino).ok_or(VfsError::NotFound)? {
            Inode::Node(slot) => Target::Node(slot),
            Inode::Merged(dir) => Target::Merged(dir),
            Inode::Versions(dir) => Target::Versions(dir),
        })
    }

    fn node_slot(&self, ino: Ino) -> VfsResult<Arc<Slot<R::Handle>>> {
        match self.target(ino)? {
            Target::Node(slot) => Ok(slot),
            _ => Err(VfsError::InvalidArgument),
        }
    }

    fn owned(&self, mut meta: Meta) -> Meta {
        meta.uid = self.options.uid;
        meta.gid = self.options.gid;
        meta
    }

    /// The xattrs of an inode: the node's own, and on a generation's directory also
    /// `user.genmount.*` saying where the generation came from.
    fn xattrs_of(&self, ino: Ino) -> VfsResult<crate::repo::Xattrs> {
        let Ok(slot) = self.node_slot(ino) else {
            return Ok(Vec::new());
        };
        let mut xattrs = self
            .repo
            .xattrs(&slot.node.handle)
            .map_err(|e| self.fail(e, "xattrs"))?;
        if slot.generation == ino {
            let state = self.state();
            if let Some(view) = state.generations.iter().find(|g| g.ino == ino) {
                xattrs.extend(generation_xattrs(&view.generation));
            }
        }
        Ok(xattrs)
    }

    /// Logs a repository failure once per object and turns it into the error the caller sees.
    fn fail(&self, err: RepoError, what: &str) -> VfsError {
        if let RepoError::Damaged(msg) = &err {
            let mut seen = lock(&self.damaged);
            if seen.len() < MAX_DAMAGED_LOGGED && seen.insert(msg.clone()) {
                tracing::warn!(what, "damaged: {msg}");
            }
        }
        err.into()
    }

    fn node_children(&self, ino: Ino, slot: &Slot<R::Handle>) -> VfsResult<Vec<Child<R::Handle>>> {
        if slot.node.meta.kind != FileKind::Dir {
            return Err(VfsError::NotDir);
        }
        let raw = self
            .repo
            .list(&slot.node.handle)
            .map_err(|e| self.fail(e, "list"))?;
        let listing = names::safe_listing(raw, "directory");
        Ok(listing
            .into_iter()
            .map(|(name, node)| Child {
                key: InoKey::for_node(slot.generation, ino, &name, &node),
                kind: node.meta.kind,
                slot: Some(Inode::Node(Arc::new(Slot {
                    generation: slot.generation,
                    node,
                }))),
                fixed: None,
                name,
            })
            .collect())
    }

    /// The entries of a merged directory of the versions view.
    fn merged_children(&self, ino: Ino, dir: &MergedDir<R::Handle>) -> Vec<Child<R::Handle>> {
        self.listings
            .children(&self.repo, dir)
            .iter()
            .map(|(name, child)| Child {
                key: InoKey::child(ino, name),
                kind: FileKind::Dir,
                slot: Some(merged_inode(child)),
                fixed: None,
                name: name.clone(),
            })
            .collect()
    }

    /// Looks `name` up in a merged directory of the versions view.
    fn lookup_merged(&self, ino: Ino, dir: &MergedDir<R::Handle>, name: &[u8]) -> VfsResult<Entry> {
        let listing = self.listings.children(&self.repo, dir);
        let (_, child) = listing
            .iter()
            .find(|(shown, _)| shown == name)
            .ok_or(VfsError::NotFound)?;
        Ok(self.remember_inode(InoKey::child(ino, name), merged_inode(child)))
    }

    /// The versions of one file, as entries of its versions directory.
    fn version_children(&self, ino: Ino, dir: &VersionsDir<R::Handle>) -> Vec<Child<R::Handle>> {
        dir.versions
            .iter()
            .map(|(name, slot)| Child {
                key: InoKey::for_node(slot.generation, ino, name, &slot.node),
                kind: slot.node.meta.kind,
                slot: Some(Inode::Node(Arc::new(slot.clone()))),
                fixed: None,
                name: name.clone(),
            })
            .collect()
    }

    /// Looks `name` up among the children a versions-view directory would list.
    fn lookup_listed(&self, children: Vec<Child<R::Handle>>, name: &[u8]) -> VfsResult<Entry> {
        let child = children
            .into_iter()
            .find(|c| c.name == name)
            .ok_or(VfsError::NotFound)?;
        self.remember_child(&child)
    }

    /// The entry a child of a listing stands for, counted as a lookup.
    fn remember_child(&self, child: &Child<R::Handle>) -> VfsResult<Entry> {
        match (&child.slot, child.fixed) {
            (_, Some(ino)) => self.getattr(ino),
            (Some(inode), None) => Ok(self.remember_inode(child.key, inode.clone())),
            (None, None) => Err(VfsError::NotFound),
        }
    }

    fn remember(&self, key: InoKey, slot: Slot<R::Handle>) -> Entry {
        self.remember_inode(key, Inode::Node(Arc::new(slot)))
    }

    fn remember_inode(&self, key: InoKey, inode: Inode<R::Handle>) -> Entry {
        let meta = inode.meta().clone();
        let ttl = inode.ttl();
        let ino = self.inodes.remember(key, inode);
        Entry {
            attr: Attr { ino, meta },
            ttl,
        }
    }

    /// What reading `ino` goes through, and whether its content may stay in the page cache.
    fn open_file(&self, ino: Ino) -> VfsResult<(OpenFile<R::Reader>, bool)> {
        Ok(match self.target(ino)? {
            Target::Pid => (OpenFile::Pid, false),
            Target::Node(slot) => match slot.node.meta.kind {
                FileKind::File => {
                    let reader = self
                        .repo
                        .open(&slot.node)
                        .map_err(|e| self.fail(e, "open"))?;
                    (OpenFile::Data(reader), true)
                }
                FileKind::Dir => return Err(VfsError::IsDir),
                _ => return Err(VfsError::NotSupported),
            },
            Target::Root | Target::Group(_) | Target::Merged(_) | Target::Versions(_) => {
                return Err(VfsError::IsDir);
            }
            Target::Latest | Target::Alias(_) => return Err(VfsError::InvalidArgument),
        })
    }

    /// The reader of a file read without an open handle, made at its first read.
    fn file_by_inode(&self, ino: Ino) -> VfsResult<Arc<OpenFile<R::Reader>>> {
        self.readers
            .get_or_insert_with(&ino, || self.open_file(ino).map(|(file, _)| Arc::new(file)))
    }

    fn next_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }
}

/// An xattr name the kernel can take: not empty, no NUL (it separates names in a list), ≤ 255 bytes.
fn valid_xattr_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= names::NAME_MAX && !name.contains(&0)
}

fn merged_inode<H>(child: &MergedChild<H>) -> Inode<H> {
    match child {
        MergedChild::Dir(dir) => Inode::Merged(dir.clone()),
        MergedChild::Versions(dir) => Inode::Versions(dir.clone()),
    }
}

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

impl<R: Repository> VfsTree for Layout<R> {
    fn set_invalidator(&self, invalidator: Box<dyn Invalidator>) {
        let _ = self.invalidator.set(Arc::from(invalidator));
    }

    fn shutdown(&self) {
        self.repo.close();
    }

    fn refresh(&self) -> VfsResult<()> {
        match self.options.view {
            View::Multiple | View::Versions => self.reread(),
            View::Single => Ok(()),
        }
    }

    fn lookup(&self, parent: Ino, name: &[u8]) -> VfsResult<Entry> {
        if name.len() > names::NAME_MAX {
            return Err(VfsError::NameTooLong);
        }
        let slot = match self.target(parent)? {
            Target::Root => return self.lookup_generation("", name),
            Target::Group(prefix) => return self.lookup_generation(&prefix, name),
            Target::Merged(dir) => return self.lookup_merged(parent, &dir, name),
            Target::Versions(dir) => {
                return self.lookup_listed(self.version_children(parent, &dir), name);
            }
            Target::Node(slot) => slot,
            _ => return Err(VfsError::NotDir),
        };
        if slot.node.meta.kind != FileKind::Dir {
            return Err(VfsError::NotDir);
        }
        let node = self
            .repo
            .lookup(&slot.node.handle, name)
            .map_err(|e| self.fail(e, "lookup"))?;
        let key = InoKey::for_node(slot.generation, parent, name, &node);
        Ok(self.remember(
            key,
            Slot {
                generation: slot.generation,
                node,
            },
        ))
    }

    fn forget(&self, ino: Ino, nlookup: u64) {
        // The number may later stand for another node: its reader must not outlive it.
        if self.inodes.forget(ino, nlookup) {
            self.readers.remove(&ino);
        }
    }

    fn getattr(&self, ino: Ino) -> VfsResult<Entry> {
        let state = self.state();
        let (meta, ttl) = match self.target(ino)? {
            Target::Root => (self.root_meta(&state), ROOT_TTL),
            Target::Group(prefix) => (self.group_meta(&state, &prefix), ROOT_TTL),
            Target::Latest => (self.latest_meta(&state)?, ROOT_TTL),
            Target::Alias(name) => (self.alias_link(&state, &name)?.1, ROOT_TTL),
            Target::Pid => (self.pid_meta(&state), ROOT_TTL),
            Target::Node(slot) => (slot.node.meta.clone(), GENERATION_TTL),
            Target::Merged(dir) => (dir.meta.clone(), ROOT_TTL),
            Target::Versions(dir) => (dir.meta.clone(), ROOT_TTL),
        };
        Ok(Entry {
            attr: Attr { ino, meta },
            ttl,
        })
    }

    fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>> {
        match self.target(ino)? {
            Target::Latest => {
                let state = self.state();
                let latest = state.latest().ok_or(VfsError::NotFound)?;
                Ok(latest.generation.name.clone().into_bytes())
            }
            Target::Alias(name) => Ok(self.alias_link(&self.state(), &name)?.0.into_bytes()),
            Target::Node(slot) if slot.node.meta.kind == FileKind::Symlink => self
                .repo
                .readlink(&slot.node.handle)
                .map_err(|e| self.fail(e, "readlink")),
            _ => Err(VfsError::InvalidArgument),
        }
    }

    fn open(&self, ino: Ino, mode: OpenMode) -> VfsResult<Opened> {
        if mode.wants_write() {
            return Err(VfsError::ReadOnly);
        }
        let (file, keep_cache) = self.open_file(ino)?;
        let fh = self.next_fh();
        lock(&self.files).insert(fh, Arc::new(file));
        Ok(Opened {
            fh,
            keep_cache,
            direct_io: false,
        })
    }

    fn read(&self, ino: Ino, fh: u64, offset: u64, size: u32) -> VfsResult<Bytes> {
        let file = if fh == NO_HANDLE {
            self.file_by_inode(ino)?
        } else {
            lock(&self.files)
                .get(&fh)
                .cloned()
                .ok_or(VfsError::BadHandle)?
        };
        match &*file {
            OpenFile::Pid => {
                let text = self.pid_text();
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(text.len());
                let end = start.saturating_add(size as usize).min(text.len());
                Ok(Bytes::copy_from_slice(&text[start..end]))
            }
            OpenFile::Data(reader) => self
                .repo
                .read(reader, offset, size)
                .map_err(|e| self.fail(e, "read")),
        }
    }

    fn flush(&self, ino: Ino, fh: u64) -> VfsResult<()> {
        // Every close(2) flushes: only `.pid`'s needs a look at what the inode is.
        if ino != PID_INO {
            return Ok(());
        }
        let is_pid = if fh == NO_HANDLE {
            matches!(self.target(ino), Ok(Target::Pid))
        } else {
            matches!(
                lock(&self.files).get(&fh).map(|f| &**f),
                Some(OpenFile::Pid)
            )
        };
        if is_pid {
            return self.refresh();
        }
        Ok(())
    }

    fn release(&self, _ino: Ino, fh: u64) -> VfsResult<()> {
        if fh == NO_HANDLE {
            return Ok(());
        }
        lock(&self.files)
            .remove(&fh)
            .map(|_| ())
            .ok_or(VfsError::BadHandle)
    }

    fn opendir(&self, ino: Ino) -> VfsResult<Opened> {
        let children = match self.target(ino)? {
            Target::Root => self.generation_children(&self.state(), ""),
            Target::Group(prefix) => self.generation_children(&self.state(), &prefix),
            Target::Node(slot) => self.node_children(ino, &slot)?,
            Target::Merged(dir) => self.merged_children(ino, &dir),
            Target::Versions(dir) => self.version_children(ino, &dir),
            _ => return Err(VfsError::NotDir),
        };
        let fh = self.next_fh();
        lock(&self.dirs).insert(fh, Arc::new(children));
        // Listings that a refresh can change must be read anew at every opendir.
        let fixed = match self.options.view {
            View::Multiple => ino != ROOT_INO,
            View::Single => true,
            View::Versions => false,
        };
        Ok(Opened {
            fh,
            keep_cache: fixed,
            direct_io: false,
        })
    }

    fn readdir(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
        plus: bool,
        add: &mut dyn FnMut(&DirEntry, Option<&Entry>) -> bool,
    ) -> VfsResult<()> {
        let children = lock(&self.dirs)
            .get(&fh)
            .cloned()
            .ok_or(VfsError::BadHandle)?;
        let own = self.getattr(ino)?;
        let dots = [(&b"."[..], ino), (&b".."[..], ROOT_INO)];
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for index in start..dots.len() + children.len() {
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
                let child = &children[index - dots.len()];
                let plus_entry = if plus {
                    // Failing here would drop entries already counted as lookups: skip this one.
                    let Ok(entry) = self.remember_child(child) else {
                        continue;
                    };
                    Some(entry)
                } else {
                    None
                };
                let ino = plus_entry
                    .as_ref()
                    .map_or(child.fixed.unwrap_or(child.key.ino), |e| e.attr.ino);
                let entry = DirEntry {
                    name: child.name.clone(),
                    ino,
                    kind: child.kind,
                    next_offset,
                };
                (entry, plus_entry, plus && child.fixed.is_none())
            };
            if !add(&entry, plus_entry.as_ref()) {
                if counted {
                    self.forget(entry.ino, 1);
                }
                break;
            }
        }
        Ok(())
    }

    fn releasedir(&self, _ino: Ino, fh: u64) -> VfsResult<()> {
        lock(&self.dirs)
            .remove(&fh)
            .map(|_| ())
            .ok_or(VfsError::BadHandle)
    }

    fn getxattr(&self, ino: Ino, name: &[u8], size: u32) -> VfsResult<XattrReply> {
        let value = self
            .xattrs_of(ino)?
            .into_iter()
            .find(|(n, _)| valid_xattr_name(n) && n == name)
            .map(|(_, v)| v);
        XattrReply::for_request(value.ok_or(VfsError::NoXattr)?, size)
    }

    fn listxattr(&self, ino: Ino, size: u32) -> VfsResult<XattrReply> {
        let xattrs = self.xattrs_of(ino)?;
        let mut list = Vec::new();
        for (name, _) in xattrs {
            if valid_xattr_name(&name) {
                list.extend_from_slice(&name);
                list.push(0);
            } else {
                tracing::warn!(ino, name = %String::from_utf8_lossy(&name), "xattr with an impossible name skipped");
            }
        }
        XattrReply::for_request(list, size)
    }

    fn measure(&self) {
        if !*lock(&self.statfs_asked.0) {
            return;
        }
        let state = self.state();
        lock(&self.usage).retain(|id, _| state.generations.iter().any(|g| &g.generation.id == id));
        for view in &state.generations {
            let id = &view.generation.id;
            if view.generation.size.is_some() || lock(&self.usage).contains_key(id) {
                continue;
            }
            let measured = measure(&self.repo, &view.root, &mut lock(&self.usage_memo));
            match measured {
                Ok(usage) => {
                    lock(&self.usage).insert(id.clone(), usage);
                }
                Err(err) => {
                    tracing::debug!(generation = %view.generation.name, "cannot measure: {err}")
                }
            }
        }
    }

    fn wait_for_statfs(&self) {
        let (asked, signal) = &self.statfs_asked;
        let mut asked = lock(asked);
        while !*asked {
            asked = signal.wait(asked).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn statfs(&self, _ino: Ino) -> VfsResult<StatFs> {
        {
            let (asked, signal) = &self.statfs_asked;
            let mut asked = lock(asked);
            if !*asked {
                *asked = true;
                signal.notify_all();
            }
        }
        let state = self.state();
        let shown: Vec<&Generation> = match &self.single {
            Some(generation) => vec![generation],
            None => state.generations.iter().map(|g| &g.generation).collect(),
        };
        let measured = lock(&self.usage);
        let mut total = Usage::default();
        for generation in shown {
            let recorded = generation
                .size
                .zip(generation.files)
                .map(|(bytes, entries)| Usage { bytes, entries });
            let usage = recorded
                .or_else(|| measured.get(&generation.id).copied())
                .unwrap_or_default();
            total.bytes = total.bytes.saturating_add(usage.bytes);
            total.entries = total.entries.saturating_add(usage.entries);
        }
        Ok(StatFs {
            blocks: total.bytes.div_ceil(u64::from(BLOCK_SIZE)),
            files: total.entries,
            block_size: BLOCK_SIZE,
            name_max: names::NAME_MAX as u32,
        })
    }
}
