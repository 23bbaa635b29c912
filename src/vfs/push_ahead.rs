//! Read-ahead across files: which files to read before they are asked for. A reader that copies
//! a directory reads its files one after another from their start, in listing order (`tar`,
//! `rsync`, `cat *`) or in inode order (`cp -r` sorts names by inode number, to spare a disk's
//! seeks). Once two reads show the order, the files ahead of the reader are read on workers and
//! handed to the OS's page cache (`KernelCache::store`), so that the reader finds them there:
//! for a small file, that saves the one round trip that is most of its copy. The window doubles
//! while the reader keeps to the order (mountpoint-s3's prefetcher does the same within a file)
//! and is dropped when it leaves it. This module decides; `layout/push.rs` reads and stores.

use std::collections::{HashMap, VecDeque};

use super::Ino;

/// Directories whose listings are remembered: a reader works through one at a time, and `cp -r`
/// comes back to a directory after each subdirectory it holds.
const RECENT_DIRS: usize = 8;
/// Larger directories are not planned: their plan's map would cost memory for a rare reader.
const MAX_PLANNED: usize = 100_000;
/// Files larger than this are left to the read-ahead within a file.
pub const MAX_FILE: u64 = 1 << 20;
/// Files pushed after the order is first seen, and at most ahead of the reader.
const FIRST_WINDOW: usize = 8;
const MAX_WINDOW: usize = 512;
/// The bytes one window may push: what the page cache takes in advance, and the workers' work
/// that is lost when the reader stops.
const WINDOW_BYTES: u64 = 16 << 20;

/// A regular file of a directory, as a plan knows it. Empty files are left out of plans: reading
/// one never reaches the tree, so a reader's reads would seem to skip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub ino: Ino,
    pub size: u64,
}

/// The orders readers walk a directory's files in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Listing,
    Ino,
}

impl Order {
    /// This order's one of a pair kept for both: (listing, inode number).
    fn of<T>(self, pair: (T, T)) -> T {
        match self {
            Order::Listing => pair.0,
            Order::Ino => pair.1,
        }
    }
}

/// A directory's regular files in both orders.
struct Plan {
    listing: Vec<Planned>,
    /// Indexes into `listing`, by inode number.
    by_ino: Vec<u32>,
    /// Where each file is: its place in `listing` and in `by_ino`.
    places: HashMap<Ino, (u32, u32)>,
}

impl Plan {
    fn new(listing: Vec<Planned>) -> Plan {
        let mut by_ino: Vec<u32> = (0..listing.len() as u32).collect();
        by_ino.sort_unstable_by_key(|&i| listing[i as usize].ino);
        let mut places = HashMap::with_capacity(listing.len());
        for (ino_place, &i) in by_ino.iter().enumerate() {
            places.insert(listing[i as usize].ino, (i, ino_place as u32));
        }
        Plan {
            listing,
            by_ino,
            places,
        }
    }

    /// Where file `ino` is in each order.
    fn places(&self, ino: Ino) -> Option<(usize, usize)> {
        let (listing, by_ino) = *self.places.get(&ino)?;
        Some((listing as usize, by_ino as usize))
    }

    fn at(&self, order: Order, place: usize) -> Option<Planned> {
        let index = match order {
            Order::Listing => place,
            Order::Ino => *self.by_ino.get(place)? as usize,
        };
        self.listing.get(index).copied()
    }
}

/// What a plan is made from when it is first needed: most listings are never read through.
type MakePlan = Box<dyn FnOnce() -> Vec<Planned> + Send>;

/// Where a reader is in one directory, and how far ahead of it files have been pushed.
#[derive(Default)]
struct Stream {
    order: Option<Order>,
    /// The last file whose start was read: its place in each order.
    last: Option<(usize, usize)>,
    /// Places before this (in `order`) have been pushed or were skipped.
    ahead: usize,
    window: usize,
}

struct Dir {
    ino: Ino,
    make: Option<MakePlan>,
    plan: Option<Plan>,
    stream: Stream,
}

impl Dir {
    /// Makes the plan if it was not yet; none for a directory too large to plan.
    fn make_plan(&mut self) {
        if let Some(make) = self.make.take() {
            let files = make();
            self.plan = (files.len() <= MAX_PLANNED).then(|| Plan::new(files));
        }
    }
}

/// The recently listed directories and where readers are in them.
#[derive(Default)]
pub struct PushAhead {
    dirs: VecDeque<Dir>,
}

impl PushAhead {
    /// Directory `ino` was listed from its start; `make` gives its regular files in listing order.
    pub fn listed(&mut self, ino: Ino, make: MakePlan) {
        if self.dirs.iter().any(|dir| dir.ino == ino) {
            // Listed again (`cp -r` lists once; `ls` may list often): keep where its reader is.
            return;
        }
        if self.dirs.len() == RECENT_DIRS {
            self.dirs.pop_back();
        }
        self.dirs.push_front(Dir {
            ino,
            make: Some(make),
            plan: None,
            stream: Stream::default(),
        });
    }

    /// A read from the start of file `ino`: the files to push now, in the order to push them.
    pub fn started(&mut self, ino: Ino) -> Vec<Planned> {
        for dir in &mut self.dirs {
            dir.make_plan();
            let Dir {
                plan: Some(plan),
                stream,
                ..
            } = dir
            else {
                continue;
            };
            if let Some(places) = plan.places(ino) {
                return stream.advance(plan, places);
            }
        }
        Vec::new()
    }
}

impl Stream {
    fn advance(&mut self, plan: &Plan, places: (usize, usize)) -> Vec<Planned> {
        let last = self.last.replace(places);
        if let Some(order) = self.order {
            let place = order.of(places);
            let was = last.map_or(0, |last| order.of(last));
            if place > was && place <= self.ahead {
                self.window = (self.window * 2).min(MAX_WINDOW);
                return self.push(plan, order, place);
            }
            self.order = None;
        }
        // Two starts in a row show an order; listing order wins when both do.
        let Some(last) = last else { return Vec::new() };
        let order = if places.0 == last.0 + 1 {
            Order::Listing
        } else if places.1 == last.1 + 1 {
            Order::Ino
        } else {
            return Vec::new();
        };
        self.order = Some(order);
        self.window = FIRST_WINDOW;
        self.ahead = 0;
        self.push(plan, order, order.of(places))
    }

    /// The files after `place` up to the window, less those already pushed.
    fn push(&mut self, plan: &Plan, order: Order, place: usize) -> Vec<Planned> {
        let mut files = Vec::new();
        let mut bytes = 0;
        let mut next = self.ahead.max(place + 1);
        while next <= place + self.window && bytes < WINDOW_BYTES {
            let Some(file) = plan.at(order, next) else {
                break;
            };
            if file.size <= MAX_FILE {
                bytes += file.size;
                files.push(file);
            }
            next += 1;
        }
        self.ahead = next;
        files
    }
}

#[cfg(test)]
mod tests;
