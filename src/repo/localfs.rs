//! Metadata, xattrs and positioned reads of local files, for the snapshot-folder backend.
//! The one place in `src/` that uses std's per-OS extensions; every other module sees only `Meta`.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

use crate::meta::{FileKind, Meta, Timestamp};

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};

        /// A node's metadata exactly as `lstat` gives it.
        pub fn meta_of(md: &Metadata) -> Meta {
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
                link_id: (kind != FileKind::Dir && md.nlink() > 1).then(|| (md.dev(), md.ino())),
            }
        }

        /// An identity of a directory that changes when another directory takes its name.
        pub fn identity(md: &Metadata) -> String {
            format!("{}:{}", md.dev(), md.ino())
        }

        /// Opens a file without following a symlink and, where allowed, without touching its atime.
        pub fn open_nofollow(path: &Path) -> io::Result<File> {
            let base = libc::O_NOFOLLOW | libc::O_CLOEXEC;
            noatime_flag()
                .and_then(|noatime| open_with(path, base | noatime).ok())
                .map_or_else(|| open_with(path, base), Ok)
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

        pub fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
            use std::os::unix::ffi::OsStrExt;
            name.as_bytes().to_vec()
        }

        pub fn name_from_bytes(name: &[u8]) -> &std::ffi::OsStr {
            use std::os::unix::ffi::OsStrExt;
            std::ffi::OsStr::from_bytes(name)
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
        /// A node's metadata as far as the OS tells it without POSIX fields.
        pub fn meta_of(md: &Metadata) -> Meta {
            let time = |t: io::Result<std::time::SystemTime>| {
                t.map(Timestamp::from_system_time).unwrap_or_default()
            };
            let kind = portable_kind(md);
            let perm = if kind == FileKind::Dir { 0o555 } else { 0o444 };
            let mut meta = Meta::synthetic(kind, perm, md.len(), time(md.modified()));
            meta.atime = time(md.accessed());
            meta.ctime = time(md.created());
            meta
        }

        pub fn identity(md: &Metadata) -> String {
            format!("{:?}", md.created().ok())
        }

        pub fn open_nofollow(path: &Path) -> io::Result<File> {
            File::open(path)
        }

        pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            use std::os::windows::fs::FileExt;
            file.seek_read(buf, offset)
        }

        pub fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
            name.to_string_lossy().into_owned().into_bytes()
        }

        pub fn name_from_bytes(name: &[u8]) -> &std::ffi::OsStr {
            std::str::from_utf8(name).map(std::ffi::OsStr::new).unwrap_or_default()
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
