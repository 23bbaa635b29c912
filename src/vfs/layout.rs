//! The layout of a mount: which view it shows (`multiple`: the root with one directory per
//! generation; `single`: one generation at the root; `versions`: all of them merged) and the
//! dispatch of every `VfsTree` operation to the part that answers it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

mod entries;
mod files;
mod push;

use super::damage::{DamageLog, ZeroLog};
use super::generations::{self, State};
use super::handles::{self, Handles, OpenFile};
use super::inodes::{GENERATION_TTL, Inode, InodeTable, ROOT_TTL, Slot};
use super::options::{LayoutOptions, View};
use super::origins::Origins;
use super::plus_policy::PlusPolicy;
use super::root::{DAMAGED_INO, PID_INO, Root, RootInode, RootOptions};
use super::statfs::Measurer;
use super::versions::{self, MergedDir, VersionsDir};
use super::{
    Attr, DirEntry, Entry, GenerationSpec, Ino, KernelCache, NO_HANDLE, OpenMode, Opened, Plus,
    ROOT_INO, StatFs, VfsTree, XattrReply, xattrs,
};
use crate::error::{OpenError, VfsError, VfsResult};
use crate::meta::FileKind;
use crate::repo::{Generation, Repository};

/// What an inode number stands for.
enum Target<H> {
    /// One of the root's own inodes (multiple view only).
    Root(RootInode),
    Node(Arc<Slot<H>>),
    Merged(Arc<MergedDir<H>>),
    Versions(Arc<VersionsDir<H>>),
}

/// The mount's filesystem over a repository.
pub struct Layout<R: Repository> {
    /// Shared with the workers that read ahead across files.
    repo: Arc<R>,
    view: View,
    /// The visible generations, and the multiple view's root made of them.
    root: Root<R::Handle>,
    inodes: InodeTable<Inode<R::Handle>>,
    handles: Handles<R::Reader, R::Handle>,
    /// Listings of the versions view's merged directories.
    listings: versions::Listings<R::Handle>,
    damage: DamageLog,
    /// What was served as zeros in place of lost data, and (only where that can happen) where
    /// each held inode is, to name the files.
    zeros: ZeroLog,
    origins: Option<Origins>,
    /// The generation of a single view.
    single: Option<Generation>,
    measurer: Measurer,
    /// Whether listings the OS offers to take attributes with carry them.
    plus_policy: PlusPolicy,
    pusher: push::Pusher,
}

impl<R: Repository> Layout<R> {
    /// Lays out `repo`; fails when there is nothing to show or the chosen generation is missing.
    pub fn new(repo: R, options: LayoutOptions) -> Result<Layout<R>, OpenError> {
        let may_serve_zeros = repo.may_serve_zeros();
        let root = Root::new(
            &repo,
            RootOptions {
                subtree: options.root.clone(),
                fold_identical: options.fold_identical,
                damaged: may_serve_zeros,
                pid: options.pid,
                uid: options.uid,
                gid: options.gid,
            },
        );
        let state = root.state();
        if state.generations.is_empty() {
            let what = if options.root.is_empty() {
                ""
            } else {
                " that holds ROOT"
            };
            return Err(OpenError::Generation(format!(
                "repository {} has no finished generation{what}",
                repo.describe()
            )));
        }
        let mut layout = Layout {
            repo: Arc::new(repo),
            view: options.view,
            root,
            inodes: InodeTable::default(),
            handles: Handles::new(),
            listings: versions::Listings::new(),
            damage: DamageLog::default(),
            zeros: ZeroLog::default(),
            origins: may_serve_zeros.then(Origins::default),
            single: None,
            measurer: Measurer::new(),
            plus_policy: PlusPolicy::default(),
            pusher: push::Pusher::default(),
        };
        match options.view {
            View::Single => layout.single = Some(layout.pin_single(&state, &options.generation)?),
            View::Versions => layout.pin_merged_root(&state),
            View::Multiple => {}
        }
        Ok(layout)
    }

    /// How many inodes the kernel holds references to.
    #[cfg(test)]
    pub(crate) fn held_inodes(&self) -> usize {
        self.inodes.len()
    }

    /// The repository under the layout.
    pub fn repository(&self) -> &R {
        &self.repo
    }

    /// The single view's root: ROOT of the generation `spec` names.
    fn pin_single(
        &self,
        state: &State<R::Handle>,
        spec: &GenerationSpec,
    ) -> Result<Generation, OpenError> {
        let chosen = generations::pick(&*self.repo, spec).ok_or_else(|| {
            OpenError::Generation(format!(
                "no generation '{spec}' in {}",
                self.repo.describe()
            ))
        })?;
        let view = state.find(chosen.name.as_bytes()).ok_or_else(|| {
            OpenError::Generation(format!("generation {} does not hold ROOT", chosen.name))
        })?;
        let slot = Slot {
            generation: view.ino,
            node: view.root.clone(),
        };
        self.inodes.pin(ROOT_INO, Inode::Node(Arc::new(slot)));
        Ok(chosen)
    }

