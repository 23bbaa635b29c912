//! Node metadata as a backup stored it: type, full mode, owner, times to the nanosecond, links.
//! Shared by every backend and every platform adapter; nothing here knows an OS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl FileKind {
    /// The `S_IFMT` bits of this type (the same numbers on Linux, macOS and the BSDs).
    pub fn format_bits(self) -> u32 {
        match self {
            FileKind::Fifo => 0o010000,
            FileKind::CharDevice => 0o020000,
            FileKind::Dir => 0o040000,
            FileKind::BlockDevice => 0o060000,
            FileKind::File => 0o100000,
            FileKind::Symlink => 0o120000,
            FileKind::Socket => 0o140000,
        }
    }

    /// The type named by the `S_IFMT` bits of a POSIX mode, if any.
    pub fn from_mode(mode: u32) -> Option<FileKind> {
        [
            FileKind::Fifo,
            FileKind::CharDevice,
            FileKind::Dir,
            FileKind::BlockDevice,
            FileKind::File,
            FileKind::Symlink,
            FileKind::Socket,
        ]
        .into_iter()
        .find(|kind| kind.format_bits() == mode & 0o170000)
    }
}

/// A point in time as seconds and nanoseconds from the Unix epoch; negative seconds are before 1970.
/// `nanos` is always below one second, so 1969-12-31 23:59:59.5 is `{ secs: -1, nanos: 500_000_000 }`.
///
/// Packed to 12 bytes: every inode the kernel holds keeps three of these (a third of a node's
/// metadata at the natural 16), and fields are only ever copied out, never borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(C, packed(4))]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// A timestamp from seconds and nanoseconds, normalising nanoseconds outside 0..1e9.
    pub fn new(secs: i64, nanos: i64) -> Timestamp {
        let extra = nanos.div_euclid(1_000_000_000);
        let nanos = nanos.rem_euclid(1_000_000_000) as u32;
        Timestamp {
            secs: secs.saturating_add(extra),
            nanos,
        }
    }

    /// The same instant as a `SystemTime`, before 1970 too.
    pub fn to_system_time(self) -> SystemTime {
        let nanos = Duration::from_nanos(u64::from(self.nanos));
        let base = if self.secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(self.secs as u64))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(self.secs.unsigned_abs()))
        };
        base.and_then(|t| t.checked_add(nanos))
            .unwrap_or(UNIX_EPOCH)
    }

    /// The time as RFC 3339 in UTC, to the second: `2026-11-24T17:30:56Z`.
    pub fn to_rfc3339(self) -> String {
        let days = self.secs.div_euclid(86_400);
        let of_day = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    }

    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    /// The instant of a `SystemTime`, before 1970 too.
    pub fn from_system_time(time: SystemTime) -> Timestamp {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp::new(after.as_secs() as i64, i64::from(after.subsec_nanos())),
            Err(before) => {
                let before = before.duration();
                Timestamp::new(
                    -(before.as_secs() as i64),
                    -i64::from(before.subsec_nanos()),
                )
            }
        }
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The largest file size a kernel accepts (`off_t`): a backup that records more is damaged, and the
/// size is clamped so that the entry still lists and its content still reads.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// What a node looked like when it was backed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bytes of content (the target's length for a symlink).
    pub size: u64,
    /// 512-byte blocks the content occupied (less than `size` suggests for sparse files).
    pub blocks: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub nlink: u32,
    /// Device number of a character or block device.
    pub rdev: u64,
    /// An identity that every hardlink of one file shares within a generation.
    pub link_id: Option<LinkId>,
}

/// A hardlinked file's identity, its (device, inode) folded into eight bytes: the pair took 24 in
/// every inode held. Two files of one generation collide with a chance of one in 2^64 per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(std::num::NonZeroU64);

impl From<(u64, u64)> for LinkId {
    fn from(pair: (u64, u64)) -> LinkId {
        use std::hash::{Hash, Hasher};
        // The fixed keys of `DefaultHasher::new` give the same identity at every re-read.
        let mut hasher = std::hash::DefaultHasher::new();
        pair.hash(&mut hasher);
        LinkId(std::num::NonZeroU64::new(hasher.finish()).unwrap_or(std::num::NonZeroU64::MIN))
    }
}

impl Meta {
    /// The full POSIX mode: type bits and permission bits.
    pub fn mode(&self) -> u32 {
        self.kind.format_bits() | (self.perm & 0o7777)
    }

    /// Metadata for something genmount makes up itself (the root, `latest`, `.pid`).
    pub fn synthetic(kind: FileKind, perm: u32, size: u64, time: Timestamp) -> Meta {
        Meta {
            kind,
            perm,
            uid: 0,
            gid: 0,
            size,
            blocks: size.div_ceil(512),
            atime: time,
            mtime: time,
            ctime: time,
            nlink: if kind == FileKind::Dir { 2 } else { 1 },
            rdev: 0,
            link_id: None,
        }
    }
}

/// A node of a generation: its metadata and the backend's handle to reach its content.
#[derive(Debug, Clone)]
pub struct Node<H> {
    pub meta: Meta,
    pub handle: H,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_before_1970_round_trip() {
        // Windows's SystemTime counts 100 ns, so the nanoseconds here are whole hundreds.
        for (secs, nanos) in [
            (-1, 500_000_000),
            (-315_619_200, 123_456_700),
            (0, 0),
            (1_700_000_000, 100),
        ] {
            let ts = Timestamp::new(secs, nanos);
            assert_eq!(Timestamp::from_system_time(ts.to_system_time()), ts);
        }
    }

    #[test]
    fn timestamp_normalises_negative_nanos() {
        assert_eq!(
            Timestamp::new(0, -1),
            Timestamp {
                secs: -1,
                nanos: 999_999_999
            }
        );
        assert_eq!(
            Timestamp::new(1, 1_500_000_000),
            Timestamp {
                secs: 2,
                nanos: 500_000_000
            }
        );
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(Timestamp::new(0, 0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::new(1_795_541_456, 0).to_rfc3339(),
            "2026-11-24T17:30:56Z"
        );
        assert_eq!(Timestamp::new(-1, 0).to_rfc3339(), "1969-12-31T23:59:59Z");
        assert_eq!(
            Timestamp::new(951_782_400, 0).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }

    /// Every inode the kernel holds keeps a `Meta`: a field that grows it grows the daemon.
    #[test]
    fn metadata_stays_compact() {
        assert!(
            size_of::<Meta>() <= 88,
            "Meta is {} bytes",
            size_of::<Meta>()
        );
        assert_eq!(size_of::<Timestamp>(), 12);
    }

    #[test]
    fn mode_keeps_special_bits() {
        let mut meta = Meta::synthetic(FileKind::Dir, 0o1777, 0, Timestamp::EPOCH);
        assert_eq!(meta.mode(), 0o41777);
        meta.kind = FileKind::File;
        meta.perm = 0o6755;
        assert_eq!(meta.mode(), 0o106755);
        assert_eq!(FileKind::from_mode(0o106755), Some(FileKind::File));
        assert_eq!(FileKind::from_mode(0o0777), None);
    }
}
