//! Metadata, names, xattrs and positioned reads of local files, for the snapshot-folder backend,
//! and the opening of a local repository's data files. The one place in `src/` that uses std's
//! per-OS extensions; every other module sees only `Meta` and names as bytes.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

use crate::meta::{FileKind, LinkId, Meta, Timestamp};

fn regular_or_error(file: File) -> io::Result<File> {
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::other("not a regular file"))
    }
}

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};

        /// A node's metadata exactly as `lstat` gives it (`path` is where `md` came from).
        pub fn meta_of(_path: &Path, md: &Metadata) -> Meta {
            let kind = FileKind::from_mode(md.mode()).unwrap_or_else(|| kind_of(md));
            Meta {
                kind,
                perm: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                size: md.size(),
                blocks: md.blocks(),
                atime: Timestamp::new(md.atime(), md.atime_nsec()),
                mtime: Timestamp::new(md.mtime(), md.mtime_nsec()),
                ctime: Timestamp::new(md.ctime(), md.ctime_nsec()),
                nlink: u32::try_from(md.nlink()).unwrap_or(u32::MAX),
                rdev: md.rdev(),
                link_id: (kind != FileKind::Dir && md.nlink() > 1)
                    .then(|| LinkId::from((md.dev(), md.ino()))),
            }
        }

        /// An identity of a directory that changes when another directory takes its name.
        pub fn identity(_path: &Path, md: &Metadata) -> String {
            format!("{}:{}", md.dev(), md.ino())
        }

        /// Opens a file without following a symlink and, where allowed, without touching its atime.
        /// Opens a regular file read-only without following a symlink at the end of `path`, and
        /// without waiting: a FIFO put in a file's place would block the open (and a worker) until
        /// a writer came. Anything no longer a regular file is `None`.
        pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
            let base = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
            let file = noatime_flag()
                .and_then(|noatime| open_with(path, base | noatime).ok())
                .map_or_else(|| open_with(path, base), Ok)?;
            Ok(file.metadata()?.is_file().then_some(file))
        }

        /// Opens a local repository's data file (a restic pack, a borg segment) read-only,
        /// following symlinks as the backup tools do, and without waiting: a hostile repository's
        /// FIFO would block the open for good. Anything but a regular file (a device would give
        /// endless bytes) is an error.
        pub fn open_repo_file(path: &Path) -> io::Result<File> {
            let file = open_with(path, libc::O_CLOEXEC | libc::O_NONBLOCK)?;
            regular_or_error(file)
        }

        /// Whether reading `file` leaves its access time alone however it is opened: its
        /// filesystem is read-only or mounted `noatime`. A file the kernel reads by itself (FUSE
        /// passthrough) is opened again with the reader's flags, without `O_NOATIME`, so on any
        /// other filesystem the read would write an access time into the user's backup.
        #[cfg(target_os = "linux")]
        pub fn reads_leave_no_trace(file: &File) -> bool {
            use rustix::fs::StatVfsMountFlags as Flags;
            rustix::fs::fstatvfs(file)
                .map(|vfs| vfs.f_flag.intersects(Flags::RDONLY | Flags::NOATIME))
                .unwrap_or(false)
        }

        /// Only Linux has FUSE passthrough (and reports `noatime` through statvfs).
        #[cfg(not(target_os = "linux"))]
        pub fn reads_leave_no_trace(_file: &File) -> bool {
            false
        }

        fn open_with(path: &Path, flags: i32) -> io::Result<File> {
            std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path)
        }

        #[cfg(any(target_os = "linux", target_os = "android"))]
        fn noatime_flag() -> Option<i32> {
            Some(libc::O_NOATIME)
        }

        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        fn noatime_flag() -> Option<i32> {
            None
        }

        pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            file.read_at(buf, offset)
        }

        /// A file name as the bytes the OS stores.
        pub fn name_bytes(name: &OsStr) -> Vec<u8> {
            use std::os::unix::ffi::OsStrExt;
            name.as_bytes().to_vec()
        }

        /// The file name that `name_bytes` made `name` from.
        pub fn name_from_bytes(name: &[u8]) -> Option<Cow<'_, OsStr>> {
            use std::os::unix::ffi::OsStrExt;
            Some(Cow::Borrowed(OsStr::from_bytes(name)))
        }

        pub fn xattrs(path: &Path) -> io::Result<super::Xattrs> {
            let mut out = Vec::new();
            for name in xattr::list(path)? {
                if let Some(value) = xattr::get(path, &name)? {
                    out.push((name_bytes(&name), value));
                }
            }
            Ok(out)
        }

        fn kind_of(md: &Metadata) -> FileKind {
            let ft = md.file_type();
            if ft.is_fifo() {
                FileKind::Fifo
            } else if ft.is_socket() {
                FileKind::Socket
            } else if ft.is_char_device() {
                FileKind::CharDevice
            } else if ft.is_block_device() {
                FileKind::BlockDevice
            } else {
                portable_kind(md)
            }
        }
    } else {
        use std::os::windows::fs::{FileExt, OpenOptionsExt};
        use std::os::windows::io::AsRawHandle;
        use windows::Win32::Foundation::HANDLE;
        use windows::Win32::Storage::FileSystem::{
            BY_HANDLE_FILE_INFORMATION, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
            GetFileInformationByHandle,
        };

        /// A node's metadata as far as Windows tells it without POSIX fields; hardlinks are told
        /// apart by the file index, Windows's inode number.
        pub fn meta_of(path: &Path, md: &Metadata) -> Meta {
            let time = |t: io::Result<std::time::SystemTime>| {
                t.map(Timestamp::from_system_time).unwrap_or_default()
            };
            let kind = portable_kind(md);
            let perm = if kind == FileKind::Dir { 0o555 } else { 0o444 };
            let mut meta = Meta::synthetic(kind, perm, md.len(), time(md.modified()));
            meta.atime = time(md.accessed());
            meta.ctime = time(md.created());
            if kind != FileKind::Dir
                && let Some((id, links)) = file_identity(path)
            {
                meta.nlink = links.max(1);
                meta.link_id = (links > 1).then(|| LinkId::from(id));
            }
            meta
        }

        /// An identity of a directory that changes when another directory takes its name.
        pub fn identity(path: &Path, md: &Metadata) -> String {
            match file_identity(path) {
                Some(((volume, index), _)) => format!("{volume:x}:{index:x}"),
                None => format!("{:?}", md.created().ok()),
            }
        }

        /// The volume serial number and file index of `path` (not following a reparse point), and
        /// its number of links.
        fn file_identity(path: &Path) -> Option<((u64, u64), u32)> {
            let flags = FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT;
            // No access rights: enough to ask about the file, and never refused by a sharing mode.
            let file = std::fs::OpenOptions::new()
                .access_mode(0)
                .custom_flags(flags.0)
                .open(path)
                .ok()?;
            let mut info = BY_HANDLE_FILE_INFORMATION::default();
            // SAFETY: the handle stays open for the call and `info` is a valid place to write.
            unsafe { GetFileInformationByHandle(HANDLE(file.as_raw_handle()), &mut info) }.ok()?;
            let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
            Some(((u64::from(info.dwVolumeSerialNumber), index), info.nNumberOfLinks))
        }

        /// Opens a file read-only; `None` for anything not a regular file.
        pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
            let file = File::open(path)?;
            Ok(file.metadata()?.is_file().then_some(file))
        }

        /// Opens a local repository's data file read-only; anything but a regular file is an
        /// error.
        pub fn open_repo_file(path: &Path) -> io::Result<File> {
            regular_or_error(File::open(path)?)
        }

        /// Windows has no FUSE passthrough; nothing asks.
        pub fn reads_leave_no_trace(_file: &File) -> bool {
            false
        }

        pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            file.seek_read(buf, offset)
        }

        /// A file name as bytes: WTF-8, so that a name that is not valid UTF-16 (NTFS allows
        /// unpaired surrogates) still opens again.
        pub fn name_bytes(name: &OsStr) -> Vec<u8> {
            use std::os::windows::ffi::OsStrExt;
            wtf8::encode(name.encode_wide())
        }

        /// The file name that `name_bytes` made `name` from, if it made one.
        pub fn name_from_bytes(name: &[u8]) -> Option<Cow<'_, OsStr>> {
            use std::os::windows::ffi::OsStringExt;
            // No NTFS name holds these: they would make a path, or name an alternate data stream.
            if name.iter().any(|b| matches!(b, b'\\' | b'/' | b':' | 0)) {
                return None;
            }
            let wide = wtf8::decode(name)?;
            Some(Cow::Owned(std::ffi::OsString::from_wide(&wide)))
        }

        pub fn xattrs(_path: &Path) -> io::Result<super::Xattrs> {
            Ok(Vec::new())
        }
    }
}

