//! The root of a `multiple` view as a directory of its own: one entry per generation (grouped into
//! directories by `host/…` prefixes), `latest`, `.pid`, `.damaged`, same-tree aliases, and
//! re-reading them all.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use super::generations::{self, DAMAGED_NAME, LATEST_NAME, PID_NAME, State};
use super::inodes::{Child, InoKey, Inode, Slot};
use super::{Ino, KernelCache, ROOT_INO, lock, same_tree};
use crate::error::{RepoError, VfsError, VfsResult};
use crate::meta::{FileKind, Meta, Timestamp};
use crate::names;
use crate::repo::{Generation, Repository};

pub const LATEST_INO: Ino = 2;
pub const PID_INO: Ino = 3;
pub const DAMAGED_INO: Ino = 4;

/// How long a refresh waits for the kernel to take the invalidations.
const INVALIDATION_WAIT: Duration = Duration::from_secs(2);

/// What the root shows, and who it says owns its own entries.
#[derive(Debug, Clone, Default)]
pub struct RootOptions {
    /// ROOT inside each generation (components, outermost first).
    pub subtree: Vec<Vec<u8>>,
    /// Show a generation that repeats its predecessor's tree as a symlink to it.
    pub fold_identical: bool,
    /// Show `.damaged`: the repository may serve zeros in place of lost data.
    pub damaged: bool,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What one of the root's own inode numbers stands for.
pub enum RootInode {
    Root,
    Latest,
    Pid,
    Damaged,
    /// A directory that groups generations whose names start with this prefix (`host/…`).
    Group(String),
    /// An aliased generation (by its name): a symlink to the generation whose tree it repeats.
    Alias(String),
}

/// The visible generations and the root directory made of them.
pub struct Root<H> {
    options: RootOptions,
    state: RwLock<Arc<State<H>>>,
    /// Group directories handed to the kernel, by inode; few, so never forgotten.
    groups: Mutex<HashMap<Ino, String>>,
    /// Aliased generations handed to the kernel, by inode: their names.
    aliases: Mutex<HashMap<Ino, String>>,
    /// Held while the repository is re-read, so that an older re-read cannot overwrite a newer one.
    refreshing: Mutex<()>,
    invalidator: OnceLock<Arc<dyn KernelCache>>,
}

impl<H: Clone + Send + Sync + 'static> Root<H> {
    /// The root over the generations `repo` holds now.
    pub fn new<R: Repository<Handle = H>>(repo: &R, options: RootOptions) -> Root<H> {
        let state = generations::visible(repo, &options.subtree, options.fold_identical);
        Root {
            options,
            state: RwLock::new(Arc::new(state)),
            groups: Mutex::new(HashMap::new()),
            aliases: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(()),
            invalidator: OnceLock::new(),
        }
    }

    /// The visible generations as of the last refresh.
    pub fn state(&self) -> Arc<State<H>> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_kernel_cache(&self, invalidator: Arc<dyn KernelCache>) {
        let _ = self.invalidator.set(invalidator);
    }

    /// What `ino` stands for if it is one of the root's own inodes.
    pub fn target(&self, ino: Ino) -> Option<RootInode> {
        match ino {
            ROOT_INO => Some(RootInode::Root),
            LATEST_INO => Some(RootInode::Latest),
            PID_INO => Some(RootInode::Pid),
            DAMAGED_INO if self.options.damaged => Some(RootInode::Damaged),
            _ => {
                if let Some(prefix) = lock(&self.groups).get(&ino).cloned() {
                    return Some(RootInode::Group(prefix));
                }
                lock(&self.aliases).get(&ino).cloned().map(RootInode::Alias)
            }
        }
    }

    /// The path of a group directory the kernel was given (`host`, `host/sub`).
    pub fn group_path(&self, ino: Ino) -> Option<Vec<u8>> {
        lock(&self.groups).get(&ino).map(|p| p.clone().into_bytes())
    }

