//! Read-ahead for sequential readers: the chunks after the one being read are opened (read, MAC,
//! decrypt, decompress) on worker threads into the chunk cache, so that both cores work while
//! the reader copies. From a server, more workers each keep a request in flight, so that the
//! connection stays busy. Workers start on first use: the repository is opened before a daemon
//! forks.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use super::files::ChunkCache;
use super::items::ChunkRef;
use super::store::Store;

/// Workers opening chunks ahead: the work is CPU-bound (two SHA-256 passes and AES per byte).
const WORKERS: usize = 2;
/// Workers for a server: each waits for its reply most of the time.
const REMOTE_WORKERS: usize = 6;
/// Chunks waiting to be opened; more requests are dropped (the reader then opens them itself).
const QUEUE: usize = 16;

/// Opens chunks ahead of readers into the shared cache.
pub struct Prefetcher {
    store: Arc<Store>,
    cache: Arc<ChunkCache>,
    queue: OnceLock<Option<SyncSender<ChunkRef>>>,
}

impl Prefetcher {
    pub fn new(store: Arc<Store>, cache: Arc<ChunkCache>) -> Prefetcher {
        Prefetcher {
            store,
            cache,
            queue: OnceLock::new(),
        }
    }

    /// How many chunks a sequential reader asks for ahead (borg's chunks average 2 MiB): a few
    /// from disk, one per worker from a server.
    pub fn depth(&self) -> usize {
        if self.store.is_remote() {
            REMOTE_WORKERS
        } else {
            3
        }
    }

    /// Asks for `chunks` to be opened ahead; never waits.
    pub fn ahead(&self, chunks: &[ChunkRef]) {
        let Some(queue) = self.queue.get_or_init(|| self.start()) else {
            return;
        };
        for chunk in chunks {
            if self.cache.contains(&chunk.id) {
                continue;
            }
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                queue.try_send(*chunk)
            {
                return;
            }
        }
    }

    /// Starts the workers; `None` if no thread could be started (reads then work without).
    fn start(&self) -> Option<SyncSender<ChunkRef>> {
        let (send, receive) = sync_channel(QUEUE);
        let receive = Arc::new(Mutex::new(receive));
        let mut started = 0;
        let workers = if self.store.is_remote() {
            REMOTE_WORKERS
        } else {
            WORKERS
        };
        for n in 0..workers {
            let (store, cache, receive) = (self.store.clone(), self.cache.clone(), receive.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("borg-ahead-{n}"))
                .spawn(move || work(&store, &cache, &receive));
            match spawned {
                Ok(_) => started += 1,
                Err(err) => tracing::debug!("no read-ahead worker: {err}"),
            }
        }
        (started > 0).then_some(send)
    }
}

/// Opens queued chunks until the queue is dropped. Failures are left for the reader, whose read
/// then names the file.
fn work(store: &Store, cache: &ChunkCache, queue: &Mutex<Receiver<ChunkRef>>) {
    loop {
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(chunk) = next else {
            return;
        };
        let _ = cache.get(store, &chunk);
    }
}
