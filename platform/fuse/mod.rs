//! The FUSE adapter (fuser, Linux and macOS): translates kernel requests into `VfsTree` calls and
//! answers with their results. Decisions live in the tree; this file only converts types.

mod daemon;
mod passthrough;
mod run;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLock, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request,
};

pub use daemon::{Daemon, daemonize};
pub use run::{mount, raise_open_file_limit, tune_allocator, unmount};

use crate::error::VfsError;
use crate::meta::FileKind;
use crate::platform::errno;
use crate::vfs::{
    Attr, Entry, Mutation, NO_HANDLE, OpenMode, Opened, PREFERRED_IO_SIZE, Plus, VfsTree,
    XattrReply,
};
use passthrough::{Passthrough, Route};

/// A `VfsTree` served to the kernel through fuser.
pub struct FuseAdapter<T: VfsTree> {
    tree: Arc<T>,
    /// The kernel can read files without opening them: `open` answers ENOSYS once, and from then on
    /// reads come by inode, saving an OPEN and a RELEASE round trip for every file read.
    no_open: bool,
    /// Likewise for directories: `opendir` answers ENOSYS once, and listings come by inode, saving
    /// an OPENDIR and a RELEASEDIR for every directory listed (a third of a `find`'s requests).
    no_opendir: bool,
    /// The kernel reads host files itself, where it and the tree allow (FUSE passthrough).
    passthrough: Passthrough,
}

fn errno_of(err: VfsError) -> Errno {
    if let Some(context) = err.context() {
        tracing::debug!(kind = %err.kind(), context, "request failed");
    }
    Errno::from_i32(errno::native(err))
}

fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::File => FileType::RegularFile,
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::Fifo => FileType::NamedPipe,
        FileKind::Socket => FileType::Socket,
        FileKind::CharDevice => FileType::CharDevice,
        FileKind::BlockDevice => FileType::BlockDevice,
    }
}

fn file_attr(attr: &Attr) -> FileAttr {
    let meta = &attr.meta;
    FileAttr {
        ino: INodeNo(attr.ino),
        size: meta.size,
        blocks: meta.blocks,
        atime: meta.atime.to_system_time(),
        mtime: meta.mtime.to_system_time(),
        ctime: meta.ctime.to_system_time(),
        crtime: meta.mtime.to_system_time(),
        kind: file_type(meta.kind),
        perm: (meta.perm & 0o7777) as u16,
        nlink: meta.nlink,
        uid: meta.uid,
        gid: meta.gid,
        rdev: meta.rdev as u32,
        blksize: PREFERRED_IO_SIZE,
        flags: 0,
    }
}

fn fopen_flags(opened: &Opened, dir: bool) -> FopenFlags {
    let mut flags = FopenFlags::empty();
    if opened.keep_cache {
        flags |= FopenFlags::FOPEN_KEEP_CACHE;
        if dir {
            flags |= FopenFlags::FOPEN_CACHE_DIR;
        }
    }
    flags
}

fn reply_entry(reply: ReplyEntry, result: Result<Entry, VfsError>) {
    match result {
        Ok(entry) => reply.entry(&entry.ttl, &file_attr(&entry.attr), Generation(0)),
        Err(err) => reply.error(errno_of(err)),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), VfsError>) {
    match result {
        Ok(()) => reply.ok(),
        Err(err) => reply.error(errno_of(err)),
    }
}

fn reply_xattr(reply: ReplyXattr, result: Result<XattrReply, VfsError>) {
    match result {
        Ok(XattrReply::Size(size)) => reply.size(size),
        Ok(XattrReply::Data(data)) => reply.data(&data),
        Err(err) => reply.error(errno_of(err)),
    }
}

/// Forwards fuser's write callbacks to `VfsTree::mutate`. A mutation cannot succeed, so each
/// answers with the tree's refusal (EROFS); the tree, not this file, decides that.
macro_rules! forward_mutations {
    ($(fn $method:ident($($arg:ident: $ty:ty),* $(,)?) -> $reply:ty => $op:expr;)*) => {$(
        #[allow(clippy::too_many_arguments)]
        fn $method(&self, _req: &Request, $($arg: $ty,)* reply: $reply) {
            match self.tree.mutate($op) {
                Ok(never) => match never {},
                Err(err) => reply.error(errno_of(err)),
            }
        }
    )*};
}

