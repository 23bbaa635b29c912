//! dav-server's filesystem over a `VfsTree`: paths resolved by `web::path`, listings by
//! `web::listing`, reads through the tree. Every tree call runs on tokio's blocking pool, so a slow
//! repository read never stalls the threads that serve other clients. Nothing here writes.

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, FsError, FsFuture, FsResult, FsStream,
    OpenOptions, ReadDirMeta,
};
use futures_util::FutureExt;

use crate::error::{ErrorKind, VfsError};
use crate::meta::{FileKind, Meta, Timestamp};
use crate::vfs::{OpenMode, VfsTree};
use crate::web::listing::{self, Item};
use crate::web::path::{self, Held};

/// Reads are at most this large, whatever dav-server asks for.
const MAX_READ: usize = 1 << 20;

/// The tree as dav-server's filesystem.
pub(super) struct DavTree<T: VfsTree> {
    pub(super) tree: Arc<T>,
}

impl<T: VfsTree> Clone for DavTree<T> {
    fn clone(&self) -> Self {
        DavTree {
            tree: self.tree.clone(),
        }
    }
}

/// The dav-server error for a tree error: a read-only filesystem forbids, damage fails.
fn fs_error(err: VfsError) -> FsError {
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::NotDir | ErrorKind::NameTooLong => FsError::NotFound,
        ErrorKind::ReadOnly | ErrorKind::IsDir => FsError::Forbidden,
        _ => {
            tracing::warn!("webdav: {err}");
            FsError::GeneralFailure
        }
    }
}

/// Runs tree work on the blocking pool.
async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> FsResult<R> + Send + 'static,
) -> FsResult<R> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or(Err(FsError::GeneralFailure))
}

/// Resolves a request path; only files and folders are served.
fn resolve<T: VfsTree>(tree: &Arc<T>, path: &[u8]) -> FsResult<Held<T>> {
    let components = path::components(path).ok_or(FsError::NotFound)?;
    let held = path::resolve(tree, &components).map_err(fs_error)?;
    match held.kind() {
        FileKind::File | FileKind::Dir => Ok(held),
        _ => Err(FsError::NotFound),
    }
}

impl<T: VfsTree> DavFileSystem for DavTree<T> {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        let tree = self.tree.clone();
        let path = path.as_bytes().to_vec();
        async move {
            if options.write || options.append || options.truncate || options.create {
                return Err(FsError::Forbidden);
            }
            blocking(move || {
                let held = resolve(&tree, &path)?;
                if held.kind() != FileKind::File {
                    return Err(FsError::Forbidden);
                }
                let opened = tree
                    .open(held.ino(), OpenMode::default())
                    .map_err(fs_error)?;
                // Reading `.pid` from its start re-reads the repository before it answers.
                Ok(Box::new(TreeFile {
                    meta: DavMeta(held.entry().attr.meta.clone()),
                    held,
                    fh: opened.fh,
                    position: 0,
                }) as Box<dyn DavFile>)
            })
            .await
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        let tree = self.tree.clone();
        let path = path.as_bytes().to_vec();
        async move {
            let items = blocking(move || {
                let held = resolve(&tree, &path)?;
                let components = path::components(&path).ok_or(FsError::NotFound)?;
                listing::list(&held, &components, true).map_err(fs_error)
            })
            .await?;
            let entries = items
                .items
                .into_iter()
                .filter(Item::servable)
                .map(|item| Ok(Box::new(DavEntry(item)) as Box<dyn DavDirEntry>));
            Ok(Box::pin(futures_util::stream::iter(entries)) as FsStream<Box<dyn DavDirEntry>>)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        let tree = self.tree.clone();
        let path = path.as_bytes().to_vec();
        blocking(move || {
            let held = resolve(&tree, &path)?;
            Ok(Box::new(DavMeta(held.entry().attr.meta.clone())) as Box<dyn DavMetaData>)
        })
        .boxed()
    }
}

/// A node's metadata as WebDAV properties.
#[derive(Debug, Clone)]
struct DavMeta(Meta);

impl DavMetaData for DavMeta {
    fn len(&self) -> u64 {
        if self.0.kind == FileKind::File {
            self.0.size
        } else {
            0
        }
    }
    fn modified(&self) -> FsResult<SystemTime> {
        Ok(http_time(self.0.mtime))
    }
    fn is_dir(&self) -> bool {
        self.0.kind == FileKind::Dir
    }
    fn accessed(&self) -> FsResult<SystemTime> {
        Ok(http_time(self.0.atime))
    }
    fn status_changed(&self) -> FsResult<SystemTime> {
        Ok(http_time(self.0.ctime))
    }
    fn executable(&self) -> FsResult<bool> {
        Ok(self.0.kind == FileKind::File && self.0.perm & 0o111 != 0)
    }
}

/// The last second an HTTP date can hold: 9999-12-31T23:59:59Z.
const LAST_HTTP_SECOND: i64 = 253_402_300_799;

/// A time as HTTP can carry it: HTTP dates run from 1970 to 9999 (and dav-server's formatting
/// panics outside), so times out of that range are sent as its ends.
fn http_time(time: Timestamp) -> SystemTime {
    let secs = time.secs.clamp(0, LAST_HTTP_SECOND);
    let nanos = if secs == time.secs { time.nanos } else { 0 };
    Timestamp::new(secs, i64::from(nanos)).to_system_time()
}

/// One entry of a listing.
struct DavEntry(Item);

impl DavDirEntry for DavEntry {
    fn name(&self) -> Vec<u8> {
        self.0.name.clone()
    }
    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = Box::new(DavMeta(self.0.meta.clone())) as Box<dyn DavMetaData>;
        std::future::ready(Ok(meta)).boxed()
    }
}

/// An open file: holds its lookup and its handle until dav-server drops it.
struct TreeFile<T: VfsTree> {
    held: Held<T>,
    fh: u64,
    meta: DavMeta,
    position: u64,
}

impl<T: VfsTree> std::fmt::Debug for TreeFile<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TreeFile(ino {}, fh {})", self.held.ino(), self.fh)
    }
}

impl<T: VfsTree> DavFile for TreeFile<T> {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = Box::new(self.meta.clone()) as Box<dyn DavMetaData>;
        std::future::ready(Ok(meta)).boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        let tree = self.held.tree().clone();
        let (ino, fh, offset) = (self.held.ino(), self.fh, self.position);
        let size = u32::try_from(count.min(MAX_READ)).unwrap_or(0);
        async move {
            let bytes =
                blocking(move || tree.read(ino, fh, offset, size).map_err(fs_error)).await?;
            self.position += bytes.len() as u64;
            Ok(bytes)
        }
        .boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        let size = self.meta.0.size;
        let target = match pos {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        let result = match target {
            Some(at) => {
                self.position = at;
                Ok(at)
            }
            None => Err(FsError::GeneralFailure),
        };
        std::future::ready(result).boxed()
    }

    fn write_buf(&mut self, _buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        std::future::ready(Err(FsError::Forbidden)).boxed()
    }

    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        std::future::ready(Err(FsError::Forbidden)).boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        std::future::ready(Ok(())).boxed()
    }
}

impl<T: VfsTree> Drop for TreeFile<T> {
    fn drop(&mut self) {
        let _ = self.held.tree().release(self.held.ino(), self.fh);
    }
}
