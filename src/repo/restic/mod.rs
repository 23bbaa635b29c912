//! The restic backend: every snapshot of a restic repository is a generation. Index, snapshots and
//! trees come through rustic_core (trees cached by id), file data through `blobs`.

mod blobs;
pub mod crypto;
mod handle;
mod lock;
pub mod naming;
pub mod node;
pub mod open;
mod prefetch;
mod salvage;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use quick_cache::sync::Cache;
use rustic_backend::BackendOptions;
use rustic_core::repofile::{IndexId, Node as ResticNode, SnapshotFile};
use rustic_core::{
    Credentials, IndexedFullStatus, Repository as Rustic, RepositoryBackends, RepositoryOptions,
    TreeId,
};

use self::blobs::{BlobRef, BlobStore, FileBlobs};
use self::handle::ResticHandle;
use self::lock::ResticLock;
use self::naming::SnapshotInfo;
use self::open::{PasswordSource, classify, one_line};
use super::{Generation, Listing, Repository, Xattrs};
use crate::error::{OpenError, RepoError};
use crate::meta::{FileKind, Meta, Node, Timestamp};
use crate::names;

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

/// Weighs a cached listing by its entries.
#[derive(Clone)]
struct ByEntries;

impl quick_cache::Weighter<TreeId, Arc<TreeListing>> for ByEntries {
    fn weight(&self, _tree: &TreeId, listing: &Arc<TreeListing>) -> u64 {
        listing.entries.len() as u64 + 1
    }
}

/// Which snapshots to show, as restic's `--host`, `--tag` and `--path` select them.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Any of these hosts (none: every host).
    pub hosts: Vec<String>,
    /// Any of these tag lists, each of which the snapshot must carry in full.
    pub tags: Vec<Vec<String>>,
    /// Every one of these paths must be among the snapshot's paths.
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    pub fn matches(&self, snapshot: &SnapshotFile) -> bool {
        let host = self.hosts.is_empty() || self.hosts.contains(&snapshot.hostname);
        let tags = self.tags.is_empty()
            || self
                .tags
                .iter()
                .any(|all| all.iter().all(|tag| snapshot.tags.contains(tag)));
        let paths = self.paths.iter().all(|path| snapshot.paths.contains(path));
        host && tags && paths
    }
}

/// How to open and present a restic repository.
#[derive(Clone, Default)]
pub struct ResticOptions {
    /// The location as rustic_backend reads it: `local:/path`, `rest:http://…`, `rclone:…`.
    pub location: String,
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

/// The snapshots and the generations made of them.
struct Catalogue {
    snapshots: Vec<SnapshotFile>,
    generations: Arc<[Generation]>,
    trees: HashMap<String, (TreeId, Timestamp)>,
}

/// A directory's entries, with safe names, and their indexes in name order (for lookups).
struct TreeListing {
    entries: Listing<ResticHandle>,
    by_name: Vec<u32>,
}

impl TreeListing {
    fn find(&self, name: &[u8]) -> Option<&Node<ResticHandle>> {
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

/// An opened file of a snapshot.
pub struct ResticReader {
    blobs: Arc<FileBlobs>,
    size: u64,
    name: Arc<str>,
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
    loaded: RwLock<Arc<Loaded>>,
    catalogue: RwLock<Arc<Catalogue>>,
    trees: Cache<TreeId, Arc<TreeListing>, ByEntries>,
    store: Arc<BlobStore>,
    cache_size: u64,
    prefetcher: prefetch::Prefetcher,
    /// How many subdirectories each tree has: restic records no link count for directories.
    subdirs: Cache<TreeId, u32>,
    /// Listings read to count subdirectories, until `tree` takes them.
    counted: Cache<TreeId, Arc<TreeListing>, ByEntries>,
    lock: std::sync::Mutex<Option<ResticLock>>,
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
            one_line(&open::scrub(&err.to_string(), &self.location))
        ))
    }

