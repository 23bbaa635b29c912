//! The borg backend: every archive of a borg 1.x repository is a generation. Objects come from
//! `store` (a local repository's segments and index, or `borg serve` over ssh through `rpc`;
//! opened by the key either way), archives from `archives`, each archive's tree from its item
//! stream (`stream`, `items`, `tree`; built on first use, the last few kept by `recent`), bytes
//! from `files`.

mod acl;
mod archives;
mod compress;
pub mod config;
mod crypto;
mod files;
mod filter;
mod hashindex;
#[cfg(test)]
mod hostile;
mod items;
mod kdf_argon2;
mod key;
mod keyfile;
mod location;
mod lock;
mod msgpack;
mod objects;
mod open;
mod password;
mod prefetch;
mod readthrough;
mod recent;
#[cfg(unix)]
mod rpc;
#[cfg(unix)]
mod rpcpipe;
#[cfg(unix)]
mod rpcwire;
mod segments;
mod stat;
mod store;
mod stream;
mod tree;
mod xzsize;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

use self::archives::{ArchiveInfo, ArchiveRef};
use self::files::{BorgReader, ChunkCache};
use self::items::Content;
use self::lock::BorgLock;
use self::prefetch::Prefetcher;
use self::recent::{RecentTrees, RootSlot};
use self::store::Store;
use self::tree::{ArchiveTree, Builder};
use super::naming;
use super::{Generation, Listing, Repository, Xattrs};
use crate::error::{OpenError, RepoError};
use crate::meta::{FileKind, Meta, Node};

pub use self::config::looks_like_borg;
pub use self::files::BorgReader as Reader;
pub use self::filter::ArchiveFilter;
pub use self::location::{BorgLocation, RemoteLocation};

/// How to open a borg repository.
#[derive(Clone, Debug)]
pub struct BorgOptions {
    pub location: BorgLocation,
    /// Bytes of decoded file chunks kept in memory.
    pub cache_size: u64,
    /// Hold borg's shared lock while open (not for read-only media); for a remote repository,
    /// `borg serve` holds it.
    pub lock: bool,
    /// The archives shown.
    pub filter: ArchiveFilter,
    /// How generation directories are named (`naming`; `{name}` by default).
    pub template: String,
    /// Serve zeros for lost chunks instead of failing the read.
    pub allow_damaged: bool,
}

/// How long opening waits for a borg writer (`create`, `prune`, `compact`) to finish: borg's own
/// default `--lock-wait`.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A node of an archive. An archive's root is handed out before its tree is built (the mount
/// asks for every root at start), so the tree is decoded only when the archive is entered.
#[derive(Clone)]
pub enum BorgHandle {
    Root(Arc<RootSlot>),
    /// An entry of a built tree, by its index.
    Entry {
        tree: Arc<ArchiveTree>,
        at: u32,
    },
}

/// The archives of the manifest last read, and the generations they make.
type Catalogue = (Arc<[ArchiveRef]>, Arc<[Generation]>);

/// A borg repository opened read-only.
pub struct BorgRepo {
    shown: String,
    store: Arc<Store>,
    archives: RwLock<Catalogue>,
    trees: RecentTrees,
    /// What each archive's metadata said, read once per archive.
    infos: Mutex<HashMap<[u8; 32], ArchiveInfo>>,
    filter: ArchiveFilter,
    template: String,
    /// With `--allow-damaged`: reads around lost chunks.
    salvager: Option<files::Salvager>,
    chunks: Arc<ChunkCache>,
    ahead: Prefetcher,
    /// Borg's shared lock, given back at `close` (or when the repository is dropped).
    lock: Mutex<Option<BorgLock>>,
}

impl BorgRepo {
    /// Opens the repository (asking for its passphrase if needed) and reads its archive list.
    pub fn open(options: &BorgOptions) -> Result<BorgRepo, OpenError> {
        naming::check_template(&options.template, naming::BORG_PLACEHOLDERS)
            .map_err(OpenError::Usage)?;
        let (store, lock, shown) = match &options.location {
            BorgLocation::Local(path) => {
                // Taken before anything is read, so that no compact removes segments meanwhile;
                // a folder that is no borg repository gets its own error from `open_store`, not
                // a lock error.
                let lock = match options.lock && path.join("config").is_file() {
                    true => Some(BorgLock::acquire(path, LOCK_WAIT)?),
                    false => None,
                };
                (open::open_store(path)?, lock, path.display().to_string())
            }
            #[cfg(unix)]
            BorgLocation::Remote(remote) => (
                open::open_remote(remote, options.lock)?,
                None,
                remote.to_string(),
            ),
            #[cfg(not(unix))]
            BorgLocation::Remote(remote) => {
                return Err(OpenError::Usage(format!(
                    "{remote}: remote borg repositories are not supported on this system"
                )));
            }
        };
        let infos = Mutex::new(HashMap::new());
        let (archives, generations) = catalogue(&store, &options.filter, &options.template, &infos)
            .map_err(|e| OpenError::Repository(format!("borg repository {shown}: {e}")))?;
        let store = Arc::new(store);
        let chunks = Arc::new(ChunkCache::new(options.cache_size));
        Ok(BorgRepo {
            shown,
            ahead: Prefetcher::new(store.clone(), chunks.clone()),
            store,
            archives: RwLock::new((archives, generations)),
            trees: RecentTrees::default(),
            infos,
            filter: options.filter.clone(),
            template: options.template.clone(),
            salvager: options.allow_damaged.then(files::Salvager::default),
            chunks,
            lock: Mutex::new(lock),
        })
    }

