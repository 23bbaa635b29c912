//! Where listings come from: trees read from the packs and decoded by `treejson`, or through
//! rustic where its local cache is worth keeping (the first read of a pack alone, see `packgate`),
//! kept in the tree cache, and read ahead of a walk. A walk (`find`, `ls -R`, `cp -r`) enters a
//! directory's subdirectories one after another in listing order: while the kernel works through
//! one, workers read the trees of the next few, so the walk does not wait on each tree in turn.
//! Only a window of them is read ahead, as far as the walk has come: read further, they would be
//! pushed out of the cache before the walk got there (and a lone `ls` reads little more).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, RwLock, Weak};

use quick_cache::sync::Cache;
use rustic_core::{DataId, TreeId};

use super::Loaded;
use super::blobs::{BlobRef, BlobStore};
use super::location::{one_line, scrub};
use super::node::{NamedNodes, Stored};
use super::packgate::PackGate;
use super::treejson;
use super::trees::{TreeListing, Trees};
use crate::error::RepoError;

/// Workers reading trees ahead: most of their time goes to waiting on the disk or the network.
const WORKERS: usize = 4;
/// Subdirectories read ahead of the one the walk is in (about 35 KiB of cache each, at 100 entries).
const WINDOW: usize = 64;
/// Trees waiting to be read ahead; more are not queued (the walk reads them itself when it gets there).
const QUEUED: usize = 1024;
/// Subdirectory ids kept in windows, in all (32 bytes each), and subdirectories whose place is
/// known: both bounded, so that directories of many subdirectories cannot grow them without end.
const WINDOW_IDS: u64 = 1 << 18;
const PLACES: usize = 1 << 16;
/// Subdirectories of one directory that are read ahead at most: a window must fit in `windows`
/// (one that did not would be made again at every lookup in its directory).
const WINDOW_SUBDIRS: usize = 1 << 15;

/// Weighs a window by its subdirectories.
#[derive(Clone)]
struct BySubdirs;

impl quick_cache::Weighter<TreeId, Arc<Window>> for BySubdirs {
    fn weight(&self, _tree: &TreeId, window: &Arc<Window>) -> u64 {
        window.subdirs.len() as u64 + 1
    }
}

/// The subdirectories of one listed directory, in listing order, and how many were queued.
struct Window {
    subdirs: Vec<TreeId>,
    queued: Mutex<usize>,
}

/// The repository's trees as listings, shared with the read-ahead workers.
pub struct TreeSource {
    pub loaded: RwLock<Arc<Loaded>>,
    /// The location as given, which may hold credentials: only scrubbed from errors.
    location: String,
    trees: Trees,
    /// The first read of each tree pack, one thread at a time (see `packgate`).
    first_loads: PackGate,
    ahead: SyncSender<TreeId>,
    /// By directory tree: its subdirectories.
    windows: Cache<TreeId, Arc<Window>, BySubdirs>,
    /// By subdirectory tree: the window it is in (while `windows` keeps it) and its place there.
    places: Cache<TreeId, (Weak<Window>, usize)>,
    /// Where trees are read from the packs directly and decoded by `treejson` (a local repository,
    /// or none cached): rustic's reading is kept where its local cache of tree packs spares the
    /// network at the next mount.
    direct: Option<Arc<BlobStore>>,
}

impl TreeSource {
    pub fn new(
        loaded: Loaded,
        location: &str,
        cached: bool,
        direct: Option<Arc<BlobStore>>,
    ) -> Arc<TreeSource> {
        let (sender, queue) = sync_channel(QUEUED);
        let source = Arc::new(TreeSource {
            loaded: RwLock::new(Arc::new(loaded)),
            location: location.to_owned(),
            trees: Trees::new(),
            first_loads: PackGate::new(cached),
            ahead: sender,
            windows: Cache::with_weighter(1024, WINDOW_IDS, BySubdirs),
            places: Cache::new(PLACES),
            direct,
        });
        start_workers(&source, queue);
        source
    }