    /// The versions view's root: ROOT of every generation, merged.
    fn pin_merged_root(&self, state: &State<R::Handle>) {
        if let Some(root) = MergedDir::new(generations::sources(state)) {
            self.inodes.pin(ROOT_INO, Inode::Merged(Arc::new(root)));
        }
    }

    fn target(&self, ino: Ino) -> VfsResult<Target<R::Handle>> {
        // Every request of the kernel starts here: measuring waits for a quiet moment.
        self.measurer.note_request();
        if self.view == View::Multiple
            && let Some(which) = self.root.target(ino)
        {
            return Ok(Target::Root(which));
        }
        Ok(match self.inodes.get(ino).ok_or(VfsError::NOT_FOUND)? {
            Inode::Node(slot) => Target::Node(slot),
            Inode::Merged(dir) => Target::Merged(dir),
            Inode::Versions(dir) => Target::Versions(dir),
        })
    }

    /// The xattrs of an inode: the node's own, and on a generation's directory also
    /// `user.genmount.*` saying where the generation came from.
    fn xattrs_of(&self, ino: Ino) -> VfsResult<crate::repo::Xattrs> {
        let Ok(Target::Node(slot)) = self.target(ino) else {
            return Ok(Vec::new());
        };
        let mut found = self
            .repo
            .xattrs(&slot.node.handle)
            .map_err(|e| self.damage.fail(e, "xattrs"))?;
        if slot.generation == ino {
            let state = self.root.state();
            if let Some(view) = state.generations.iter().find(|g| g.ino == ino) {
                found.extend(xattrs::of_generation(&view.generation));
            }
        }
        Ok(found)
    }
}

impl<R: Repository> VfsTree for Layout<R> {
    fn set_kernel_cache(&self, cache: Box<dyn KernelCache>) {
        let cache: Arc<dyn KernelCache> = Arc::from(cache);
        self.root.set_kernel_cache(cache.clone());
        self.pusher.start(cache);
    }

    fn shutdown(&self) {
        if let Some(summary) = self.zeros.summary() {
            tracing::warn!("{summary}");
        }
        self.repo.close();
    }

    fn refresh(&self) -> VfsResult<()> {
        if self.view == View::Single {
            return Ok(());
        }
        self.root
            .reread(&*self.repo, |fresh| {
                if self.view == View::Versions {
                    self.pin_merged_root(fresh);
                }
            })
            .map_err(|e| self.damage.fail(e, "refresh"))
    }

    fn lookup(&self, parent: Ino, name: &[u8]) -> VfsResult<Entry> {
        let entry = self.find(parent, name)?;
        if entry.attr.meta.kind != FileKind::Dir {
            self.plus_policy.looked_up_file();
        }
        Ok(entry)
    }

    fn forget(&self, ino: Ino, nlookup: u64) {
        if self.inodes.forget(ino, nlookup) {
            self.handles.forget(ino);
            if let Some(origins) = &self.origins {
                origins.forget(ino);
            }
        }
    }

    fn getattr(&self, ino: Ino) -> VfsResult<Entry> {
        let (meta, ttl) = match self.target(ino)? {
            // It grows while the mount is read: the kernel must ask for its size every time.
            Target::Root(RootInode::Damaged) => (
                self.root.file_meta(self.zeros.text().len() as u64),
                Duration::ZERO,
            ),
            // Never cached, and a new mtime at every look: with FUSE_AUTO_INVAL_DATA the kernel
            // then drops its cached page before each read, so every `cat .pid` reaches `read`.
            Target::Root(RootInode::Pid) => (self.root.meta(&RootInode::Pid)?, Duration::ZERO),
            Target::Root(which) => (self.root.meta(&which)?, ROOT_TTL),
            Target::Node(slot) => (slot.node.meta.clone(), GENERATION_TTL),
            Target::Merged(dir) => (dir.meta.clone(), ROOT_TTL),
            Target::Versions(dir) => (dir.meta.clone(), ROOT_TTL),
        };
        Ok(Entry {
            attr: Attr { ino, meta },
            ttl,
        })
    }

    fn readlink(&self, ino: Ino) -> VfsResult<Vec<u8>> {
        match self.target(ino)? {
            Target::Root(which) => self.root.readlink(&which),
            Target::Node(slot) if slot.node.meta.kind == FileKind::Symlink => self
                .repo
                .readlink(&slot.node.handle)
                .map_err(|e| self.damage.fail(e, "readlink")),
            _ => Err(VfsError::INVALID_ARGUMENT),
        }
    }

    fn open(&self, ino: Ino, mode: OpenMode) -> VfsResult<Opened> {
        if mode.wants_write() {
            return Err(VfsError::READ_ONLY);
        }
        let (file, keep_cache) = self.open_file(ino)?;
        let fh = self.handles.open_file(file);
        Ok(Opened { fh, keep_cache })
    }

