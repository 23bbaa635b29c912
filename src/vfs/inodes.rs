//! The inode model: what an inode number stands for, and the table of inodes the kernel holds, with
//! numbers derived from where a node is so that a lookup after `forget` gets the same number back.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::Ino;
use super::versions::{MergedChild, MergedDir, VersionsDir};
use crate::meta::{FileKind, LinkId, Meta, Node};

/// Generation contents never change, so the kernel may cache them for long.
pub const GENERATION_TTL: Duration = Duration::from_secs(24 * 3600);
/// The root changes at every refresh.
pub const ROOT_TTL: Duration = Duration::from_secs(1);

/// Inode numbers below this are genmount's own (root, `latest`, `.pid`).
pub const FIRST_DYNAMIC: Ino = 16;

/// What an inode of a generation is.
#[derive(Debug, Clone)]
pub struct Slot<H> {
    /// The inode of the generation directory this node belongs to: hardlinks are shared within it.
    pub generation: Ino,
    pub node: Node<H>,
}

/// What an inode the kernel holds stands for: a node of a generation, or a directory of the
/// versions view. The root's own inodes (`latest`, `.pid`, groups) are not in the table.
pub enum Inode<H> {
    Node(Arc<Slot<H>>),
    Merged(Arc<MergedDir<H>>),
    Versions(Arc<VersionsDir<H>>),
}

impl<H> Clone for Inode<H> {
    fn clone(&self) -> Self {
        match self {
            Inode::Node(slot) => Inode::Node(slot.clone()),
            Inode::Merged(dir) => Inode::Merged(dir.clone()),
            Inode::Versions(dir) => Inode::Versions(dir.clone()),
        }
    }
}

impl<H> Inode<H> {
    pub fn meta(&self) -> &Meta {
        match self {
            Inode::Node(slot) => &slot.node.meta,
            Inode::Merged(dir) => &dir.meta,
            Inode::Versions(dir) => &dir.meta,
        }
    }

    /// Nodes of a generation never change; merged directories gain versions at every refresh.
    pub fn ttl(&self) -> Duration {
        match self {
            Inode::Node(_) => GENERATION_TTL,
            Inode::Merged(_) | Inode::Versions(_) => ROOT_TTL,
        }
    }
}

impl<H> From<&MergedChild<H>> for Inode<H> {
    fn from(child: &MergedChild<H>) -> Self {
        match child {
            MergedChild::Dir(dir) => Inode::Merged(dir.clone()),
            MergedChild::Versions(dir) => Inode::Versions(dir.clone()),
        }
    }
}

/// One entry of a directory as the layout lists it.
#[derive(Clone)]
pub enum Child<H> {
    /// An inode for the table: counted as a lookup when readdirplus returns it.
    Node {
        name: Vec<u8>,
        key: InoKey,
        inode: Inode<H>,
    },
    /// One of the root's own inodes (`latest`, `.pid`, a group, an alias): its number is fixed and
    /// the kernel's lookups of it are not counted.
    Fixed {
        name: Vec<u8>,
        kind: FileKind,
        ino: Ino,
    },
}

impl<H> Child<H> {
    pub fn name(&self) -> &[u8] {
        match self {
            Child::Node { name, .. } | Child::Fixed { name, .. } => name,
        }
    }

    pub fn kind(&self) -> FileKind {
        match self {
            Child::Node { inode, .. } => inode.meta().kind,
            Child::Fixed { kind, .. } => *kind,
        }
    }

    /// The number a plain readdir shows: the fixed one, or the one the key would get.
    pub fn ino(&self) -> Ino {
        match self {
            Child::Node { key, .. } => key.ino,
            Child::Fixed { ino, .. } => *ino,
        }
    }
}

/// A number and a second, independent hash that tells two identities apart if the numbers collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InoKey {
    pub ino: Ino,
    check: u64,
}

impl InoKey {
    /// The key of the entry `name` of directory `parent`.
    pub fn child(parent: Ino, name: &[u8]) -> InoKey {
        InoKey::of(&(b"child", parent, name))
    }

    /// The key every hardlink of one file shares within a generation.
    pub fn hardlink(generation: Ino, link: LinkId) -> InoKey {
        InoKey::of(&(b"link", generation, link))
    }

    /// The key of a node inside a generation: by its link identity when it has hardlinks.
    pub fn for_node<H>(generation: Ino, parent: Ino, name: &[u8], node: &Node<H>) -> InoKey {
        match node.meta.link_id {
            Some(link) if node.meta.nlink > 1 => InoKey::hardlink(generation, link),
            _ => InoKey::child(parent, name),
        }
    }

    /// What the table keeps of `check`.
    fn short_check(self) -> u32 {
        self.check as u32
    }

    fn of(value: &impl Hash) -> InoKey {
        let hash = |salt: u8| {
            let mut hasher = DefaultHasher::new();
            salt.hash(&mut hasher);
            value.hash(&mut hasher);
            hasher.finish()
        };
        let ino = hash(0).max(FIRST_DYNAMIC);
        InoKey {
            ino,
            check: hash(1),
        }
    }
}

/// One inode of the table: 24 bytes besides its number when `T` is an `Inode`, since a table of a
/// million held inodes has two million slots.
struct Held<T> {
    value: T,
    /// Half of the key's check: it only tells apart identities whose 64-bit numbers collided.
    check: u32,
    /// Kernel references, or `PINNED`. The kernel's own count is 64-bit, but an inode looked up
    /// four billion times over is no inode any kernel keeps: saturating, it stays held.
    lookups: u32,
}