    /// The listing of tree `id` for a request of the kernel: its subdirectories are read ahead.
    pub fn listing(&self, id: TreeId) -> Result<Arc<TreeListing>, RepoError> {
        let listing = self.cached_or_read(id)?;
        if self.windows.get(&id).is_none() {
            let window = self.window_of(&listing);
            self.windows.insert(id, window.clone());
            self.queue_up_to(&window, WINDOW);
        }
        let place = self.places.get(&id);
        if let Some((window, place)) = place.and_then(|(w, p)| Some((w.upgrade()?, p))) {
            self.queue_up_to(&window, place.saturating_add(1 + WINDOW));
        }
        Ok(listing)
    }

    /// The listing of tree `id` for a walk over a whole generation (measuring it): not kept in the
    /// cache, where a walk faster than the user's would push out what the read-ahead brought in.
    pub fn passing_listing(&self, id: TreeId) -> Result<Arc<TreeListing>, RepoError> {
        self.trees.get_passing(id, &|id| self.read_tree(id))
    }

    /// The repository as loaded now (index and all).
    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn cached_or_read(&self, id: TreeId) -> Result<Arc<TreeListing>, RepoError> {
        self.trees.get(id, &|id| self.read_tree(id))
    }

    /// The subdirectories of a listing, each told where it is.
    fn window_of(&self, listing: &TreeListing) -> Arc<Window> {
        let subdirs = listing
            .entries
            .iter()
            .filter_map(|(_, node)| node.handle.subtree())
            .take(WINDOW_SUBDIRS)
            .collect();
        let window = Arc::new(Window {
            subdirs,
            queued: Mutex::new(0),
        });
        for (place, tree) in window.subdirs.iter().enumerate() {
            self.places.insert(*tree, (Arc::downgrade(&window), place));
        }
        window
    }

    /// Queues the subdirectories of `window` not queued yet, up to the `end`th.
    fn queue_up_to(&self, window: &Window, end: usize) {
        let mut queued = window.queued.lock().unwrap_or_else(|p| p.into_inner());
        let end = end.min(window.subdirs.len());
        for tree in window.subdirs.get(*queued..end).unwrap_or_default() {
            if self.ahead.try_send(*tree).is_err() {
                // Full: the walk reads the rest itself when it gets there.
                return;
            }
            *queued += 1;
        }
    }

    fn read_tree(&self, id: TreeId) -> Result<NamedNodes, RepoError> {
        let loaded = self.loaded();
        let entry = loaded.repo.get_index_entry(&id).ok();
        if let (Some(store), Some(entry)) = (&self.direct, &entry) {
            let at = entry.location;
            let blob = BlobRef::new(
                DataId::from(*id),
                entry.pack,
                at.offset,
                at.length,
                at.uncompressed_length,
            );
            let json = store.load_tree(&blob)?;
            return treejson::decode(&json, &id)
                .map_err(|err| RepoError::Damaged(format!("tree {id}: {err}")));
        }
        let tree = self.first_loads.read(entry.map(|e| e.pack), || {
            loaded.repo.get_tree(&id).map_err(|err| {
                let text = one_line(&scrub(&err.to_string(), &self.location));
                RepoError::Damaged(format!("tree {id}: {text}"))
            })
        })?;
        Ok(tree.nodes.into_iter().map(Stored::of_rustic).collect())
    }
}

/// Starts the workers, which hold the source weakly: once the repository is dropped they stop.
fn start_workers(source: &Arc<TreeSource>, queue: Receiver<TreeId>) {
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..WORKERS {
        let (source, queue) = (Arc::downgrade(source), queue.clone());
        let started = std::thread::Builder::new()
            .name(format!("tree-ahead-{n}"))
            .spawn(move || work(&source, &queue));
        if let Err(err) = started {
            // Listings still come, read when asked for.
            tracing::debug!("cannot start a tree read-ahead worker: {err}");
        }
    }
}

fn work(source: &Weak<TreeSource>, queue: &Mutex<Receiver<TreeId>>) {
    loop {
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let (Ok(id), Some(source)) = (next, source.upgrade()) else {
            return;
        };
        // A damaged tree is reported when the walk reaches it, not here.
        if let Err(err) = source.cached_or_read(id) {
            tracing::debug!("reading tree {id} ahead: {err}");
        }
    }
}
