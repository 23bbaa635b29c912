//! Read-ahead for restic files read sequentially: while the kernel asks for one range after another,
//! the blobs ahead are fetched and decrypted by a small pool of workers into the blob cache, so
//! both cores decrypt and the foreground read finds its blobs ready. The window doubles while reads
//! stay sequential (as mountpoint-s3's prefetcher does) and resets on a seek.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use super::blobs::{BlobStore, FileBlobs};

/// The first window after two sequential reads, and the largest: at most half the blob cache
/// (`Stream::new`), so prefetched blobs are still there when they are read.
const FIRST_WINDOW: u64 = 1 << 20;
const MAX_WINDOW: u64 = 16 << 20;
/// The size of one prefetch job: about one blob of restic's chunker.
const CHUNK: u64 = 1 << 20;

/// Where one open file's reads are, and how far ahead of them blobs have been asked for.
#[derive(Debug, Default)]
pub struct Stream {
    next: u64,
    window: u64,
    ahead: u64,
    largest: u64,
}

impl Stream {
    /// A stream whose window stays within half of a blob cache of `cache_bytes`.
    pub fn new(cache_bytes: u64) -> Stream {
        Stream {
            largest: (cache_bytes / 2).clamp(FIRST_WINDOW, MAX_WINDOW),
            ..Stream::default()
        }
    }

    /// Records a read of `size` bytes at `offset` and returns the ranges to fetch ahead of it.
    pub fn on_read(&mut self, offset: u64, size: u64, file_size: u64) -> Vec<(u64, u64)> {
        let end = offset.saturating_add(size);
        if offset == self.next && offset > 0 {
            self.window = (self.window * 2).clamp(FIRST_WINDOW, self.largest.max(FIRST_WINDOW));
        } else {
            self.window = 0;
            self.ahead = end;
        }
        self.next = end;
        let target = end.saturating_add(self.window).min(file_size);
        let mut ranges = Vec::new();
        let mut from = self.ahead.max(end);
        while from < target {
            let len = CHUNK.min(target - from);
            ranges.push((from, len));
            from += len;
        }
        self.ahead = self.ahead.max(target);
        ranges
    }
}

struct Job {
    store: Arc<BlobStore>,
    file: Arc<FileBlobs>,
    offset: u64,
    len: u64,
}

/// A fixed pool of workers that fetch ranges into the blob cache.
pub struct Prefetcher {
    jobs: Mutex<Sender<Job>>,
}

impl Prefetcher {
    pub fn new(workers: usize) -> Prefetcher {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers.max(1) {
            let queue = queue.clone();
            std::thread::spawn(move || work(&queue));
        }
        Prefetcher {
            jobs: Mutex::new(jobs),
        }
    }

    /// Fetches `ranges` of `file` in the background. Errors are left to the read that needs the data.
    pub fn fetch(&self, store: &Arc<BlobStore>, file: &Arc<FileBlobs>, ranges: Vec<(u64, u64)>) {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        for (offset, len) in ranges {
            let job = Job {
                store: store.clone(),
                file: file.clone(),
                offset,
                len,
            };
            if jobs.send(job).is_err() {
                return;
            }
        }
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        for (_, blob) in job.file.covering(job.offset, job.len) {
            let _ = job.store.blob(blob);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_while_reads_are_sequential() {
        let mut stream = Stream::new(64 << 20);
        let size = 128 << 10;
        assert!(
            stream.on_read(0, size, 1 << 30).is_empty(),
            "a first read is no pattern yet"
        );
        let first = stream.on_read(size, size, 1 << 30);
        assert_eq!(first, vec![(2 * size, FIRST_WINDOW)]);
        let second = stream.on_read(2 * size, size, 1 << 30);
        let asked: u64 = second.iter().map(|(_, len)| len).sum();
        assert_eq!(
            second[0].0,
            2 * size + FIRST_WINDOW,
            "nothing is asked for twice"
        );
        assert_eq!(3 * size + 2 * FIRST_WINDOW, second[0].0 + asked);
        for i in 3..400 {
            stream.on_read(i * size, size, 1 << 30);
        }
        assert_eq!(stream.window, MAX_WINDOW);
    }

    #[test]
    fn a_seek_stops_prefetching_and_the_end_of_file_bounds_it() {
        let mut stream = Stream::new(64 << 20);
        stream.on_read(0, 4096, 1 << 30);
        assert!(!stream.on_read(4096, 4096, 1 << 30).is_empty());
        assert!(stream.on_read(1 << 20, 4096, 1 << 30).is_empty(), "a seek");
        let near_end = stream.on_read((1 << 20) + 4096, 4096, (1 << 20) + 10_000);
        assert_eq!(near_end, vec![((1 << 20) + 8192, 10_000 - 8192)]);
    }
}
