//! What `statfs` reports: the bytes and entries of the generations shown, from the repository's
//! records or, where it has none, measured by walking each generation once in the background.
//! The first `statfs` (often `df` on a new mount) waits a moment for the measuring it starts, and
//! where that is not enough, answers with what the repository stores rather than with zero.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::generations::State;
use super::{StatFs, lock};
use crate::error::RepoError;
use crate::meta::{FileKind, Node};
use crate::names;
use crate::repo::{Generation, Repository};

const BLOCK_SIZE: u32 = 4096;

/// How long the first `statfs` waits for the measuring it starts: enough for a small repository,
/// and short because not only `df` asks: `find` asks once before it walks, and waited 0.8 s for
/// the measuring of a 300,000-file repository before its own walk began (0.3 s of a 0.7 s `find`
/// over 100,000 files at a 300 ms wait). A larger repository's first answer is what it stores.
const FIRST_LOOK_WAIT: Duration = Duration::from_millis(50);

/// Measuring reads a directory only once the mount has served no request for this long: it reads
/// every tree a `find` reads, and beside one it doubled the work (a third of the daemon's CPU).
/// A walk asks every fraction of a millisecond; short, so that a `df` on an idle mount is not kept
/// waiting (statfs itself is no request here: a `df` wants the measuring done).
const QUIET: Duration = Duration::from_millis(20);
/// ... but no longer than this per directory, so that a mount never idle is measured still.
const MOST_PATIENCE: Duration = Duration::from_secs(2);

/// Where measuring is: whether anybody asked, whether a measurer runs, and whether it went once
/// over every generation.
#[derive(Default)]
struct Progress {
    asked: bool,
    /// A background thread waits to measure (`wait_until_asked`): worth waiting for.
    measurer: bool,
    first_pass_done: bool,
    /// Until when `statfs` calls wait for the first pass (set by the first call).
    deadline: Option<Instant>,
}

/// The totals measured so far, and whether anybody asked: measuring waits for the first `statfs`.
pub struct Measurer {
    /// What each generation holds, by generation id, where the repository does not record it.
    usage: Mutex<HashMap<String, Usage>>,
    /// Totals of directories the repository can key, shared across generations.
    memo: Mutex<Memo>,
    progress: (Mutex<Progress>, Condvar),
    /// The bytes the repository stores, read once before measuring: the answer, when larger, for
    /// as long as some generation is neither recorded nor measured.
    stored: OnceLock<Option<u64>>,
    /// When the mount last served a request, in milliseconds after `made`.
    last_request: AtomicU64,
    made: Instant,
}

impl Measurer {
    pub fn new() -> Measurer {
        Measurer {
            usage: Mutex::new(HashMap::new()),
            memo: Mutex::new(Memo::new()),
            progress: (Mutex::new(Progress::default()), Condvar::new()),
            stored: OnceLock::new(),
            last_request: AtomicU64::new(0),
            made: Instant::now(),
        }
    }

    /// Notes that the mount serves a request: measuring waits for a quiet moment.
    pub fn note_request(&self) {
        let now = self.made.elapsed().as_millis() as u64;
        self.last_request.store(now, Ordering::Relaxed);
    }

    /// Waits until the mount has been quiet for `QUIET`, or `MOST_PATIENCE` has passed.
    fn wait_for_quiet(&self) {
        let started = Instant::now();
        loop {
            let last = Duration::from_millis(self.last_request.load(Ordering::Relaxed));
            let quiet_for = self.made.elapsed().saturating_sub(last);
            let waited = started.elapsed();
            if quiet_for >= QUIET || waited >= MOST_PATIENCE {
                return;
            }
            std::thread::sleep((QUIET - quiet_for).min(MOST_PATIENCE - waited));
        }
    }

    /// Measures the generations of `state` that the repository records no totals for, once
    /// somebody has asked for `statfs`; forgets generations that are gone.
    pub fn measure<R: Repository>(&self, repo: &R, state: &State<R::Handle>) {
        if !lock(&self.progress.0).asked {
            return;
        }
        self.stored.get_or_init(|| repo.stored_bytes());
        lock(&self.usage).retain(|id, _| state.generations.iter().any(|g| &g.generation.id == id));
        for view in &state.generations {
            let id = &view.generation.id;
            if view.generation.size.is_some() || lock(&self.usage).contains_key(id) {
                continue;
            }
            let pace = || self.wait_for_quiet();
            let measured = measure(repo, &view.root, &mut lock(&self.memo), &pace);
            match measured {
                Ok(usage) => {
                    lock(&self.usage).insert(id.clone(), usage);
                }
                Err(err) => {
                    tracing::debug!(generation = %view.generation.name, "cannot measure: {err}")
                }
            }
        }
        let (progress, signal) = &self.progress;
        lock(progress).first_pass_done = true;
        signal.notify_all();
    }

