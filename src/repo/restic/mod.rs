//! The restic backend: every snapshot of a restic repository is a generation. The index comes
//! through rustic_core, generations from `catalogue`, listings from `treeread` (cached by `trees`),
//! bytes from `blobs`.

mod backend;
mod blobs;
mod catalogue;
pub mod crypto;
mod handle;
pub mod location;
mod lock;
pub mod node;
mod packfile;
mod packgate;
pub mod password;
mod prefetch;
mod salvage;
pub mod treejson;
mod treeread;
mod trees;

pub use catalogue::SnapshotFilter;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use rustic_backend::BackendOptions;
use rustic_core::repofile::IndexId;
use rustic_core::{
    Credentials, IndexedFullStatus, Repository as Rustic, RepositoryBackends, RepositoryOptions,
    TreeId,
};

use self::blobs::{BlobRef, BlobStore, FileBlobs};
use self::catalogue::Catalogue;
use self::handle::ResticHandle;
use self::location::{classify, one_line};
use self::lock::ResticLock;
use self::password::PasswordSource;
use self::treeread::TreeSource;
use self::trees::TreeListing;
use super::naming;
use super::{Generation, Listing, Repository, Xattrs};
use crate::error::{OpenError, RepoError};
use crate::meta::{FileKind, Meta, Node};

/// How to open and present a restic repository.
#[derive(Clone, Default)]
pub struct ResticOptions {
    /// The location as rustic_backend reads it: `local:/path`, `rest:http://…`, `rclone:…`.
    pub location: String,
    /// The backend's own options: an OpenDAL service's configuration.
    pub backend_options: BTreeMap<String, String>,
    pub password: PasswordSource,
    /// Credentials already read (before `--daemon` forks); otherwise `password` is asked.
    pub credentials: Option<Credentials>,
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    pub filter: SnapshotFilter,
    pub template: String,
    /// Hold a non-exclusive restic lock while mounted.
    pub lock: bool,
    /// Show the loading of index and snapshots on the terminal.
    pub progress: bool,
    /// Serve zeros for lost data blobs instead of failing the read.
    pub allow_damaged: bool,
    /// Bytes of decrypted file data kept in memory.
    pub cache_size: u64,
}

type Indexed = Rustic<IndexedFullStatus>;

/// The repository with its index in memory, and which index files that index was built from.
struct Loaded {
    repo: Indexed,
    index_ids: BTreeSet<IndexId>,
}

/// An opened file of a snapshot.
pub struct ResticReader {
    blobs: Arc<FileBlobs>,
    size: u64,
    name: ecow::EcoString,
    stream: std::sync::Mutex<prefetch::Stream>,
}

/// Workers that fetch and decrypt ahead of sequential readers. Most of them wait on the disk (or
/// the network) at any time: 8 read big files at 920-1010 MB/s here, 4 at 790 and 2 at 650-760.
const PREFETCH_WORKERS: usize = 8;

/// A restic repository opened read-only.
pub struct ResticRepo {
    shown: String,
    /// The location as given, which may hold credentials: never shown, only scrubbed from errors.
    location: String,
    backends: RepositoryBackends,
    options: RepositoryOptions,
    key: rustic_core::repofile::MasterKey,
    filter: SnapshotFilter,
    template: String,
    catalogue: RwLock<Arc<Catalogue>>,
    /// The index, and the trees read through it.
    trees: Arc<TreeSource>,
    store: Arc<BlobStore>,
    cache_size: u64,
    prefetcher: prefetch::Prefetcher,
    lock: std::sync::Mutex<Option<ResticLock>>,
    /// Ends the backend at unmount (and with it an rclone server).
    closer: backend::Closer,
    /// With `--allow-damaged`: reads around lost blobs.
    salvager: Option<salvage::Salvager>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(|p| p.into_inner()) = value;
}

impl ResticRepo {
    /// A damaged-data error naming `what`, with the location's credentials scrubbed from the text.
    fn damaged(&self, what: &str, err: &rustic_core::RusticError) -> RepoError {
        RepoError::Damaged(format!(
            "{what}: {}",
            one_line(&location::scrub(&err.to_string(), &self.location))
        ))
    }

