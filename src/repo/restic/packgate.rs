//! The first read of each tree pack, one thread at a time. rustic's local cache fills a miss by
//! downloading the whole pack and writing it through a temporary file named after the pack: threads
//! that miss the same pack at once each download it again and race on that one file ("Failed to
//! move" in the log), and a reader can meanwhile find the pack file half written (a tree read then
//! fails as damaged). Sibling trees share packs and genmount reads them on several threads (read-ahead
//! workers, the kernel's threads, the statfs walk), so the first read of a pack goes alone and the
//! others wait for it, then read from the complete cache file.

use quick_cache::sync::Cache;
use rustic_core::repofile::PackId;

/// Packs whose first read is done, remembered up to this many (a pack id is 32 bytes).
const PACKS: usize = 1 << 16;

pub struct PackGate(Option<Cache<PackId, ()>>);

impl PackGate {
    /// A gate for a repository read through a local cache; without one (`--no-cache`) there is
    /// no file to race on and reads go straight through.
    pub fn new(cached: bool) -> PackGate {
        PackGate(cached.then(|| Cache::new(PACKS)))
    }

    /// Runs `read` (of a tree in `pack`), alone while no read of that pack has succeeded yet.
    pub fn read<T, E>(
        &self,
        pack: Option<PackId>,
        read: impl Fn() -> Result<T, E>,
    ) -> Result<T, E> {
        let (Some(gate), Some(pack)) = (&self.0, pack) else {
            return read();
        };
        let mut first = None;
        // Waiters block here until the first read of `pack` is done; a failed one inserts
        // nothing, and the next waiter tries in its place.
        gate.get_or_insert_with(&pack, || {
            first = Some(read()?);
            Ok(())
        })?;
        match first {
            Some(value) => Ok(value),
            None => read(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn the_first_read_of_a_pack_goes_alone() {
        let gate = PackGate::new(true);
        let (calls, first_running, overlapped) = (
            AtomicUsize::new(0),
            AtomicBool::new(false),
            AtomicBool::new(false),
        );
        let read = || -> Result<u32, ()> {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                // The first read is slow, as a download is: the others arrive while it runs.
                first_running.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(150));
                first_running.store(false, Ordering::SeqCst);
            } else if first_running.load(Ordering::SeqCst) {
                overlapped.store(true, Ordering::SeqCst);
            }
            Ok(7)
        };
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| assert_eq!(gate.read(Some(PackId::default()), read), Ok(7)));
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            6,
            "each thread gets its own tree"
        );
        assert!(
            !overlapped.load(Ordering::SeqCst),
            "a read ran beside the first"
        );
        let ungated = PackGate::new(false);
        assert_eq!(
            ungated.read(Some(PackId::default()), || Ok::<_, ()>(1)),
            Ok(1)
        );
        assert_eq!(gate.read(None, || Ok::<_, ()>(2)), Ok(2));
    }

    #[test]
    fn a_failed_first_read_lets_the_next_one_try() {
        let gate = PackGate::new(true);
        assert_eq!(
            gate.read(Some(PackId::default()), || Err::<u32, _>("gone")),
            Err("gone")
        );
        assert_eq!(
            gate.read(Some(PackId::default()), || Ok::<_, &str>(3)),
            Ok(3)
        );
    }
}
