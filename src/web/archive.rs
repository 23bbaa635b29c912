//! A folder of the tree written as one tar stream, entry by entry, so that a download of a whole
//! generation never sits in memory: only one directory's listing and one read buffer at a time.

use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use tar::{Builder, EntryType, Header};

use super::listing::{self, Item};
use super::path::{self, Held};
use crate::error::VfsError;
use crate::meta::{FileKind, Meta};
use crate::vfs::{NO_HANDLE, OpenMode, VfsTree};

/// Reads of file content are this large: big reads are what the blob cache serves best.
const READ_SIZE: u32 = 1 << 20;

/// Writes the folder at `dir` (as requested) into `out` as a tar archive whose entries start with
/// `top`. Symlinks are stored as symlinks; a file that cannot be read ends the stream with an
/// error, so that a client never mistakes a broken archive for a whole one.
pub fn write_tar<T: VfsTree, W: Write>(
    tree: &Arc<T>,
    dir: &[&[u8]],
    top: &[u8],
    out: W,
) -> io::Result<W> {
    let mut builder = Builder::new(out);
    let start = path::resolve(tree, dir).map_err(to_io)?;
    let mut header = header_of(&start.entry().attr.meta);
    builder.append_data(&mut header, as_path(&[top]), io::empty())?;
    drop(start);
    let mut pending = vec![Pending {
        components: dir.iter().map(|c| c.to_vec()).collect(),
        names: vec![top.to_vec()],
    }];
    while let Some(Pending { components, names }) = pending.pop() {
        let parts: Vec<&[u8]> = components.iter().map(Vec::as_slice).collect();
        let held = path::resolve(tree, &parts).map_err(to_io)?;
        let listed = listing::list(&held, &parts, false).map_err(to_io)?;
        if listed.truncated {
            // An archive that looks whole but is not would be worse than none.
            return Err(io::Error::other(
                "a folder has too many entries to download",
            ));
        }
        for item in listed.items.iter().filter(|i| path::is_plain_name(&i.name)) {
            let mut inner = names.clone();
            inner.push(item.name.clone());
            if item.meta.kind == FileKind::Dir {
                let mut header = header_of(&item.meta);
                builder.append_data(&mut header, as_path(&inner), io::empty())?;
                let mut child = components.clone();
                child.push(item.name.clone());
                pending.push(Pending {
                    components: child,
                    names: inner,
                });
            } else {
                append_leaf(&mut builder, &held, item, &inner)?;
            }
        }
    }
    builder.into_inner()
}

/// A directory still to write: its components from the root, and its names inside the archive.
struct Pending {
    components: Vec<Vec<u8>>,
    names: Vec<Vec<u8>>,
}

/// Appends a file, symlink or special file found in the directory `dir`.
fn append_leaf<T: VfsTree, W: Write>(
    builder: &mut Builder<W>,
    dir: &Held<T>,
    item: &Item,
    names: &[Vec<u8>],
) -> io::Result<()> {
    let mut header = header_of(&item.meta);
    let path = as_path(names);
    match item.meta.kind {
        FileKind::File => {
            let child = dir.child(&item.name).map_err(to_io)?;
            let reader = FileReader::open(&child, item.meta.size).map_err(|err| {
                tracing::warn!("download of {}: {err}", path.display());
                err
            })?;
            builder.append_data(
                &mut header,
                &path,
                BufReader::with_capacity(READ_SIZE as usize, reader),
            )
        }
        FileKind::Symlink => match item.link.as_deref() {
            Some(target) if !target.is_empty() && !target.contains(&0) => {
                builder.append_link(&mut header, &path, as_path(&[target]))
            }
            // tar cannot hold it: leave this one out rather than end the whole download.
            _ => {
                tracing::warn!(
                    "download: the link {} cannot be stored in tar",
                    path.display()
                );
                Ok(())
            }
        },
        _ => builder.append_data(&mut header, &path, io::empty()),
    }
}

/// A tar header with the node's type, mode, owner and time (tar cannot store times before 1970).
fn header_of(meta: &Meta) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(match meta.kind {
        FileKind::File => EntryType::Regular,
        FileKind::Dir => EntryType::Directory,
        FileKind::Symlink => EntryType::Symlink,
        FileKind::Fifo | FileKind::Socket => EntryType::Fifo,
        FileKind::CharDevice => EntryType::Char,
        FileKind::BlockDevice => EntryType::Block,
    });
    header.set_mode(meta.perm & 0o7777);
    header.set_uid(u64::from(meta.uid));
    header.set_gid(u64::from(meta.gid));
    header.set_mtime(u64::try_from(meta.mtime.secs).unwrap_or(0));
    header.set_size(if meta.kind == FileKind::File {
        meta.size
    } else {
        0
    });
    if matches!(meta.kind, FileKind::CharDevice | FileKind::BlockDevice) {
        // Linux's encoding of a dev_t (glibc's gnu_dev_major and gnu_dev_minor).
        let rdev = meta.rdev;
        let major = (((rdev >> 8) & 0xfff) | ((rdev >> 32) & 0xffff_f000)) as u32;
        let minor = ((rdev & 0xff) | ((rdev >> 12) & 0xffff_ff00)) as u32;
        if header.set_device_major(major).is_err() || header.set_device_minor(minor).is_err() {
            tracing::warn!("download: device number {rdev:#x} does not fit in a tar header");
        }
    }
    header
}

/// Names joined into a path inside the archive. Windows paths hold only Unicode: there a name
/// that is not UTF-8 is shown with U+FFFD, as everywhere else on Windows that cannot hold it.
fn as_path(names: &[impl AsRef<[u8]>]) -> PathBuf {
    let mut path = PathBuf::new();
    for name in names {
        #[cfg(unix)]
        path.push(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.as_ref()));
        // `\\` and `:` would split the name or name a drive on Windows: tar would write another path.
        #[cfg(not(unix))]
        path.push(String::from_utf8_lossy(name.as_ref()).replace(['\\', ':'], "_"));
    }
    path
}

fn to_io(err: VfsError) -> io::Error {
    io::Error::other(err.to_string())
}

/// A file's content as `Read`, exactly `size` bytes: a short file is an error, not a short entry.
struct FileReader<T: VfsTree> {
    tree: Arc<T>,
    ino: u64,
    fh: u64,
    offset: u64,
    size: u64,
}

impl<T: VfsTree> FileReader<T> {
    fn open(held: &Held<T>, size: u64) -> io::Result<FileReader<T>> {
        // `held` keeps the inode looked up for as long as the caller reads.
        let opened = held
            .tree()
            .open(held.ino(), OpenMode::default())
            .map_err(to_io)?;
        Ok(FileReader {
            tree: held.tree().clone(),
            ino: held.ino(),
            fh: opened.fh,
            offset: 0,
            size,
        })
    }
}

impl<T: VfsTree> Read for FileReader<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size.saturating_sub(self.offset);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = u32::try_from(buf.len().min(READ_SIZE as usize)).unwrap_or(READ_SIZE);
        let want = want.min(u32::try_from(left).unwrap_or(u32::MAX));
        let bytes = self
            .tree
            .read(self.ino, self.fh, self.offset, want)
            .map_err(to_io)?;
        if bytes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than its size",
            ));
        }
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        self.offset += n as u64;
        Ok(n)
    }
}

impl<T: VfsTree> Drop for FileReader<T> {
    fn drop(&mut self) {
        if self.fh != NO_HANDLE {
            let _ = self.tree.release(self.ino, self.fh);
        }
    }
}
