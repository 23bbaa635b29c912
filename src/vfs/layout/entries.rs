//! Entries by name and listings: what a lookup finds and remembers, what a directory lists,
//! and what a listing gives with each name.

use std::sync::Arc;

use super::{Layout, Target};
use crate::error::{VfsError, VfsResult};
use crate::meta::FileKind;
use crate::names;
use crate::repo::Repository;
use crate::vfs::handles::{Give, OpenDir, Remember};
use crate::vfs::inodes::{Child, InoKey, Inode, ROOT_TTL, Slot};
use crate::vfs::versions;
use crate::vfs::{Attr, Entry, Ino, Plus, VfsTree};

impl<R: Repository> Layout<R> {
    /// What directory `ino` lists now: the repository's listing, shown as it comes.
    pub(super) fn listing_of(&self, ino: Ino) -> VfsResult<OpenDir<R::Handle>> {
        Ok(match self.target(ino)? {
            Target::Root(dir) => OpenDir::Made(self.root.children(&dir)?),
            Target::Node(slot) => self.open_node_dir(ino, &slot)?,
            Target::Merged(dir) => OpenDir::Made(versions::merged_children(
                &self.listings.children(&*self.repo, &dir),
                ino,
            )),
            Target::Versions(dir) => OpenDir::Made(dir.children(ino)),
        })
    }

    fn open_node_dir(&self, ino: Ino, slot: &Slot<R::Handle>) -> VfsResult<OpenDir<R::Handle>> {
        if slot.node.meta.kind != FileKind::Dir {
            return Err(VfsError::NOT_DIR);
        }
        let listing = self
            .repo
            .list(&slot.node.handle)
            .map_err(|e| self.damage.fail(e, "list"))?;
        Ok(OpenDir::Node {
            ino,
            generation: slot.generation,
            listing,
        })
    }

    /// `name` in `parent`, counted as a lookup.
    pub(super) fn find(&self, parent: Ino, name: &[u8]) -> VfsResult<Entry> {
        if name.len() > names::NAME_MAX {
            return Err(VfsError::NAME_TOO_LONG);
        }
        let slot = match self.target(parent)? {
            Target::Root(dir) => {
                // A refresh can replace what a name at the root stands for.
                let mut entry = self.remember_child(parent, &self.root.lookup(&dir, name)?)?;
                entry.ttl = entry.ttl.min(ROOT_TTL);
                return Ok(entry);
            }
            Target::Merged(dir) => {
                let listing = self.listings.children(&*self.repo, &dir);
                let child = versions::merged_child(&listing, parent, name);
                return self.remember_child(parent, &child.ok_or(VfsError::NOT_FOUND)?);
            }
            Target::Versions(dir) => {
                let child = dir.child(parent, name).ok_or(VfsError::NOT_FOUND)?;
                return self.remember_child(parent, &child);
            }
            Target::Node(slot) => slot,
        };
        if slot.node.meta.kind != FileKind::Dir {
            return Err(VfsError::NOT_DIR);
        }
        let node = self
            .repo
            .lookup(&slot.node.handle, name)
            .map_err(|e| self.damage.fail(e, "lookup"))?;
        let key = InoKey::for_node(slot.generation, parent, name, &node);
        let slot = Slot {
            generation: slot.generation,
            node,
        };
        Ok(self.remember(parent, name, key, Inode::Node(Arc::new(slot))))
    }

    /// What a listing of `entries` entries from `offset` gives with each name.
    pub(super) fn give(&self, plus: Plus, offset: u64, entries: usize) -> Give {
        match plus {
            Plus::Names => Give::Names,
            Plus::Attrs => Give::Attrs,
            // Past the start the kernel asks for attributes only when it was advised to: a
            // lookup in this directory came since it last listed it.
            Plus::Offered if offset > 0 || self.plus_policy.give_attrs(entries) => Give::Attrs,
            Plus::Offered => Give::DotsOnly,
        }
    }

    /// `name` in `parent`, counted as one more kernel reference.
    fn remember(&self, parent: Ino, name: &[u8], key: InoKey, inode: Inode<R::Handle>) -> Entry {
        let meta = inode.meta().clone();
        let ttl = inode.ttl();
        let ino = self.inodes.remember(key, inode);
        if let Some(origins) = &self.origins {
            origins.note(ino, parent, name);
        }
        Entry {
            attr: Attr { ino, meta },
            ttl,
        }
    }
}

impl<R: Repository> Remember<R::Handle> for Layout<R> {
    /// The entry a child of a listing stands for, counted as a lookup unless its number is fixed.
    fn remember_child(&self, parent: Ino, child: &Child<R::Handle>) -> VfsResult<Entry> {
        match child {
            Child::Fixed { ino, .. } => self.getattr(*ino),
            Child::Node { name, key, inode } => {
                Ok(self.remember(parent, name, *key, inode.clone()))
            }
        }
    }

    fn forget(&self, ino: Ino, nlookup: u64) {
        VfsTree::forget(self, ino, nlookup);
    }
}
