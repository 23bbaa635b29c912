//! Opening and reading the files of a generation: the reader a read goes through, the reads that
//! note what was served as zeros, and the host file the OS may read itself (FUSE passthrough).

use bytes::Bytes;

use super::{Layout, Target};
use crate::error::{VfsError, VfsResult};
use crate::meta::FileKind;
use crate::repo::Repository;
use crate::vfs::Ino;
use crate::vfs::handles::OpenFile;
use crate::vfs::push_ahead::MAX_FILE;
use crate::vfs::root::RootInode;

impl<R: Repository> Layout<R> {
    /// What reading `ino` goes through, and whether its content may stay in the page cache.
    pub(super) fn open_file(&self, ino: Ino) -> VfsResult<(OpenFile<R::Reader>, bool)> {
        match self.target(ino)? {
            Target::Root(RootInode::Pid) => Ok((OpenFile::Pid, false)),
            Target::Root(RootInode::Damaged) => {
                Ok((OpenFile::Damaged(self.zeros.text().into()), false))
            }
            Target::Root(RootInode::Latest | RootInode::Alias(_)) => {
                Err(VfsError::INVALID_ARGUMENT)
            }
            Target::Root(_) | Target::Merged(_) | Target::Versions(_) => Err(VfsError::IS_DIR),
            Target::Node(slot) => match slot.node.meta.kind {
                FileKind::File => {
                    let reader = self
                        .repo
                        .open(&slot.node)
                        .map_err(|e| self.damage.fail(e, "open"))?;
                    Ok((OpenFile::Data(reader), true))
                }
                FileKind::Dir => Err(VfsError::IS_DIR),
                _ => Err(VfsError::NOT_SUPPORTED),
            },
        }
    }

    /// Reads a file of a generation, noting what was served as zeros in place of lost data.
    pub(super) fn read_data(
        &self,
        ino: Ino,
        reader: &R::Reader,
        offset: u64,
        size: u32,
    ) -> VfsResult<Bytes> {
        let mut zeroed = Vec::new();
        let bytes = self
            .repo
            .read_noting_zeros(reader, offset, size, &mut zeroed)
            .map_err(|e| self.damage.fail(e, "read"))?;
        if !zeroed.is_empty() {
            let found =
                (self.origins.as_ref()).and_then(|o| o.path(ino, &|d| self.root.group_path(d)));
            let path = found.unwrap_or_else(|| format!("(inode {ino})").into_bytes());
            self.zeros.note(&path, &zeroed);
        }
        Ok(bytes)
    }

    /// The host file holding a regular file of a generation, if the repository keeps one. Files
    /// small enough to be read ahead across files get none: read through the tree, a copy finds
    /// them in the page cache before it asks, where the OS would read each from disk in turn.
    pub(super) fn backing_of(&self, ino: Ino) -> VfsResult<Option<std::fs::File>> {
        match self.target(ino)? {
            Target::Node(slot)
                if slot.node.meta.kind == FileKind::File && slot.node.meta.size > MAX_FILE =>
            {
                (self.repo)
                    .backing_file(&slot.node)
                    .map_err(|e| self.damage.fail(e, "open"))
            }
            _ => Ok(None),
        }
    }
}