    /// Opens the repository, reads its snapshots and index, and locks it unless told not to.
    pub fn open(opts: &ResticOptions) -> Result<ResticRepo, OpenError> {
        naming::check_template(&opts.template).map_err(OpenError::Usage)?;
        let shown = open::redact(&opts.location);
        let backends = BackendOptions::default()
            .repository(opts.location.clone())
            .to_backends()
            .map_err(|err| {
                OpenError::Repository(format!(
                    "repository {shown}: {}",
                    one_line(&open::scrub(&err.to_string(), &opts.location))
                ))
            })?;
        let mut options = RepositoryOptions::default().no_cache(opts.no_cache);
        if let Some(dir) = &opts.cache_dir {
            options = options.cache_dir(dir.clone());
        }
        let credentials = match &opts.credentials {
            Some(credentials) => credentials.clone(),
            None => open::credentials(&opts.password)?,
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
        let lock = match opts.location.strip_prefix("local:") {
            Some(path) if opts.lock => Some(ResticLock::acquire(std::path::Path::new(path), &key)?),
            _ => {
                if opts.lock {
                    tracing::info!(
                        "no restic lock is held on {shown}: locks are written to local repositories only"
                    );
                }
                None
            }
        };
        let store = Arc::new(BlobStore::new(
            backends.repository(),
            blob_key,
            opts.cache_size,
        ));
        let repo = ResticRepo {
            location: opts.location.clone(),
            shown,
            backends,
            options,
            key,
            filter: opts.filter.clone(),
            template: opts.template.clone(),
            loaded: RwLock::new(Arc::new(loaded)),
            catalogue: RwLock::new(Arc::new(Catalogue {
                snapshots: Vec::new(),
                generations: Arc::from(Vec::new()),
                trees: HashMap::new(),
            })),
            trees: Cache::with_weighter(TREE_CACHE_ENTRIES, TREE_CACHE_WEIGHT, ByEntries),
            store,
            cache_size: opts.cache_size,
            prefetcher: prefetch::Prefetcher::new(PREFETCH_WORKERS),
            subdirs: Cache::new(TREE_CACHE_ENTRIES * 16),
            counted: Cache::with_weighter(TREE_CACHE_ENTRIES, COUNTED_WEIGHT, ByEntries),
            lock: std::sync::Mutex::new(lock),
            salvager: opts.allow_damaged.then(salvage::Salvager::default),
        };
        let snapshots = read(&repo.loaded)
            .repo
            .get_all_snapshots()
            .map_err(|e| classify(&e, &repo.shown, &repo.location))?;
        repo.catalogue_from(snapshots);
        Ok(repo)
    }

    fn catalogue_from(&self, mut snapshots: Vec<SnapshotFile>) {
        snapshots.sort_by(|a, b| {
            a.time
                .timestamp()
                .cmp(&b.time.timestamp())
                .then_with(|| a.id.cmp(&b.id))
        });
        let shown: Vec<&SnapshotFile> = snapshots
            .iter()
            .filter(|s| self.filter.matches(s))
            .collect();
        let infos: Vec<SnapshotInfo> = shown.iter().map(|s| info_of(s)).collect();
        let names = naming::assign_names(&self.template, &infos);
        let mut trees = HashMap::new();
        let generations: Vec<Generation> = shown
            .iter()
            .zip(names)
            .map(|(snapshot, name)| {
                let id = snapshot.id.to_hex().as_str().to_string();
                let time = node::timestamp(&snapshot.time.timestamp());
                trees.insert(id.clone(), (snapshot.tree, time));
                generation(snapshot, name, id, time)
            })
            .collect();
        let catalogue = Catalogue {
            snapshots,
            generations: generations.into(),
            trees,
        };
        write(&self.catalogue, Arc::new(catalogue));
    }

    fn tree(&self, id: TreeId) -> Result<Arc<TreeListing>, RepoError> {
        self.trees.get_or_insert_with(&id, || {
            let counted = self.counted.remove(&id);
            let mut listing = match counted.and_then(|(_, listing)| Arc::try_unwrap(listing).ok()) {
                Some(listing) => listing,
                None => self.read_listing(id)?,
            };
            // restic records no link count for directories: count their subdirectories.
            let uncounted =
                |node: &Node<ResticHandle>| node.handle.subtree().filter(|_| node.meta.nlink <= 2);
            let subtrees: Vec<TreeId> = listing
                .entries
                .iter()
                .filter_map(|(_, node)| uncounted(node))
                .collect();
            let mut counts = self.subdir_counts(&subtrees).into_iter();
            for (_, node) in &mut listing.entries {
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
    fn subdir_counts(&self, ids: &[TreeId]) -> Vec<Option<u32>> {
        let threads = ids.len().div_ceil(TREES_PER_COUNTER).min(COUNTERS);
        if threads <= 1 {
            return ids.iter().map(|id| self.subdir_count(*id).ok()).collect();
        }
        let next = AtomicUsize::new(0);
        let count_some = || {
            let mut found = Vec::new();
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(at) else {
                    return found;
                };
                found.push((at, self.subdir_count(*id).ok()));
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

    /// A tree's entries as stored, before directory link counts are worked out.
    fn read_listing(&self, id: TreeId) -> Result<TreeListing, RepoError> {
        let tree = read(&self.loaded)
            .repo
            .get_tree(&id)
            .map_err(|err| self.damaged(&format!("tree {id}"), &err))?;
        Ok(listing_of(tree.nodes, &id.to_string()))
    }

    /// The number of directories in a tree, which makes a directory's link count as on disk. The
    /// listing read for it is kept for `tree`: a directory listed is usually entered next.
    fn subdir_count(&self, id: TreeId) -> Result<u32, RepoError> {
        self.subdirs.get_or_insert_with(&id, || {
            let listing = self.read_listing(id)?;
            let dirs = listing
                .entries
                .iter()
                .filter(|(_, node)| node.meta.kind == FileKind::Dir)
                .count();
            self.counted.insert(id, Arc::new(listing));
            Ok(u32::try_from(dirs).unwrap_or(u32::MAX))
        })
    }

    fn refresh_index(&self) -> Result<(), RepoError> {
        let current = read(&self.loaded);
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
        write(&self.loaded, Arc::new(fresh));
        Ok(())
    }
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

fn info_of(snapshot: &SnapshotFile) -> SnapshotInfo {
    let long_id = snapshot.id.to_hex().as_str().to_string();
    SnapshotInfo {
        time: snapshot.time.strftime(naming::TIME_FORMAT).to_string(),
        short_id: long_id.chars().take(8).collect(),
        long_id,
        host: snapshot.hostname.clone(),
        user: snapshot.username.clone(),
        tags: snapshot.tags.iter().cloned().collect(),
        label: snapshot.label.clone(),
    }
}

fn generation(snapshot: &SnapshotFile, name: String, id: String, time: Timestamp) -> Generation {
    let summary = snapshot.summary.as_ref();
    Generation {
        name,
        id,
        start: Some(summary.map_or(time, |s| node::timestamp(&s.backup_start.timestamp()))),
        end: summary.map_or(time, |s| node::timestamp(&s.backup_end.timestamp())),
        checkpoint: false,
        size: summary.map(|s| s.total_bytes_processed),
        files: summary.map(|s| s.total_files_processed),
        host: Some(snapshot.hostname.clone()),
        paths: snapshot.paths.iter().cloned().collect(),
        tags: snapshot.tags.iter().cloned().collect(),
    }
}

fn listing_of(nodes: Vec<ResticNode>, tree: &str) -> TreeListing {
    let raw: Listing<ResticHandle> = nodes
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
    TreeListing { entries, by_name }
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
        let snapshots = read(&self.loaded)
            .repo
            .update_all_snapshots(current)
            .map_err(|e| self.damaged("snapshots", &e))?;
        self.catalogue_from(snapshots);
        Ok(())
    }

    fn root(&self, generation: &Generation) -> Result<Node<Self::Handle>, RepoError> {
        let catalogue = read(&self.catalogue);
        let (tree, time) = catalogue
            .trees
            .get(&generation.id)
            .copied()
            .ok_or(RepoError::NotFound)?;
        Ok(Node {
            meta: Meta::synthetic(FileKind::Dir, 0o755, 0, time),
            handle: ResticHandle::root(tree),
        })
    }

    fn list(&self, dir: &Self::Handle) -> Result<Listing<Self::Handle>, RepoError> {
        let tree = dir.subtree().ok_or(RepoError::NotDir)?;
        Ok(self.tree(tree)?.entries.clone())
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
        let located = FileBlobs::locate(&read(&self.loaded).repo, blobs).map_err(|id| {
            RepoError::Damaged(format!("file {name}: blob {id} is not in the index"))
        })?;
        Ok(ResticReader {
            blobs: Arc::new(located),
            size: file.meta.size,
            name: name.clone(),
            stream: std::sync::Mutex::new(prefetch::Stream::new(self.cache_size)),
        })
    }

    fn close(&self) {
        let lock = self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(lock);
    }

    fn read(&self, file: &Self::Reader, offset: u64, size: u32) -> Result<Bytes, RepoError> {
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
        let lost = |blob: &BlobRef, err: RepoError| match &self.salvager {
            Some(salvager) => Ok(salvager.zeros(blob, &file.name, &err)),
            None => Err(match err {
                RepoError::Damaged(msg) => RepoError::Damaged(format!("file {}: {msg}", file.name)),
                other => other,
            }),
        };
        file.blobs.read(&self.store, offset, length, &lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(host: &str, tags: &str, paths: &str) -> SnapshotFile {
        SnapshotFile {
            hostname: host.into(),
            tags: tags.parse().unwrap_or_default(),
            paths: paths.parse().unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn filters_select_as_restic_does() {
        let s = snapshot("laptop", "daily,home", "/home,/etc");
        let all = SnapshotFilter::default();
        assert!(all.matches(&s));
        let host = SnapshotFilter {
            hosts: vec!["server".into(), "laptop".into()],
            ..Default::default()
        };
        assert!(host.matches(&s));
        let wrong_host = SnapshotFilter {
            hosts: vec!["server".into()],
            ..Default::default()
        };
        assert!(!wrong_host.matches(&s));
        let both_tags = SnapshotFilter {
            tags: vec![vec!["daily".into(), "home".into()]],
            ..Default::default()
        };
        assert!(both_tags.matches(&s));
        let missing_tag = SnapshotFilter {
            tags: vec![vec!["daily".into(), "work".into()]],
            ..Default::default()
        };
        assert!(!missing_tag.matches(&s));
        let any_list = SnapshotFilter {
            tags: vec![vec!["work".into()], vec!["home".into()]],
            ..Default::default()
        };
        assert!(any_list.matches(&s));
        let paths = SnapshotFilter {
            paths: vec!["/home".into(), "/etc".into()],
            ..Default::default()
        };
        assert!(paths.matches(&s));
        let other_path = SnapshotFilter {
            paths: vec!["/home".into(), "/srv".into()],
            ..Default::default()
        };
        assert!(!other_path.matches(&s));
    }
}