    /// Moves the lock to this process: called after a daemon forks (a no-op without one).
    pub fn adopt_lock(&self) -> Result<(), OpenError> {
        match self.lock.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(lock) => lock.adopt(),
            None => Ok(()),
        }
    }

    fn archive(&self, generation: &Generation) -> Option<ArchiveRef> {
        let archives = self
            .archives
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone();
        archives
            .iter()
            .find(|a| config::hex(&a.id) == generation.id)
            .cloned()
    }

    /// The tree of `archive`, decoded on first use.
    fn tree(&self, archive: &ArchiveRef) -> Result<Arc<ArchiveTree>, RepoError> {
        self.trees.get_or_build(&archive.id, || {
            let started = std::time::Instant::now();
            let ids = archives::item_ids(&self.store, archive).map_err(RepoError::Damaged)?;
            let mut builder = Builder::new(archive.time);
            let mut skipped = 0usize;
            stream::for_each_item(&self.store, &ids, &mut |value| match items::parse(&value) {
                Ok(item) => builder.add(item),
                Err(_) => skipped += 1,
            })
            .map_err(|e| RepoError::Damaged(format!("archive {}: {e}", archive.name)))?;
            if skipped > 0 {
                tracing::warn!(archive = %archive.name, skipped, "items that are not borg items skipped");
            }
            let tree = builder.finish();
            tracing::info!(archive = %archive.name, entries = tree.len(), ms = started.elapsed().as_millis() as u64, "archive tree built");
            Ok(tree)
        })
    }

    fn node(&self, tree: &Arc<ArchiveTree>, at: u32) -> Result<Node<BorgHandle>, RepoError> {
        let entry = tree.entry(at).ok_or(RepoError::NotFound)?;
        Ok(Node {
            meta: entry.meta.to_meta(),
            handle: BorgHandle::Entry {
                tree: tree.clone(),
                at,
            },
        })
    }

    /// The tree a handle lies in (built now for a root) and its entry's index.
    fn located(&self, handle: &BorgHandle) -> Result<(Arc<ArchiveTree>, u32), RepoError> {
        match handle {
            BorgHandle::Root(slot) => Ok((slot.tree(|archive| self.tree(archive))?, 0)),
            BorgHandle::Entry { tree, at } => Ok((tree.clone(), *at)),
        }
    }

    /// A directory's tree and index, or `NotDir`.
    fn dir(&self, handle: &BorgHandle) -> Result<(Arc<ArchiveTree>, u32), RepoError> {
        let (tree, at) = self.located(handle)?;
        match tree.entry(at).map(|e| &e.content) {
            Some(Content::Dir) => Ok((tree, at)),
            Some(_) => Err(RepoError::NotDir),
            None => Err(RepoError::NotFound),
        }
    }
}

/// The archives `filter` keeps and their generations, each archive's metadata read once (a
/// damaged one is logged, and its generation shown with what the manifest says; `--host` then
/// leaves it out, as its host is unknown).
fn catalogue(
    store: &Store,
    filter: &ArchiveFilter,
    template: &str,
    infos: &Mutex<HashMap<[u8; 32], ArchiveInfo>>,
) -> Result<Catalogue, String> {
    let mut archives = archives::read_manifest(store, &|name| filter.keeps_name(name))?;
    let mut infos = infos.lock().unwrap_or_else(|p| p.into_inner());
    infos.retain(|id, _| archives.iter().any(|a| a.id == *id));
    // Fetched together: from a server, their requests are in flight at once.
    let missing: Vec<&ArchiveRef> = archives
        .iter()
        .filter(|a| !infos.contains_key(&a.id))
        .collect();
    let ids: Vec<[u8; 32]> = missing.iter().map(|a| a.id).collect();
    for (archive, opened) in missing.into_iter().zip(store.get_many(&ids)) {
        let info = archives::info(store, archive, opened).unwrap_or_else(|err| {
            tracing::warn!("{err}");
            ArchiveInfo::default()
        });
        infos.insert(archive.id, info);
    }
    archives.retain(|a| filter.keeps_host(infos.get(&a.id).and_then(|i| i.host.as_deref())));
    let generations = archives::generations(&archives, template, &|a| {
        infos.get(&a.id).cloned().unwrap_or_default()
    });
    Ok((archives.into(), generations))
}