/// The count of an inode held for the life of the mount, whatever the kernel forgets.
const PINNED: u32 = u32::MAX;

/// Inode numbers are hashes already (`InoKey`): the table hashes them no further. SipHash of each
/// key was a tenth of the table's cost in a `find` over 300,000 entries.
#[derive(Default, Clone, Copy)]
struct AsIs(u64);

impl Hasher for AsIs {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; anything else still spreads.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type InoMap<T> = HashMap<Ino, Held<T>, BuildHasherDefault<AsIs>>;

/// Inodes the kernel holds, by number, each with what it stands for (`T`).
pub struct InodeTable<T> {
    map: Mutex<InoMap<T>>,
}

impl<T> Default for InodeTable<T> {
    fn default() -> Self {
        InodeTable {
            map: Mutex::new(HashMap::default()),
        }
    }
}

impl<T: Clone> InodeTable<T> {
    fn lock(&self) -> MutexGuard<'_, InoMap<T>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, ino: Ino) -> Option<T> {
        self.lock().get(&ino).map(|held| held.value.clone())
    }

    /// Records one more kernel reference to `value` and returns its number: the key's own unless
    /// another identity already holds that number, then the next free one. A held identity takes the
    /// new value, so that a merged directory looked up again after a refresh shows the new generations.
    pub fn remember(&self, key: InoKey, value: T) -> Ino {
        let mut map = self.lock();
        let mut ino = key.ino;
        loop {
            match map.entry(ino) {
                Entry::Occupied(mut held) if held.get().check == key.short_check() => {
                    let held = held.get_mut();
                    if held.lookups != PINNED {
                        held.lookups = held.lookups.saturating_add(1).min(PINNED - 1);
                    }
                    held.value = value;
                    return ino;
                }
                Entry::Occupied(_) => ino = ino.wrapping_add(1).max(FIRST_DYNAMIC),
                Entry::Vacant(free) => {
                    free.insert(Held {
                        check: key.short_check(),
                        value,
                        lookups: 1,
                    });
                    return ino;
                }
            }
        }
    }

    /// Keeps `value` at `ino` for the life of the mount (or until pinned again).
    pub fn pin(&self, ino: Ino, value: T) {
        let held = Held {
            check: 0,
            value,
            lookups: PINNED,
        };
        self.lock().insert(ino, held);
    }

    /// Drops `nlookup` kernel references; the inode is freed when none are left. Returns whether
    /// it was freed.
    pub fn forget(&self, ino: Ino, nlookup: u64) -> bool {
        let mut map = self.lock();
        let Some(held) = map.get_mut(&ino) else {
            return false;
        };
        if held.lookups == PINNED {
            return false;
        }
        let dropped = u32::try_from(nlookup).unwrap_or(u32::MAX);
        held.lookups = held.lookups.saturating_sub(dropped);
        let freed = held.lookups == 0;
        if freed {
            map.remove(&ino);
        }
        freed
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{FileKind, LinkId, Meta, Timestamp};

    fn slot(nlink: u32, link: Option<(u64, u64)>) -> Slot<()> {
        let mut meta = Meta::synthetic(FileKind::File, 0o644, 1, Timestamp::EPOCH);
        meta.nlink = nlink;
        meta.link_id = link.map(LinkId::from);
        Slot {
            generation: 100,
            node: Node { meta, handle: () },
        }
    }

    #[test]
    fn same_place_same_number_after_forget() {
        let table = InodeTable::default();
        let key = InoKey::child(50, b"file");
        let first = table.remember(key, slot(1, None));
        table.forget(first, 1);
        assert!(table.is_empty());
        assert_eq!(table.remember(key, slot(1, None)), first);
        assert!(first >= FIRST_DYNAMIC);
    }

    #[test]
    fn lookups_are_counted() {
        let table = InodeTable::default();
        let key = InoKey::child(50, b"file");
        let ino = table.remember(key, slot(1, None));
        table.remember(key, slot(1, None));
        table.forget(ino, 1);
        assert!(table.get(ino).is_some());
        table.forget(ino, 1);
        assert!(table.get(ino).is_none());
    }

    #[test]
    fn hardlinks_share_a_number_within_a_generation() {
        let linked = slot(2, Some((1, 77)));
        let a = InoKey::for_node(100, 50, b"a", &linked.node);
        let b = InoKey::for_node(100, 60, b"b", &linked.node);
        let other_gen = InoKey::for_node(101, 50, b"a", &linked.node);
        assert_eq!(a, b);
        assert_ne!(a, other_gen);
        let single = slot(1, Some((1, 77)));
        assert_ne!(InoKey::for_node(100, 50, b"a", &single.node), a);
    }

    #[test]
    fn colliding_numbers_are_told_apart() {
        let table = InodeTable::default();
        let one = InoKey { ino: 500, check: 1 };
        let two = InoKey { ino: 500, check: 2 };
        assert_eq!(table.remember(one, slot(1, None)), 500);
        assert_eq!(table.remember(two, slot(1, None)), 501);
        assert_eq!(table.remember(one, slot(1, None)), 500);
    }

    #[test]
    fn pinned_inodes_survive_forget() {
        let table = InodeTable::default();
        table.pin(1, slot(1, None));
        table.forget(1, 10);
        assert!(table.get(1).is_some());
        let root = InoKey { ino: 1, check: 0 };
        assert_eq!(table.remember(root, slot(1, None)), 1);
        assert!(!table.forget(1, u64::MAX));
        assert!(table.get(1).is_some());
    }
}
