//! Read-ahead across files in a generation (see `push_ahead`): notes the listings readers copy
//! from and where their reads start, and reads the files ahead of them on workers into the OS's
//! page cache.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::Layout;
use crate::meta::{FileKind, Node};
use crate::repo::Repository;
use crate::vfs::handles::OpenDir;
use crate::vfs::inodes::{InoKey, Inode};
use crate::vfs::push_ahead::{MAX_FILE, Planned, PushAhead};
use crate::vfs::{Ino, KernelCache, lock};

/// Files waiting for a worker, at most: a reader that stops leaves no more work than this.
const MAX_PENDING: usize = 1024;

/// What reads ahead across files: the plans, and the workers once the OS's cache is known.
#[derive(Default)]
pub(super) struct Pusher {
    ahead: Mutex<PushAhead>,
    workers: OnceLock<Workers>,
}

struct Workers {
    pool: rayon::ThreadPool,
    cache: Arc<dyn KernelCache>,
    pending: Arc<AtomicUsize>,
    /// Cleared when the OS says it cannot take files (WebDAV and WinFsp say so at the first one):
    /// nothing more is read for it.
    taken: Arc<AtomicBool>,
}

impl Pusher {
    /// Starts the workers that push into `cache`. Without them nothing is read ahead.
    pub(super) fn start(&self, cache: Arc<dyn KernelCache>) {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("genmount-push-{i}"))
            .build();
        match pool {
            Ok(pool) => {
                let _ = self.workers.set(Workers {
                    pool,
                    cache,
                    pending: Arc::default(),
                    taken: Arc::new(AtomicBool::new(true)),
                });
            }
            Err(err) => tracing::warn!("no read-ahead across files: {err}"),
        }
    }

    fn active(&self) -> Option<&Workers> {
        self.workers
            .get()
            .filter(|workers| workers.taken.load(Ordering::Relaxed))
    }
}

impl<R: Repository> Layout<R> {
    /// A directory of a generation was listed from its start.
    pub(super) fn note_listing(&self, dir: &Arc<OpenDir<R::Handle>>) {
        let (Some(_), OpenDir::Node { ino, .. }) = (self.pusher.active(), &**dir) else {
            return;
        };
        let dir_ino = *ino;
        let dir = dir.clone();
        lock(&self.pusher.ahead).listed(dir_ino, Box::new(move || planned(&dir)));
    }

    /// A read from the start of file `ino`: pushes the files ahead of it, if it shows an order.
    pub(super) fn note_start(&self, ino: Ino) {
        let Some(workers) = self.pusher.active() else {
            return;
        };
        let files = lock(&self.pusher.ahead).started(ino);
        for file in files {
            // The OS can take pages only for inodes it holds; a reader that looks each name up
            // just before it opens the file gets nothing pushed.
            let Some(Inode::Node(slot)) = self.inodes.get(file.ino) else {
                continue;
            };
            let node = &slot.node;
            if node.meta.kind != FileKind::File || node.meta.size != file.size {
                continue;
            }
            if workers.pending.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING {
                workers.pending.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            let (repo, cache) = (self.repo.clone(), workers.cache.clone());
            let (pending, taken) = (workers.pending.clone(), workers.taken.clone());
            workers.pool.spawn_fifo(move || {
                if taken.load(Ordering::Relaxed)
                    && !push_file(&*repo, &*cache, file.ino, &slot.node)
                {
                    taken.store(false, Ordering::Relaxed);
                }
                pending.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
}

/// The regular files of a listing worth pushing, in listing order.
fn planned<H>(dir: &OpenDir<H>) -> Vec<Planned> {
    let OpenDir::Node {
        ino,
        generation,
        listing,
    } = dir
    else {
        return Vec::new();
    };
    let files = listing
        .iter()
        .filter(|(_, node)| node.meta.kind == FileKind::File && node.meta.size > 0);
    files
        .map(|(name, node)| Planned {
            ino: InoKey::for_node(*generation, *ino, name, node).ino,
            size: node.meta.size,
        })
        .collect()
}

/// Reads `node`, the file `ino`, and gives it to the OS's cache. False: the OS cannot take it.
/// A file that cannot be read whole, or was partly lost, is left to the reader's own read, which
/// reports what is wrong with it.
fn push_file<R: Repository>(
    repo: &R,
    cache: &dyn KernelCache,
    ino: Ino,
    node: &Node<R::Handle>,
) -> bool {
    let Some(size) = (node.meta.size <= MAX_FILE).then_some(node.meta.size as u32) else {
        return true;
    };
    let Ok(reader) = repo.open(node) else {
        return true;
    };
    let mut zeroed = Vec::new();
    match repo.read_noting_zeros(&reader, 0, size, &mut zeroed) {
        Ok(bytes) if zeroed.is_empty() && bytes.len() as u64 == node.meta.size => {
            cache.store(ino, &bytes)
        }
        _ => true,
    }
}