impl Repository for BorgRepo {
    type Handle = BorgHandle;
    type Reader = BorgReader;

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn generations(&self) -> Arc<[Generation]> {
        self.archives
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    fn close(&self) {
        drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()).take());
        self.store.close();
    }

    fn refresh(&self) -> Result<(), RepoError> {
        self.store.refresh().map_err(RepoError::Damaged)?;
        let catalogue = catalogue(&self.store, &self.filter, &self.template, &self.infos)
            .map_err(RepoError::Damaged)?;
        *self.archives.write().unwrap_or_else(|p| p.into_inner()) = catalogue;
        Ok(())
    }

    fn root(&self, generation: &Generation) -> Result<Node<BorgHandle>, RepoError> {
        let archive = self.archive(generation).ok_or(RepoError::NotFound)?;
        Ok(Node {
            meta: Meta::synthetic(FileKind::Dir, 0o755, 0, archive.time),
            handle: BorgHandle::Root(Arc::new(RootSlot::new(archive))),
        })
    }

    fn list(&self, dir: &BorgHandle) -> Result<Listing<BorgHandle>, RepoError> {
        let (tree, at) = self.dir(dir)?;
        tree.children(at)
            .iter()
            .map(|(name, at)| Ok((name.to_vec(), self.node(&tree, *at)?)))
            .collect()
    }

    fn lookup(&self, dir: &BorgHandle, name: &[u8]) -> Result<Node<BorgHandle>, RepoError> {
        let (tree, at) = self.dir(dir)?;
        let found = tree.find(at, name).ok_or(RepoError::NotFound)?;
        self.node(&tree, found)
    }

    fn content_key(&self, node: &Node<BorgHandle>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        let content = match &node.handle {
            BorgHandle::Entry { tree, at } => tree.entry(*at).map(|e| &e.content),
            BorgHandle::Root(_) => None,
        };
        match content {
            Some(Content::File(chunks)) => (0u8, node.meta.size, &**chunks).hash(&mut hasher),
            Some(Content::Link(target)) => (1u8, &**target).hash(&mut hasher),
            _ => (2u8, node.meta.kind, node.meta.rdev).hash(&mut hasher),
        }
        hasher.finish()
    }

    fn readlink(&self, link: &BorgHandle) -> Result<Vec<u8>, RepoError> {
        let (tree, at) = self.located(link)?;
        match tree.entry(at).map(|e| &e.content) {
            Some(Content::Link(target)) => Ok(target.to_vec()),
            _ => Err(RepoError::NotFound),
        }
    }

    fn xattrs(&self, node: &BorgHandle) -> Result<Xattrs, RepoError> {
        let (tree, at) = self.located(node)?;
        let entry = tree.entry(at).ok_or(RepoError::NotFound)?;
        Ok(entry.xattrs.as_deref().cloned().unwrap_or_default())
    }

    fn open(&self, file: &Node<BorgHandle>) -> Result<BorgReader, RepoError> {
        let (tree, at) = self.located(&file.handle)?;
        match tree.entry(at).map(|e| &e.content) {
            Some(Content::File(chunks)) => Ok(BorgReader::new(chunks.clone(), (tree.clone(), at))),
            _ => Err(RepoError::NotFound),
        }
    }

    fn stored_bytes(&self) -> Option<u64> {
        self.store.stored_bytes()
    }

    fn read(&self, file: &BorgReader, offset: u64, size: u32) -> Result<Bytes, RepoError> {
        self.read_noting_zeros(file, offset, size, &mut Vec::new())
    }

    fn may_serve_zeros(&self) -> bool {
        self.salvager.is_some()
    }

    fn read_noting_zeros(
        &self,
        file: &BorgReader,
        offset: u64,
        size: u32,
        zeroed: &mut Vec<std::ops::Range<u64>>,
    ) -> Result<Bytes, RepoError> {
        let on_lost = files::OnLost {
            salvage: self.salvager.as_ref(),
            zeroed,
        };
        files::read(
            &self.store,
            &self.chunks,
            &self.ahead,
            file,
            (offset, size),
            on_lost,
        )
    }
}
