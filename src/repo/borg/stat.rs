//! An archive entry's metadata as a tree keeps it: half the size of `Meta` (times as nanoseconds,
//! the link group as an entry index, blocks worked out from the size), since an archive of a
//! million entries keeps a million of them.

use crate::meta::{FileKind, LinkId, Meta, Timestamp};

/// No hardlink group.
const NO_LINK: u32 = u32::MAX;

/// Compact metadata of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileKind,
    perm: u16,
    pub nlink: u32,
    uid: u32,
    gid: u32,
    pub size: u64,
    atime: i64,
    mtime: i64,
    ctime: i64,
    rdev: u64,
    /// The entry index of the first link of a hardlinked file, or `NO_LINK`.
    link: u32,
}

impl Stat {
    /// The compact form of `meta` (its link identity, if any, is set with `set_link`).
    pub fn of(meta: &Meta) -> Stat {
        Stat {
            kind: meta.kind,
            perm: (meta.perm & 0o7777) as u16,
            nlink: meta.nlink,
            uid: meta.uid,
            gid: meta.gid,
            size: meta.size,
            atime: nanos(meta.atime),
            mtime: nanos(meta.mtime),
            ctime: nanos(meta.ctime),
            rdev: meta.rdev,
            link: NO_LINK,
        }
    }

    /// The full metadata; hardlinks share the identity of their first link.
    pub fn to_meta(&self) -> Meta {
        let time =
            |ns: i64| Timestamp::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
        Meta {
            kind: self.kind,
            perm: u32::from(self.perm),
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            blocks: self.size.div_ceil(512),
            atime: time(self.atime),
            mtime: time(self.mtime),
            ctime: time(self.ctime),
            nlink: self.nlink,
            rdev: self.rdev,
            link_id: self
                .link_first()
                .map(|first| LinkId::from((0, u64::from(first)))),
        }
    }

    pub fn set_link(&mut self, first: u32) {
        self.link = first;
    }

    pub fn link_first(&self) -> Option<u32> {
        (self.link != NO_LINK).then_some(self.link)
    }
}

/// A time as nanoseconds since 1970, saturating beyond ±292 years (borg stores nanoseconds).
fn nanos(time: Timestamp) -> i64 {
    time.secs
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(time.nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips() {
        let mut meta = Meta::synthetic(FileKind::File, 0o6755, 4097, Timestamp::new(-2, 500));
        meta.uid = 1234;
        meta.rdev = 259;
        meta.ctime = Timestamp::new(1_700_000_000, 999_999_999);
        let mut stat = Stat::of(&meta);
        assert_eq!(stat.to_meta(), meta);
        stat.set_link(7);
        assert_eq!(stat.to_meta().link_id, Some(LinkId::from((0, 7))));
        assert!(
            std::mem::size_of::<Stat>() <= 72,
            "{}",
            std::mem::size_of::<Stat>()
        );
    }
}