    /// Opens the repository, reads its snapshots and index, and locks it unless told not to.
    pub fn open(opts: &ResticOptions) -> Result<ResticRepo, OpenError> {
        naming::check_template(&opts.template, naming::RESTIC_PLACEHOLDERS)
            .map_err(OpenError::Usage)?;
        let shown = location::redact(&opts.location);
        let backends = BackendOptions::default()
            .repository(location::for_rustic(&opts.location, cfg!(windows)))
            .options(opts.backend_options.clone())
            .to_backends()
            .map_err(|err| {
                OpenError::Repository(format!(
                    "repository {shown}: {}",
                    one_line(&location::scrub(&err.to_string(), &opts.location))
                ))
            })?;
        let (backends, closer) = backend::wrap(backends);
        let mut options = RepositoryOptions::default().no_cache(opts.no_cache);
        if let Some(dir) = &opts.cache_dir {
            options = options.cache_dir(dir.clone());
        }
        let credentials = match &opts.credentials {
            Some(credentials) => credentials.clone(),
            None => password::credentials(&opts.password)?,
        };
        let progress = opts.progress;
        let loaded = load(
            &options,
            &backends,
            &credentials,
            &shown,
            &opts.location,
            progress,
        )?;
        let key = loaded.repo.key();
        let blob_key = crypto::BlobKey::new(&key).ok_or_else(|| {
            OpenError::Repository(format!(
                "repository {shown}: the master key has the wrong size"
            ))
        })?;
        let lock = if opts.lock {
            ResticLock::acquire(&opts.location, &shown, &key)?
        } else {
            None
        };
        let packs = packfile::Packs::new(
            backends.repository(),
            location::for_rustic(&opts.location, cfg!(windows)),
        );
        tracing::debug!(direct = packs.is_local(), "pack files");
        let store = Arc::new(BlobStore::new(packs, blob_key, opts.cache_size));
        let repo = ResticRepo {
            location: opts.location.clone(),
            shown,
            backends,
            options,
            key,
            filter: opts.filter.clone(),
            template: opts.template.clone(),
            catalogue: RwLock::new(Arc::new(Catalogue::empty())),
            trees: TreeSource::new(
                loaded,
                &opts.location,
                !opts.no_cache,
                direct_trees(opts).then(|| store.clone()),
            ),
            store,
            cache_size: opts.cache_size,
            prefetcher: prefetch::Prefetcher::new(PREFETCH_WORKERS),
            lock: std::sync::Mutex::new(lock),
            closer,
            salvager: opts.allow_damaged.then(salvage::Salvager::default),
        };
        let snapshots = repo
            .trees
            .loaded()
            .repo
            .get_all_snapshots()
            .map_err(|e| classify(&e, &repo.shown, &repo.location))?;
        repo.catalogue_from(snapshots);
        Ok(repo)
    }

    fn catalogue_from(&self, snapshots: Vec<rustic_core::repofile::SnapshotFile>) {
        let catalogue = Catalogue::new(snapshots, &self.filter, &self.template);
        write(&self.catalogue, Arc::new(catalogue));
    }

    /// The listing of tree `id`, from the tree cache or read from the repository.
    fn tree(&self, id: TreeId) -> Result<Arc<TreeListing>, RepoError> {
        self.trees.listing(id)
    }

    fn refresh_index(&self) -> Result<(), RepoError> {
        let current = self.trees.loaded();
        let ids: BTreeSet<IndexId> = current
            .repo
            .list::<IndexId>()
            .map_err(|e| self.damaged("index list", &e))?
            .collect();
        if ids == current.index_ids {
            return Ok(());
        }
        let credentials = Credentials::Masterkey(self.key.clone());
        let fresh = load(
            &self.options,
            &self.backends,
            &credentials,
            &self.shown,
            &self.location,
            false,
        )
        .map_err(|err| RepoError::Damaged(err.to_string()))?;
        write(&self.trees.loaded, Arc::new(fresh));
        self.store.close_packs();
        Ok(())
    }
}

/// Whether trees are read from the packs directly: for a local repository rustic's cache of tree
/// packs is only a copy on the same kind of disk, and without a cache there is none to keep.
fn direct_trees(opts: &ResticOptions) -> bool {
    opts.no_cache || opts.location.starts_with("local:")
}

fn load(
    options: &RepositoryOptions,
    backends: &RepositoryBackends,
    credentials: &Credentials,
    shown: &str,
    location: &str,
    progress: bool,
) -> Result<Loaded, OpenError> {
    let repo = if progress {
        Rustic::new_with_progress(options, backends, crate::progress::TerminalProgress)
    } else {
        Rustic::new(options, backends)
    };
    let repo = repo.map_err(|e| classify(&e, shown, location))?;
    let repo = repo
        .open(credentials)
        .map_err(|e| classify(&e, shown, location))?;
    let index_ids = repo
        .list::<IndexId>()
        .map_err(|e| classify(&e, shown, location))?
        .collect();
    let repo = repo
        .to_indexed()
        .map_err(|e| classify(&e, shown, location))?;
    Ok(Loaded { repo, index_ids })
}

impl Repository for ResticRepo {
    type Handle = ResticHandle;
    type Reader = ResticReader;

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn generations(&self) -> Arc<[Generation]> {
        read(&self.catalogue).generations.clone()
    }