fn portable_kind(md: &Metadata) -> FileKind {
    if md.is_dir() {
        FileKind::Dir
    } else if md.file_type().is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::File
    }
}

/// Fills `buf` from `offset` unless the file ends first; returns how many bytes were read.
pub fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match read_at(file, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(done)
}

/// WTF-8: UTF-8 extended to unpaired surrogates, so that any UTF-16 name (NTFS's) becomes bytes and
/// back without loss. Valid UTF-16 gives plain UTF-8.
#[cfg(any(windows, test))]
mod wtf8 {
    /// The bytes of a name given in UTF-16 code units.
    pub fn encode(wide: impl IntoIterator<Item = u16>) -> Vec<u8> {
        let mut out = Vec::new();
        for unit in char::decode_utf16(wide) {
            match unit {
                Ok(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                Err(err) => {
                    let s = err.unpaired_surrogate();
                    out.extend_from_slice(&[
                        0xE0 | (s >> 12) as u8,
                        0x80 | ((s >> 6) & 0x3F) as u8,
                        0x80 | (s & 0x3F) as u8,
                    ]);
                }
            }
        }
        out
    }

    /// The UTF-16 code units `encode` made `bytes` from, or `None` for bytes it never makes
    /// (invalid UTF-8, or a surrogate pair spelled as two surrogates, which would alias another name).
    pub fn decode(bytes: &[u8]) -> Option<Vec<u16>> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = bytes;
        let mut after_lead = false;
        loop {
            let (valid, invalid) = match std::str::from_utf8(rest) {
                Ok(all) => (all, &[][..]),
                Err(err) => {
                    let (valid, invalid) = rest.split_at(err.valid_up_to());
                    (std::str::from_utf8(valid).ok()?, invalid)
                }
            };
            if !valid.is_empty() {
                after_lead = false;
            }
            out.extend(valid.encode_utf16());
            match invalid {
                [] => return Some(out),
                [0xED, high @ 0xA0..=0xBF, low @ 0x80..=0xBF, tail @ ..] => {
                    let unit = 0xD000 | (u16::from(high & 0x3F) << 6) | u16::from(low & 0x3F);
                    let is_lead = unit < 0xDC00;
                    if after_lead && !is_lead {
                        return None;
                    }
                    after_lead = is_lead;
                    out.push(unit);
                    rest = tail;
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wtf8;

    #[test]
    fn utf16_names_survive_the_round_trip_lone_surrogates_too() {
        let names: [&[u16]; 5] = [
            &[0x61, 0x62],
            &[0xD83D, 0xDE00],
            &[0x61, 0xD800, 0x62],
            &[0xDC00, 0xD800],
            &[0xD800],
        ];
        for wide in names {
            let bytes = wtf8::encode(wide.iter().copied());
            assert_eq!(wtf8::decode(&bytes).as_deref(), Some(wide), "{bytes:x?}");
        }
        assert_eq!(wtf8::encode("é😀".encode_utf16()), "é😀".as_bytes());
        assert_eq!(wtf8::encode([0xD800]), [0xED, 0xA0, 0x80]);
    }

    #[test]
    fn bytes_that_no_name_encodes_to_are_refused() {
        assert_eq!(wtf8::decode(b"a\xffb"), None);
        assert_eq!(wtf8::decode(&[0xED, 0xA0]), None);
        // A pair spelled as two surrogates would open the same file as the 4-byte form.
        assert_eq!(wtf8::decode(&[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]), None);
        assert_eq!(wtf8::decode(b""), Some(Vec::new()));
    }
}