    /// Returns once somebody has asked for `statfs`; from now on the first `statfs` waits a
    /// moment for the measuring.
    pub fn wait_until_asked(&self) {
        let (progress, signal) = &self.progress;
        let mut progress = lock(progress);
        progress.measurer = true;
        while !progress.asked {
            progress = signal.wait(progress).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Marks measuring as asked for, and waits (until a moment after the first call at most) for
    /// the measurer to go once over every generation.
    fn ask_and_wait(&self) {
        let (progress, signal) = &self.progress;
        let mut progress = lock(progress);
        if !progress.asked {
            progress.asked = true;
            progress.deadline = Some(Instant::now() + FIRST_LOOK_WAIT);
            signal.notify_all();
        }
        while progress.measurer && !progress.first_pass_done {
            let left = progress
                .deadline
                .and_then(|d| d.checked_duration_since(Instant::now()))
                .unwrap_or_default();
            if left.is_zero() {
                break;
            }
            progress = signal
                .wait_timeout(progress, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The statistics of the generations `shown`, and the start of measuring at the first call.
    pub fn statfs<'a>(&self, shown: impl IntoIterator<Item = &'a Generation>) -> StatFs {
        self.ask_and_wait();
        let measured = lock(&self.usage);
        let mut total = Usage::default();
        let mut unknown = false;
        for generation in shown {
            let recorded = generation
                .size
                .zip(generation.files)
                .map(|(bytes, entries)| Usage { bytes, entries });
            match recorded.or_else(|| measured.get(&generation.id).copied()) {
                Some(usage) => total.add(usage),
                None => unknown = true,
            }
        }
        if unknown && let Some(Some(stored)) = self.stored.get() {
            // What the repository stores is what its generations hold, deduplicated and maybe
            // compressed: a figure below the truth (but for unpruned data), until measuring is done.
            total.bytes = total.bytes.max(*stored);
        }
        StatFs {
            blocks: total.bytes.div_ceil(u64::from(BLOCK_SIZE)),
            files: total.entries,
            block_size: BLOCK_SIZE,
            name_max: names::NAME_MAX as u32,
        }
    }
}

/// Bytes of regular-file content and number of entries below a directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    bytes: u64,
    entries: u64,
}

impl Usage {
    fn add(&mut self, other: Usage) {
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.entries = self.entries.saturating_add(other.entries);
    }
}

/// Directories whose totals are known, by the repository's key for them (shared subtrees).
type Memo = HashMap<u64, Usage>;

struct Frame<H> {
    key: Option<u64>,
    total: Usage,
    pending: Vec<Node<H>>,
}

/// The usage below `root`, walked without recursion so that deep trees cannot exhaust the stack,
/// reusing and filling `memo` for directories the repository can key.
fn measure<R: Repository>(
    repo: &R,
    root: &Node<R::Handle>,
    memo: &mut Memo,
    pace: &dyn Fn(),
) -> Result<Usage, RepoError> {
    let mut stack = vec![enter(repo, root)?];
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(Usage::default());
        };
        match top.pending.pop() {
            Some(child) if child.meta.kind == FileKind::Dir => {
                top.total.add(Usage {
                    bytes: 0,
                    entries: 1,
                });
                match repo.dir_key(&child.handle).and_then(|k| memo.get(&k)) {
                    Some(known) => top.total.add(*known),
                    None => {
                        pace();
                        stack.push(enter(repo, &child)?)
                    }
                }
            }
            Some(child) => {
                let bytes = if child.meta.kind == FileKind::File {
                    child.meta.size
                } else {
                    0
                };
                top.total.add(Usage { bytes, entries: 1 });
            }
            None => {
                let done = stack.pop().map(|f| (f.key, f.total)).unwrap_or_default();
                if let Some(key) = done.0 {
                    memo.insert(key, done.1);
                }
                match stack.last_mut() {
                    Some(parent) => parent.total.add(done.1),
                    None => return Ok(done.1),
                }
            }
        }
    }
}

fn enter<R: Repository>(repo: &R, dir: &Node<R::Handle>) -> Result<Frame<R::Handle>, RepoError> {
    let pending = repo
        .list_passing(&dir.handle)?
        .iter()
        .map(|(_, node)| node.clone())
        .collect();
    Ok(Frame {
        key: repo.dir_key(&dir.handle),
        total: Usage::default(),
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::folder::FolderRepo;

    #[test]
    fn counts_bytes_and_entries_below_a_folder() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let generation = dir.path().join("2026-01-01");
        std::fs::create_dir_all(generation.join("a/b/c"))?;
        std::fs::write(generation.join("one"), b"12345")?;
        std::fs::write(generation.join("a/b/c/two"), b"123")?;
        // Windows lets only administrators make symlinks.
        #[cfg(unix)]
        std::os::unix::fs::symlink("one", generation.join("link"))?;
        let repo = FolderRepo::open(dir.path())?;
        let root = repo.root(&repo.generations()[0])?;
        let usage = measure(&repo, &root, &mut Memo::new(), &|| ())?;
        assert_eq!(
            usage,
            Usage {
                bytes: 8,
                entries: if cfg!(unix) { 6 } else { 5 }
            }
        );
        Ok(())
    }
}
