//! genmount's attributes as Windows file information: attribute flags, FILETIME (100 ns since
//! 1601, before 1970 too, clamped before 1601), sizes rounded to allocation units, link counts.

use crate::meta::{FileKind, Meta, Timestamp};

pub const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
pub const FILE_ATTRIBUTE_HIDDEN: u32 = 0x2;
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
pub const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
pub const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;

/// Seconds from 1601-01-01 to 1970-01-01.
const EPOCH_DIFFERENCE: i64 = 11_644_473_600;
/// The allocation unit genmount reports.
pub const ALLOCATION_UNIT: u64 = 4096;

/// What WinFsp's `FileInfo` holds, independent of the winfsp crate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WinFileInfo {
    pub attributes: u32,
    pub reparse_tag: u32,
    pub file_size: u64,
    pub allocation_size: u64,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub index_number: u64,
    pub hard_links: u32,
}

/// A time as FILETIME: 100-nanosecond intervals since 1601-01-01 UTC; 0 for anything earlier.
pub fn filetime(ts: Timestamp) -> u64 {
    let secs = i128::from(ts.secs) + i128::from(EPOCH_DIFFERENCE);
    let ticks = secs * 10_000_000 + i128::from(ts.nanos / 100);
    u64::try_from(ticks.max(0)).unwrap_or(u64::MAX)
}

/// The file information of a node. `name` decides hidden-ness when `hide_dot_files` is set.
pub fn file_info(ino: u64, meta: &Meta, name: &[u8], hide_dot_files: bool) -> WinFileInfo {
    let mut attributes = match meta.kind {
        FileKind::Dir => FILE_ATTRIBUTE_DIRECTORY,
        // Windows shows read-only for files of a read-only volume; on a folder it means "customised".
        _ => FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_ARCHIVE,
    };
    let mut reparse_tag = 0;
    if meta.kind == FileKind::Symlink {
        attributes |= FILE_ATTRIBUTE_REPARSE_POINT;
        reparse_tag = IO_REPARSE_TAG_SYMLINK;
    }
    if hide_dot_files && name.first() == Some(&b'.') {
        attributes |= FILE_ATTRIBUTE_HIDDEN;
    }
    let file_size = if meta.kind == FileKind::File {
        meta.size
    } else {
        0
    };
    WinFileInfo {
        attributes,
        reparse_tag,
        file_size,
        allocation_size: file_size
            .div_ceil(ALLOCATION_UNIT)
            .saturating_mul(ALLOCATION_UNIT),
        // Backups keep no birth time; the modification time is the closest.
        creation_time: filetime(meta.mtime),
        last_access_time: filetime(meta.atime),
        last_write_time: filetime(meta.mtime),
        change_time: filetime(meta.ctime),
        index_number: ino,
        hard_links: meta.nlink.max(1),
    }
}

/// The security descriptor of every file (SDDL): owned by the system, readable and listable by
/// everyone, writable by no one; the volume is read-only in any case.
pub const SECURITY_SDDL: &str = "O:SYG:SYD:P(A;;FRFX;;;WD)(A;;FRFX;;;SY)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_of_known_instants() {
        assert_eq!(filetime(Timestamp::new(0, 0)), 116_444_736_000_000_000);
        assert_eq!(
            filetime(Timestamp::new(-1, 500_000_000)),
            116_444_735_995_000_000
        );
        assert_eq!(filetime(Timestamp::new(-EPOCH_DIFFERENCE, 0)), 0);
        assert_eq!(
            filetime(Timestamp::new(-EPOCH_DIFFERENCE - 1, 0)),
            0,
            "before 1601 clamps"
        );
        assert_eq!(filetime(Timestamp::new(1, 123)), 116_444_736_010_000_001);
    }

    #[test]
    fn attributes_and_sizes() {
        let mut meta = Meta::synthetic(FileKind::File, 0o644, 5000, Timestamp::EPOCH);
        let info = file_info(77, &meta, b".profile", true);
        assert_eq!(
            info.attributes,
            FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_HIDDEN
        );
        assert_eq!(
            (info.file_size, info.allocation_size, info.index_number),
            (5000, 8192, 77)
        );
        assert_eq!(
            file_info(77, &meta, b".profile", false).attributes & FILE_ATTRIBUTE_HIDDEN,
            0
        );
        meta.kind = FileKind::Symlink;
        let info = file_info(1, &meta, b"link", false);
        assert_ne!(info.attributes & FILE_ATTRIBUTE_REPARSE_POINT, 0);
        assert_eq!(
            (info.reparse_tag, info.file_size),
            (IO_REPARSE_TAG_SYMLINK, 0)
        );
        meta.kind = FileKind::Dir;
        meta.nlink = 0;
        let info = file_info(1, &meta, b"d", false);
        assert_eq!(
            (info.attributes, info.hard_links),
            (FILE_ATTRIBUTE_DIRECTORY, 1)
        );
    }
}