    fn refresh(&self) -> Result<(), RepoError> {
        self.refresh_index()?;
        let current = read(&self.catalogue).snapshots.clone();
        let snapshots = self
            .trees
            .loaded()
            .repo
            .update_all_snapshots(current)
            .map_err(|e| self.damaged("snapshots", &e))?;
        self.catalogue_from(snapshots);
        Ok(())
    }

    fn root(&self, generation: &Generation) -> Result<Node<Self::Handle>, RepoError> {
        let catalogue = read(&self.catalogue);
        let (tree, time) = catalogue.root(generation).ok_or(RepoError::NotFound)?;
        Ok(Node {
            meta: Meta::synthetic(FileKind::Dir, 0o755, 0, time),
            handle: ResticHandle::root(tree),
        })
    }

    fn list(&self, dir: &Self::Handle) -> Result<Listing<Self::Handle>, RepoError> {
        let tree = dir.subtree().ok_or(RepoError::NotDir)?;
        Ok(self.tree(tree)?.entries.clone())
    }

    fn list_passing(&self, dir: &Self::Handle) -> Result<Listing<Self::Handle>, RepoError> {
        let tree = dir.subtree().ok_or(RepoError::NotDir)?;
        Ok(self.trees.passing_listing(tree)?.entries.clone())
    }

    fn lookup(&self, dir: &Self::Handle, name: &[u8]) -> Result<Node<Self::Handle>, RepoError> {
        let tree = self.tree(dir.subtree().ok_or(RepoError::NotDir)?)?;
        tree.find(name).cloned().ok_or(RepoError::NotFound)
    }

    fn dir_key(&self, dir: &Self::Handle) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        dir.subtree()?.hash(&mut hasher);
        Some(hasher.finish())
    }

    fn content_key(&self, node: &Node<Self::Handle>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        match &node.handle.content {
            handle::Content::File { blobs, .. } => {
                (0u8, node.meta.size, &**blobs).hash(&mut hasher)
            }
            handle::Content::Link(target) => (1u8, &**target).hash(&mut hasher),
            _ => (2u8, node.meta.kind, node.meta.rdev).hash(&mut hasher),
        }
        hasher.finish()
    }

    fn readlink(&self, link: &Self::Handle) -> Result<Vec<u8>, RepoError> {
        match &link.content {
            handle::Content::Link(target) => Ok(target.to_vec()),
            _ => Err(RepoError::NotFound),
        }
    }

    fn xattrs(&self, node: &Self::Handle) -> Result<Xattrs, RepoError> {
        Ok(node.xattrs.as_deref().cloned().unwrap_or_default())
    }

    fn open(&self, file: &Node<Self::Handle>) -> Result<Self::Reader, RepoError> {
        let handle::Content::File { blobs, name } = &file.handle.content else {
            return Err(RepoError::NotFound);
        };
        let located = FileBlobs::locate(&self.trees.loaded().repo, blobs).map_err(|id| {
            RepoError::Damaged(format!("file {name}: blob {id} is not in the index"))
        })?;
        Ok(ResticReader {
            blobs: Arc::new(located),
            size: file.meta.size,
            name: name.clone(),
            stream: std::sync::Mutex::new(prefetch::Stream::new(self.cache_size)),
        })
    }

    fn stored_bytes(&self) -> Option<u64> {
        let packs = self
            .backends
            .repository()
            .list_with_size(rustic_core::FileType::Pack)
            .map_err(|e| tracing::debug!("cannot list packs: {}", self.damaged("packs", &e)))
            .ok()?;
        Some(packs.iter().map(|(_, size)| u64::from(*size)).sum())
    }

    fn close(&self) {
        let lock = self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(lock);
        self.closer.close();
    }

    fn read(&self, file: &Self::Reader, offset: u64, size: u32) -> Result<Bytes, RepoError> {
        self.read_noting_zeros(file, offset, size, &mut Vec::new())
    }

    fn may_serve_zeros(&self) -> bool {
        self.salvager.is_some()
    }

    fn read_noting_zeros(
        &self,
        file: &Self::Reader,
        offset: u64,
        size: u32,
        zeroed: &mut Vec<std::ops::Range<u64>>,
    ) -> Result<Bytes, RepoError> {
        if offset >= file.size {
            return Ok(Bytes::new());
        }
        let length = u64::from(size).min(file.size - offset);
        let ahead = file
            .stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_read(offset, length, file.size);
        if !ahead.is_empty() {
            self.prefetcher.fetch(&self.store, &file.blobs, ahead);
        }
        let lost = |blob: &BlobRef, start: u64, err: RepoError| match &self.salvager {
            Some(salvager) => {
                salvager.lost(blob, start, &file.name, file.size, &err);
                Ok(())
            }
            None => Err(match err {
                RepoError::Damaged(msg) => RepoError::Damaged(format!("file {}: {msg}", file.name)),
                other => other,
            }),
        };
        file.blobs.read(&self.store, offset, length, &lost, zeroed)
    }
}
