//! Whether a listing the OS merely offers to take attributes with (FUSE's readdirplus) carries
//! them, learnt from what callers do with the listings they read.
//!
//! Attributes given with a listing save the caller that then stats each entry (`ls -l`, file
//! managers) a LOOKUP round trip per entry. But each one makes the kernel build an inode and the
//! tree hold one, and a caller that only walks names (`find`, `grep -r`'s descent) never uses
//! them: at 300,000 files they were two thirds of `find`'s time and half its memory. So a
//! listing carries attributes while callers have been looking up the files they list, and
//! otherwise only `.` and `..`: the kernel then reads the rest as plain names and looks up by
//! name what it needs. Lookups of directories say nothing (both kinds of caller descend), so
//! only lookups of other entries count.
//!
//! Measured over windows of listed entries. While attributes are given, the kernel no longer
//! looks up what it lists, so one listing in `PROBE_EVERY` is still served bare to keep
//! measuring.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries listed bare after which the choice is made again.
const WINDOW: u64 = 1024;
/// While attributes are given, one listing in this many is served bare, as a probe.
const PROBE_EVERY: u64 = 64;

/// The choice, and what it is made from.
#[derive(Default)]
pub struct PlusPolicy {
    /// Lookups of entries that are not directories, since the window began.
    looked_up: AtomicU64,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// Attributes are given with listings.
    give: bool,
    /// Entries listed bare in this window.
    listed: u64,
    /// Offered listings since attributes were last switched on, for the probes.
    offered: u64,
}

impl PlusPolicy {
    /// Whether an offered listing of `entries` entries, from its start, carries attributes.
    pub fn give_attrs(&self, entries: usize) -> bool {
        let Ok(mut window) = self.window.lock() else {
            return true;
        };
        if window.give {
            window.offered = window.offered.wrapping_add(1);
            if window.offered % PROBE_EVERY != 0 {
                return true;
            }
        }
        window.listed = window.listed.saturating_add(entries as u64);
        if window.listed >= WINDOW {
            let looked_up = self.looked_up.swap(0, Ordering::Relaxed);
            // Callers that stat look up nearly every file they list; callers that walk names,
            // none: any threshold between separates them.
            let give = looked_up.saturating_mul(4) >= window.listed;
            if give != window.give {
                tracing::debug!(
                    give,
                    looked_up,
                    listed = window.listed,
                    "listing attributes"
                );
                window.offered = 0;
            }
            window.give = give;
            window.listed = 0;
        }
        false
    }

    /// A lookup succeeded for an entry that is not a directory.
    pub fn looked_up_file(&self) {
        self.looked_up.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists `dirs` directories of `files` entries; with `stat`, looks each entry up afterwards.
    /// Returns how many listings carried attributes.
    fn walk(policy: &PlusPolicy, dirs: usize, files: usize, stat: bool) -> usize {
        let mut given = 0;
        for _ in 0..dirs {
            let give = policy.give_attrs(files);
            given += usize::from(give);
            if stat && !give {
                (0..files).for_each(|_| policy.looked_up_file());
            }
        }
        given
    }

    #[test]
    fn walking_names_never_gets_attributes() {
        let policy = PlusPolicy::default();
        assert_eq!(walk(&policy, 1000, 100, false), 0);
    }

    #[test]
    fn statting_what_is_listed_soon_gets_attributes_but_keeps_probing() {
        let policy = PlusPolicy::default();
        // The first window (11 listings of 100) is bare, the one that closes it too.
        assert_eq!(walk(&policy, 11, 100, true), 0);
        let given = walk(&policy, 320, 100, true);
        assert_eq!(given, 320 - 320 / PROBE_EVERY as usize);
    }

    #[test]
    fn a_walk_after_statting_goes_back_to_bare_listings() {
        let policy = PlusPolicy::default();
        walk(&policy, 100, 100, true);
        // The probes see no lookups, so listings become bare again.
        // Lookups from before the walk may carry one window over: two windows of probes.
        walk(&policy, 22 * PROBE_EVERY as usize, 100, false);
        assert_eq!(walk(&policy, 100, 100, false), 0);
    }

    #[test]
    fn one_huge_directory_statted_switches_at_the_next_listing() {
        let policy = PlusPolicy::default();
        assert!(!policy.give_attrs(100_000));
        (0..100_000).for_each(|_| policy.looked_up_file());
        assert!(!policy.give_attrs(WINDOW as usize), "closes the window");
        assert!(policy.give_attrs(10));
    }
}
