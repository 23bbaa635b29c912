//! The filesystem as operations on inodes: the `VfsTree` trait that every platform adapter drives,
//! and the reply types it answers with. Every mutation is one `Mutation`, refused as read-only.

#[cfg(all(test, unix))]
mod backing_tests;
mod damage;
mod generations;
mod genspec;
mod handles;
mod inodes;
mod layout;
mod options;
mod origins;
mod plus_policy;
mod push_ahead;
mod root;
mod same_tree;
mod statfs;
#[cfg(test)]
mod tests;
mod versions;
mod xattrs;

use bytes::Bytes;
use std::convert::Infallible;
use std::time::Duration;

pub use genspec::GenerationSpec;
pub use layout::Layout;
pub use options::{LayoutOptions, View};

use crate::error::{VfsError, VfsResult};
use crate::meta::{FileKind, Meta};

/// An inode number; also the node id the kernel uses. `ROOT_INO` is the mount's root.
pub type Ino = u64;
pub const ROOT_INO: Ino = 1;

/// The handle of a file the adapter read without opening it (FUSE's zero-message open): the tree
/// finds the file by its inode. Real handles start at 1.
pub const NO_HANDLE: u64 = 0;

/// The I/O size genmount suggests to programs (`st_blksize`): large reads are much cheaper.
pub const PREFERRED_IO_SIZE: u32 = 128 * 1024;

/// The attributes of one inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub meta: Meta,
}

/// The answer to `lookup` and `getattr`: attributes and how long the kernel may cache them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub attr: Attr,
    pub ttl: Duration,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: Ino,
    pub kind: FileKind,
    /// The offset that resumes the listing after this entry.
    pub next_offset: u64,
}

/// What a listing gives with each name besides its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    /// Nothing more.
    Names,
    /// Its attributes, the entry counted as a lookup (readdirplus as WebDAV and WinFsp use it).
    Attrs,
    /// Attributes the OS offers to take but may never use (FUSE's readdirplus): given from the
    /// start of a listing only while callers look up what they list, else only for `.` and
    /// `..`, the listing then ending there (the kernel goes on with plain reads).
    Offered,
}

/// How a file is being opened, from the open flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenMode {
    pub write: bool,
    pub truncate: bool,
    pub append: bool,
    pub create: bool,
}

impl OpenMode {
    pub fn wants_write(self) -> bool {
        self.write || self.truncate || self.append || self.create
    }
}

/// A handle given out by `open` or `opendir`, with caching advice for the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    /// The content cannot change: the kernel may keep cached pages across opens.
    pub keep_cache: bool,
}

/// Filesystem statistics for `statfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub blocks: u64,
    pub files: u64,
    pub block_size: u32,
    pub name_max: u32,
}

/// The answer to `getxattr`/`listxattr`: the size needed (when asked with size 0) or the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XattrReply {
    Size(u32),
    Data(Vec<u8>),
}

impl XattrReply {
    /// Answers a request for `value` with a buffer of `size` bytes (0 asks for the size).
    pub fn for_request(value: Vec<u8>, size: u32) -> VfsResult<XattrReply> {
        let len = u32::try_from(value.len()).map_err(|_| VfsError::RANGE)?;
        if size == 0 {
            Ok(XattrReply::Size(len))
        } else if len > size {
            Err(VfsError::RANGE)
        } else {
            Ok(XattrReply::Data(value))
        }
    }
}

/// A request to change the filesystem, with what a log line would name. Each kernel write
/// operation is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation<'a> {
    SetAttr {
        ino: Ino,
    },
    MakeNode {
        parent: Ino,
        name: &'a [u8],
    },
    MakeDir {
        parent: Ino,
        name: &'a [u8],
    },
    Create {
        parent: Ino,
        name: &'a [u8],
    },
    Symlink {
        parent: Ino,
        name: &'a [u8],
        target: &'a [u8],
    },
    Link {
        ino: Ino,
        new_parent: Ino,
        new_name: &'a [u8],
    },
    Unlink {
        parent: Ino,
        name: &'a [u8],
    },
    RemoveDir {
        parent: Ino,
        name: &'a [u8],
    },
    Rename {
        parent: Ino,
        name: &'a [u8],
        new_parent: Ino,
        new_name: &'a [u8],
    },
    Write {
        ino: Ino,
        fh: u64,
        offset: u64,
        data: &'a [u8],
    },
    Allocate {
        ino: Ino,
        fh: u64,
    },
    SetXattr {
        ino: Ino,
        name: &'a [u8],
        value: &'a [u8],
    },
    RemoveXattr {
        ino: Ino,
        name: &'a [u8],
    },
}