    fn has_backing_files(&self) -> bool {
        self.repo.has_backing_files()
    }

    fn backing_file(&self, ino: Ino) -> VfsResult<Option<std::fs::File>> {
        self.backing_of(ino)
    }

    fn read(&self, ino: Ino, fh: u64, offset: u64, size: u32) -> VfsResult<Bytes> {
        // `.damaged` grows, so a read by inode takes its text afresh rather than a kept reader. The
        // number is compared first: every read of a file opened without OPEN comes through here.
        if fh == NO_HANDLE
            && ino == DAMAGED_INO
            && matches!(self.target(ino), Ok(Target::Root(RootInode::Damaged)))
        {
            return Ok(handles::slice_of(&self.zeros.text(), offset, size));
        }
        let file = if fh == NO_HANDLE {
            self.handles
                .by_inode(ino, || self.open_file(ino).map(|(file, _)| file))?
        } else {
            self.handles.file(fh)?
        };
        match &*file {
            // Reading `.pid` re-reads the repository before it answers, so that new generations
            // are there when `cat .pid` returns: Linux's FUSE adapter declines FLUSH for the whole
            // mount (a round trip less per file), and this read is what reaches the daemon.
            // A refresh that fails leaves the mount as it was and is logged, and the read still
            // answers: `.pid` is also how scripts find the daemon and see that it is alive.
            OpenFile::Pid => {
                if offset == 0
                    && let Err(err) = self.refresh()
                {
                    tracing::warn!(
                        "re-reading the repository failed, the mount shows what it had: {err}"
                    );
                }
                Ok(handles::slice_of(&self.root.pid_text(), offset, size))
            }
            OpenFile::Damaged(text) => Ok(handles::slice_of(text, offset, size)),
            OpenFile::Data(reader) => {
                if offset == 0 {
                    self.note_start(ino);
                }
                self.read_data(ino, reader, offset, size)
            }
        }
    }

    fn flush(&self, ino: Ino, fh: u64) -> VfsResult<()> {
        // Adapters that pass every close(2) on (macOS, Windows) keep Obnam's trigger too: the
        // refresh there also covers a client that opened `.pid` without reading it. Only `.pid`'s
        // close needs a look at what the inode is.
        if ino != PID_INO {
            return Ok(());
        }
        let is_pid = if fh == NO_HANDLE {
            matches!(self.target(ino), Ok(Target::Root(RootInode::Pid)))
        } else {
            self.handles.is_pid(fh)
        };
        if is_pid {
            return self.refresh();
        }
        Ok(())
    }

    fn release(&self, _ino: Ino, fh: u64) -> VfsResult<()> {
        if fh == NO_HANDLE {
            return Ok(());
        }
        self.handles.release_file(fh)
    }

    fn opendir(&self, ino: Ino) -> VfsResult<Opened> {
        let dir = self.listing_of(ino)?;
        let fh = self.handles.open_dir(dir);
        // Listings that a refresh can change must be read anew at every opendir.
        let fixed = match self.view {
            View::Multiple => ino != ROOT_INO,
            View::Single => true,
            View::Versions => false,
        };
        Ok(Opened {
            fh,
            keep_cache: fixed,
        })
    }

    fn readdir(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
        plus: Plus,
        add: &mut dyn FnMut(&DirEntry, Option<&Entry>) -> bool,
    ) -> VfsResult<()> {
        let children = if fh == NO_HANDLE {
            self.handles
                .dir_by_inode(ino, offset == 0, || self.listing_of(ino))?
        } else {
            self.handles.dir(fh)?
        };
        if offset == 0 {
            self.note_listing(&children);
        }
        let give = self.give(plus, offset, children.len());
        let own = self.getattr(ino)?;
        handles::list_into(&children, ino, &own, offset, give, self, add);
        Ok(())
    }

    fn releasedir(&self, _ino: Ino, fh: u64) -> VfsResult<()> {
        self.handles.release_dir(fh)
    }

    fn getxattr(&self, ino: Ino, name: &[u8], size: u32) -> VfsResult<XattrReply> {
        xattrs::get(self.xattrs_of(ino)?, name, size)
    }

    fn listxattr(&self, ino: Ino, size: u32) -> VfsResult<XattrReply> {
        xattrs::list(ino, self.xattrs_of(ino)?, size)
    }

    fn measure(&self) {
        self.measurer.measure(&*self.repo, &self.root.state());
    }

    fn wait_for_statfs(&self) {
        self.measurer.wait_until_asked();
    }

    fn statfs(&self, _ino: Ino) -> VfsResult<StatFs> {
        let state = self.root.state();
        Ok(match &self.single {
            Some(generation) => self.measurer.statfs([generation]),
            None => self
                .measurer
                .statfs(state.generations.iter().map(|g| &g.generation)),
        })
    }
}