impl<T: VfsTree> Filesystem for FuseAdapter<T> {
    forward_mutations! {
        fn setattr(
            ino: INodeNo, _mode: Option<u32>, _uid: Option<u32>, _gid: Option<u32>,
            _size: Option<u64>, _atime: Option<fuser::TimeOrNow>,
            _mtime: Option<fuser::TimeOrNow>, _ctime: Option<SystemTime>, _fh: Option<FileHandle>,
            _crtime: Option<SystemTime>, _chgtime: Option<SystemTime>,
            _bkuptime: Option<SystemTime>, _flags: Option<fuser::BsdFileFlags>,
        ) -> ReplyAttr => Mutation::SetAttr { ino: ino.0 };
        fn mknod(parent: INodeNo, name: &OsStr, _mode: u32, _umask: u32, _rdev: u32) -> ReplyEntry
            => Mutation::MakeNode { parent: parent.0, name: name.as_bytes() };
        fn mkdir(parent: INodeNo, name: &OsStr, _mode: u32, _umask: u32) -> ReplyEntry
            => Mutation::MakeDir { parent: parent.0, name: name.as_bytes() };
        fn create(parent: INodeNo, name: &OsStr, _mode: u32, _umask: u32, _flags: i32)
            -> fuser::ReplyCreate => Mutation::Create { parent: parent.0, name: name.as_bytes() };
        fn symlink(parent: INodeNo, name: &OsStr, target: &Path) -> ReplyEntry
            => Mutation::Symlink {
                parent: parent.0,
                name: name.as_bytes(),
                target: target.as_os_str().as_bytes(),
            };
        fn link(ino: INodeNo, newparent: INodeNo, newname: &OsStr) -> ReplyEntry
            => Mutation::Link { ino: ino.0, new_parent: newparent.0, new_name: newname.as_bytes() };
        fn unlink(parent: INodeNo, name: &OsStr) -> ReplyEmpty
            => Mutation::Unlink { parent: parent.0, name: name.as_bytes() };
        fn rmdir(parent: INodeNo, name: &OsStr) -> ReplyEmpty
            => Mutation::RemoveDir { parent: parent.0, name: name.as_bytes() };
        fn rename(
            parent: INodeNo, name: &OsStr, newparent: INodeNo, newname: &OsStr,
            _flags: fuser::RenameFlags,
        ) -> ReplyEmpty => Mutation::Rename {
            parent: parent.0,
            name: name.as_bytes(),
            new_parent: newparent.0,
            new_name: newname.as_bytes(),
        };
        fn write(
            ino: INodeNo, fh: FileHandle, offset: u64, data: &[u8], _write_flags: fuser::WriteFlags,
            _flags: OpenFlags, _lock_owner: Option<LockOwner>,
        ) -> ReplyWrite => Mutation::Write { ino: ino.0, fh: fh.0, offset, data };
        fn fallocate(ino: INodeNo, fh: FileHandle, _offset: u64, _length: u64, _mode: i32)
            -> ReplyEmpty => Mutation::Allocate { ino: ino.0, fh: fh.0 };
        fn setxattr(ino: INodeNo, name: &OsStr, value: &[u8], _flags: i32, _position: u32)
            -> ReplyEmpty => Mutation::SetXattr { ino: ino.0, name: name.as_bytes(), value };
        fn removexattr(ino: INodeNo, name: &OsStr) -> ReplyEmpty
            => Mutation::RemoveXattr { ino: ino.0, name: name.as_bytes() };
    }

    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let wanted = InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_CACHE_SYMLINKS
            | InitFlags::FUSE_NO_OPEN_SUPPORT
            | InitFlags::FUSE_NO_OPENDIR_SUPPORT
            // `.pid` changes its mtime at every look: its cached page is dropped before a read.
            | InitFlags::FUSE_AUTO_INVAL_DATA;
        let granted = wanted & config.capabilities();
        let direct = self.passthrough.negotiate(&*self.tree, config);
        // Passthrough is set up at OPEN: a kernel that never sends OPEN would never use it.
        self.no_open = granted.contains(InitFlags::FUSE_NO_OPEN_SUPPORT) && direct.is_empty();
        self.no_opendir = granted.contains(InitFlags::FUSE_NO_OPENDIR_SUPPORT);
        let granted = granted | direct;
        let _ = config.add_capabilities(granted);
        Ok(())
    }

    fn destroy(&mut self) {
        if self.tree.has_backing_files() {
            self.passthrough.summary();
        }
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let _span = tracing::debug_span!("lookup", parent = parent.0, ?name).entered();
        reply_entry(reply, self.tree.lookup(parent.0, name.as_bytes()));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.tree.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let _span = tracing::debug_span!("getattr", ino = ino.0).entered();
        match self.tree.getattr(ino.0) {
            Ok(entry) => reply.attr(&entry.ttl, &file_attr(&entry.attr)),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let _span = tracing::debug_span!("readlink", ino = ino.0).entered();
        match self.tree.readlink(ino.0) {
            // The kernel refuses a reply of PATH_MAX bytes or more, which would show as EIO.
            Ok(target) if target.len() >= libc::PATH_MAX as usize => {
                reply.error(Errno::ENAMETOOLONG)
            }
            Ok(target) => reply.data(&target),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let _span = tracing::debug_span!("open", ino = ino.0).entered();
        let mode = OpenMode {
            write: flags.acc_mode() != OpenAccMode::O_RDONLY,
            truncate: flags.0 & libc::O_TRUNC != 0,
            append: flags.0 & libc::O_APPEND != 0,
            create: flags.0 & libc::O_CREAT != 0,
        };
        // A read-only mount never sends a write open; the tree still refuses one should it come.
        if self.no_open && !mode.wants_write() {
            return reply.error(Errno::ENOSYS);
        }
        let route = if self.passthrough.is_on() && !mode.wants_write() {
            self.passthrough.open(&*self.tree, ino.0, &reply)
        } else {
            Route::NotBacked
        };
        if let Route::Direct(backing) = &route {
            // The kernel never reads through this handle: like a read without OPEN, it names none.
            // Caching flags are refused with passthrough (EIO): the backing file has the cache.
            let flags = FopenFlags::empty();
            return reply.opened_passthrough(FileHandle(NO_HANDLE), flags, backing);
        }
        self.open_in_tree(ino, mode, matches!(route, Route::Tree), reply);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let _span = tracing::debug_span!("read", ino = ino.0, offset, size).entered();
        self.passthrough.note_read();
        match self.tree.read(ino.0, fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let _span = tracing::debug_span!("flush", ino = ino.0).entered();
        // Linux takes ENOSYS as "never send FLUSH again": every close(2) saves a synchronous
        // round trip. Nothing needs it: nothing is written, and reading `.pid` is what refreshes.
        if cfg!(target_os = "linux") {
            return reply.error(Errno::ENOSYS);
        }
        reply_empty(reply, self.tree.flush(ino.0, fh.0));
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if fh.0 == NO_HANDLE {
            self.passthrough.release_direct(ino.0);
            return reply.ok();
        }
        self.passthrough.release_tree(ino.0);
        reply_empty(reply, self.tree.release(ino.0, fh.0));
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.tree.fsync(ino.0, fh.0));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let _span = tracing::debug_span!("opendir", ino = ino.0).entered();
        if self.no_opendir {
            return reply.error(Errno::ENOSYS);
        }
        match self.tree.opendir(ino.0) {
            Ok(opened) => reply.opened(FileHandle(opened.fh), fopen_flags(&opened, true)),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let _span = tracing::debug_span!("readdir", ino = ino.0, offset).entered();
        let result = self
            .tree
            .readdir(ino.0, fh.0, offset, Plus::Names, &mut |entry, _| {
                let name = OsStr::from_bytes(&entry.name);
                !reply.add(
                    INodeNo(entry.ino),
                    entry.next_offset,
                    file_type(entry.kind),
                    name,
                )
            });
        match result {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let _span = tracing::debug_span!("readdirplus", ino = ino.0, offset).entered();
        let result = self
            .tree
            .readdir(ino.0, fh.0, offset, Plus::Offered, &mut |entry, plus| {
                let Some(plus) = plus else { return false };
                let mut attr = file_attr(&plus.attr);
                attr.ino = INodeNo(entry.ino);
                let name = OsStr::from_bytes(&entry.name);
                !reply.add(
                    INodeNo(entry.ino),
                    entry.next_offset,
                    name,
                    &plus.ttl,
                    &attr,
                    Generation(0),
                )
            });
        match result {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.tree.releasedir(ino.0, fh.0));
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        match self.tree.statfs(ino.0) {
            Ok(s) => reply.statfs(
                s.blocks,
                0,
                0,
                s.files,
                0,
                s.block_size,
                s.name_max,
                s.block_size,
            ),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let _span = tracing::debug_span!("getxattr", ino = ino.0, ?name, size).entered();
        reply_xattr(reply, self.tree.getxattr(ino.0, name.as_bytes(), size));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let _span = tracing::debug_span!("listxattr", ino = ino.0, size).entered();
        reply_xattr(reply, self.tree.listxattr(ino.0, size));
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        reply_empty(
            reply,
            self.tree.access(ino.0, mask.contains(AccessFlags::W_OK)),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn getlk(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        _start: u64,
        _end: u64,
        _typ: i32,
        _pid: u32,
        reply: ReplyLock,
    ) {
        match self.tree.getlk(ino.0, fh.0) {
            Ok(()) => reply.error(errno_of(VfsError::NOT_SUPPORTED)),
            Err(err) => reply.error(errno_of(err)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn setlk(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        _start: u64,
        _end: u64,
        _typ: i32,
        _pid: u32,
        _sleep: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.tree.setlk(ino.0, fh.0));
    }
}

impl<T: VfsTree> FuseAdapter<T> {
    /// Opens `ino` through the tree; `counted`: passthrough counted this open, and forgets it
    /// again if the tree refuses.
    fn open_in_tree(&self, ino: INodeNo, mode: OpenMode, counted: bool, reply: ReplyOpen) {
        match self.tree.open(ino.0, mode) {
            Ok(opened) => reply.opened(FileHandle(opened.fh), fopen_flags(&opened, false)),
            Err(err) => {
                if counted {
                    self.passthrough.release_tree(ino.0);
                }
                reply.error(errno_of(err))
            }
        }
    }
}

/// Ties a tree to the adapter that serves it; `passthrough`: not turned off on the command line.
fn adapter<T: VfsTree>(tree: Arc<T>, passthrough: bool) -> FuseAdapter<T> {
    FuseAdapter {
        tree,
        no_open: false,
        no_opendir: false,
        passthrough: Passthrough::new(passthrough),
    }
}