/// A mutex's contents even if a thread panicked while holding it: a panic in one request must not
/// stop the mount.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lets the tree act on the OS's caches: forget what a refresh changed, and take in advance the
/// content of files a reader is about to read (see `push_ahead`).
pub trait KernelCache: Send + Sync {
    /// The kernel must look `name` up in `parent` again.
    fn entry(&self, parent: Ino, name: &[u8]);
    /// The kernel must fetch the attributes and content of `ino` again.
    fn inode(&self, ino: Ino);
    /// Puts `data`, the whole content of the regular file `ino`, into the OS's cache of it, so
    /// that reading it asks the tree nothing. False: the OS cannot take it. (Where it no longer
    /// holds the inode it drops the data: the reader then reads as if nothing had been pushed.)
    fn store(&self, _ino: Ino, _data: &[u8]) -> bool {
        false
    }
}

/// A read-only filesystem as operations on inodes. Platform adapters translate calls into these.
pub trait VfsTree: Send + Sync + 'static {
    /// Called once the mount is live, with a way to act on the OS's caches.
    fn set_kernel_cache(&self, cache: Box<dyn KernelCache>);

    /// Re-reads the repository (on SIGHUP, say), as closing `.pid` does.
    fn refresh(&self) -> VfsResult<()>;

    /// Called once after the filesystem is unmounted: releases locks held in the repository.
    fn shutdown(&self);

    /// Works out, in the background, what `statfs` should report where the repository does not say.
    fn measure(&self) {}

    /// Returns once somebody has asked for `statfs`: measuring walks every generation, which is work
    /// a mount that nobody runs `df` on need not do, and would slow down the first reads.
    fn wait_for_statfs(&self) {}

    fn lookup(&self, parent: Ino, name: &[u8]) -> VfsResult<Entry>;
    fn forget(&self, ino: Ino, nlookup: u64);
    fn getattr(&self, ino: Ino) -> VfsResult<Entry>;
    fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>>;
    fn open(&self, ino: Ino, mode: OpenMode) -> VfsResult<Opened>;
    /// Reads through an open handle, or by inode when `fh` is `NO_HANDLE`.
    /// The bytes may be a slice of a cached blob: nothing is copied that need not be.
    fn read(&self, ino: Ino, fh: u64, offset: u64, size: u32) -> VfsResult<Bytes>;
    /// Whether `backing_file` can give a file at all (the repository keeps plain host files).
    fn has_backing_files(&self) -> bool {
        false
    }
    /// A host file, opened read-only, holding exactly the bytes of the regular file `ino`, which
    /// the OS may read itself instead of asking `read` (FUSE passthrough). `None`: read through
    /// the tree.
    fn backing_file(&self, _ino: Ino) -> VfsResult<Option<std::fs::File>> {
        Ok(None)
    }
    /// Called at every close(2) of a descriptor; synchronous with it.
    fn flush(&self, ino: Ino, fh: u64) -> VfsResult<()>;
    fn release(&self, ino: Ino, fh: u64) -> VfsResult<()>;
    fn opendir(&self, ino: Ino) -> VfsResult<Opened>;
    /// Lists from `offset`, calling `add` for each entry until it returns `false` (buffer full).
    /// Each entry given with attributes (see `Plus`) counts as a lookup. With `fh` as
    /// `NO_HANDLE` (a directory the OS lists without opening it), a listing from offset 0 reads the
    /// directory anew, as an opendir would, and later offsets go on with that listing.
    fn readdir(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
        plus: Plus,
        add: &mut dyn FnMut(&DirEntry, Option<&Entry>) -> bool,
    ) -> VfsResult<()>;
    fn releasedir(&self, ino: Ino, fh: u64) -> VfsResult<()>;
    fn getxattr(&self, ino: Ino, name: &[u8], size: u32) -> VfsResult<XattrReply>;
    fn listxattr(&self, ino: Ino, size: u32) -> VfsResult<XattrReply>;
    fn statfs(&self, ino: Ino) -> VfsResult<StatFs>;

    /// Checks access; anything that asks to write is refused.
    fn access(&self, ino: Ino, write: bool) -> VfsResult<()> {
        self.getattr(ino)?;
        if write {
            Err(VfsError::READ_ONLY)
        } else {
            Ok(())
        }
    }

    /// Every request to change the filesystem comes here, and is refused: the filesystem is
    /// read-only by construction, so no tree and no adapter has a method per write operation.
    fn mutate(&self, _op: Mutation<'_>) -> VfsResult<Infallible> {
        Err(VfsError::READ_ONLY)
    }

    /// Nothing is ever written, so there is never anything to sync.
    fn fsync(&self, _ino: Ino, _fh: u64) -> VfsResult<()> {
        Ok(())
    }
    fn getlk(&self, _ino: Ino, _fh: u64) -> VfsResult<()> {
        Err(VfsError::NOT_SUPPORTED)
    }
    fn setlk(&self, _ino: Ino, _fh: u64) -> VfsResult<()> {
        Err(VfsError::NOT_SUPPORTED)
    }
}