    /// The attributes of one of the root's own inodes.
    pub fn meta(&self, which: &RootInode) -> VfsResult<Meta> {
        let state = self.state();
        Ok(match which {
            RootInode::Root => {
                let mut meta = Meta::synthetic(FileKind::Dir, 0o555, 0, state.refreshed);
                meta.nlink = u32::try_from(state.generations.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(2);
                self.owned(meta)
            }
            RootInode::Group(prefix) => {
                let newest = state
                    .generations
                    .iter()
                    .filter(|g| under(prefix, &g.generation.name).is_some())
                    .map(|g| g.generation.end)
                    .max()
                    .unwrap_or(state.refreshed);
                self.owned(Meta::synthetic(FileKind::Dir, 0o555, 0, newest))
            }
            RootInode::Latest => {
                let latest = state.latest().ok_or(VfsError::NOT_FOUND)?;
                let size = latest.generation.name.len() as u64;
                self.owned(Meta::synthetic(
                    FileKind::Symlink,
                    0o777,
                    size,
                    latest.generation.end,
                ))
            }
            RootInode::Alias(name) => self.alias_link(&state, name)?.1,
            // Its mtime is the moment of asking: see `Layout::getattr`.
            RootInode::Pid => self.owned(Meta::synthetic(
                FileKind::File,
                0o444,
                self.pid_text().len() as u64,
                Timestamp::now(),
            )),
            // Its size is what the layout's zero log holds: see `file_meta`.
            RootInode::Damaged => self.file_meta(0),
        })
    }

    /// The attributes of one of the root's own files, of `size` bytes.
    pub fn file_meta(&self, size: u64) -> Meta {
        let refreshed = self.state().refreshed;
        self.owned(Meta::synthetic(FileKind::File, 0o444, size, refreshed))
    }

    /// The target of `latest` or of an alias.
    pub fn readlink(&self, which: &RootInode) -> VfsResult<Vec<u8>> {
        let state = self.state();
        match which {
            RootInode::Latest => {
                let latest = state.latest().ok_or(VfsError::NOT_FOUND)?;
                Ok(latest.generation.name.clone().into_bytes())
            }
            RootInode::Alias(name) => Ok(self.alias_link(&state, name)?.0.into_bytes()),
            _ => Err(VfsError::INVALID_ARGUMENT),
        }
    }

    /// What `.pid` holds.
    pub fn pid_text(&self) -> Vec<u8> {
        format!("{}\n", self.options.pid).into_bytes()
    }

    /// The entries of the root or of a group: generations, groups, and at the root `latest` and
    /// `.pid`.
    pub fn children(&self, dir: &RootInode) -> VfsResult<Vec<Child<H>>> {
        let prefix = prefix_of(dir)?;
        let state = self.state();
        let mut children: Vec<Child<H>> = Vec::new();
        let mut groups_seen = HashSet::new();
        for g in &state.generations {
            let Some(rest) = under(prefix, &g.generation.name) else {
                continue;
            };
            match rest.split_once('/') {
                Some((group, _)) => {
                    if groups_seen.insert(group.to_string()) {
                        let ino = self.group_ino(&join(prefix, group));
                        children.push(fixed(group.as_bytes(), FileKind::Dir, ino));
                    }
                }
                None if g.alias.is_some() => {
                    let ino = self.alias_ino(&g.generation);
                    children.push(fixed(rest.as_bytes(), FileKind::Symlink, ino));
                }
                None => children.push(generation_child(rest.as_bytes(), g)),
            }
        }
        if prefix.is_empty() {
            if state.latest().is_some() {
                children.push(fixed(LATEST_NAME, FileKind::Symlink, LATEST_INO));
            }
            children.push(fixed(PID_NAME, FileKind::File, PID_INO));
            if self.options.damaged {
                children.push(fixed(DAMAGED_NAME, FileKind::File, DAMAGED_INO));
            }
        }
        Ok(children)
    }

    /// Looks `name` up in the root or in a group directory.
    pub fn lookup(&self, dir: &RootInode, name: &[u8]) -> VfsResult<Child<H>> {
        let prefix = prefix_of(dir)?;
        if prefix.is_empty() && name == LATEST_NAME {
            return Ok(fixed(name, FileKind::Symlink, LATEST_INO));
        }
        if prefix.is_empty() && name == PID_NAME {
            return Ok(fixed(name, FileKind::File, PID_INO));
        }
        if prefix.is_empty() && name == DAMAGED_NAME && self.options.damaged {
            return Ok(fixed(name, FileKind::File, DAMAGED_INO));
        }
        if !names::is_plain(name) {
            return Err(VfsError::NOT_FOUND);
        }
        let name = std::str::from_utf8(name).map_err(|_| VfsError::NOT_FOUND)?;
        let full = join(prefix, name);
        let state = self.state();
        if let Some(view) = state.find(full.as_bytes()) {
            if view.alias.is_some() {
                let ino = self.alias_ino(&view.generation);
                return Ok(fixed(name.as_bytes(), FileKind::Symlink, ino));
            }
            return Ok(generation_child(name.as_bytes(), view));
        }
        let grouped = state
            .generations
            .iter()
            .any(|g| under(&full, &g.generation.name).is_some_and(|r| !r.is_empty()));
        if !grouped {
            return Err(VfsError::NOT_FOUND);
        }
        Ok(fixed(name.as_bytes(), FileKind::Dir, self.group_ino(&full)))
    }

    /// Re-reads the repository, calls `fresh` with what it shows now, and makes the kernel forget
    /// what changed at the root.
    pub fn reread<R: Repository<Handle = H>>(
        &self,
        repo: &R,
        fresh: impl FnOnce(&State<H>),
    ) -> Result<(), RepoError> {
        let _one_at_a_time = lock(&self.refreshing);
        repo.refresh()?;
        let new = Arc::new(generations::visible(
            repo,
            &self.options.subtree,
            self.options.fold_identical,
        ));
        let old = std::mem::replace(
            &mut *self.state.write().unwrap_or_else(|p| p.into_inner()),
            new.clone(),
        );
        tracing::info!(generations = new.generations.len(), "repository re-read");
        fresh(&new);
        let Some(invalidator) = self.invalidator.get().cloned() else {
            return Ok(());
        };
        let gone: Vec<Vec<u8>> = old
            .generations
            .iter()
            .filter(|g| {
                new.find(g.generation.name.as_bytes())
                    .is_none_or(|f| f.ino != g.ino)
            })
            .map(|g| {
                g.generation
                    .name
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec()
            })
            .collect();
        let groups: Vec<Ino> = lock(&self.groups).keys().copied().collect();
        // The kernel takes the root's lock to invalidate; a request that holds it may be waiting for
        // this very thread (one worker, or all of them busy), so invalidate from another thread and
        // wait only a bounded time: the kernel caches the root for ROOT_TTL at most anyway.
        let (done, finished) = std::sync::mpsc::channel();
        let invalidating = std::thread::Builder::new().spawn(move || {
            for name in gone {
                invalidator.entry(ROOT_INO, &name);
            }
            for group in groups {
                invalidator.inode(group);
            }
            invalidator.entry(ROOT_INO, LATEST_NAME);
            invalidator.inode(LATEST_INO);
            invalidator.inode(ROOT_INO);
            let _ = done.send(());
        });
        match invalidating {
            Ok(_) => {
                let _ = finished.recv_timeout(INVALIDATION_WAIT);
            }
            Err(err) => tracing::warn!(
                "cannot start a thread to refresh the kernel's view ({err}); the root shows the \
                 new generations within a second anyway"
            ),
        }
        Ok(())
    }

    fn owned(&self, mut meta: Meta) -> Meta {
        meta.uid = self.options.uid;
        meta.gid = self.options.gid;
        meta
    }

    /// The inode of the group directory `prefix`, registered so that the kernel can use it.
    fn group_ino(&self, prefix: &str) -> Ino {
        let mut key = b"\0group/".to_vec();
        key.extend_from_slice(prefix.as_bytes());
        let ino = InoKey::child(ROOT_INO, &key).ino;
        lock(&self.groups).insert(ino, prefix.to_string());
        ino
    }

    /// The inode of an aliased generation's symlink, registered so that the kernel can use it.
    fn alias_ino(&self, generation: &Generation) -> Ino {
        let mut key = b"\0alias/".to_vec();
        key.extend_from_slice(generation.id.as_bytes());
        let ino = InoKey::child(ROOT_INO, &key).ino;
        lock(&self.aliases).insert(ino, generation.name.clone());
        ino
    }

    /// An aliased generation's symlink target and its metadata.
    fn alias_link(&self, state: &State<H>, name: &str) -> VfsResult<(String, Meta)> {
        let view = state.find(name.as_bytes()).ok_or(VfsError::NOT_FOUND)?;
        let target = view.alias.as_deref().ok_or(VfsError::NOT_FOUND)?;
        let link = same_tree::relative_link(name, target);
        let meta = Meta::synthetic(
            FileKind::Symlink,
            0o777,
            link.len() as u64,
            view.generation.end,
        );
        Ok((link, self.owned(meta)))
    }
}

/// The name prefix of the generations a root directory lists ("" for the root itself).
fn prefix_of(dir: &RootInode) -> VfsResult<&str> {
    match dir {
        RootInode::Root => Ok(""),
        RootInode::Group(prefix) => Ok(prefix),
        _ => Err(VfsError::NOT_DIR),
    }
}

/// A generation's directory as an entry of the root or of a group.
fn generation_child<H: Clone>(name: &[u8], view: &generations::GenView<H>) -> Child<H> {
    Child::Node {
        name: name.to_vec(),
        key: InoKey::child(ROOT_INO, view.generation.id.as_bytes()),
        inode: Inode::Node(Arc::new(Slot {
            generation: view.ino,
            node: view.root.clone(),
        })),
    }
}

fn fixed<H>(name: &[u8], kind: FileKind, ino: Ino) -> Child<H> {
    Child::Fixed {
        name: name.to_vec(),
        kind,
        ino,
    }
}

/// What follows `prefix/` in a generation's name (all of it for the root's prefix "").
fn under<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(name);
    }
    name.strip_prefix(prefix)?.strip_prefix('/')
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}
