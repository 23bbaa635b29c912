//! A directory's entries as a path-based server shows them: each with the metadata it is served
//! with, symlinks replaced by what they point to inside the tree (or marked as pointing outside).

use std::sync::Arc;

use super::path::{self, Held};
use crate::error::VfsResult;
use crate::meta::{FileKind, Meta};
use crate::vfs::VfsTree;

/// At most this many entries of one directory are listed: a listing is held in memory while it is
/// sent, and a hostile or broken repository must not make that unbounded.
pub const MAX_ENTRIES: usize = 1 << 20;

/// One entry of a listing.
#[derive(Debug, Clone)]
pub struct Item {
    /// The name as the tree shows it (bytes: a backup's names need not be UTF-8).
    pub name: Vec<u8>,
    /// The metadata it is served with: the target's, for a symlink that resolves.
    pub meta: Meta,
    /// For a symlink, its target as stored.
    pub link: Option<Vec<u8>>,
    /// A symlink whose target is outside the tree (absolute, dangling, a loop): shown to people,
    /// not served.
    pub dangling: bool,
}

impl Item {
    /// Whether a WebDAV client can open it: everything but devices, fifos, sockets and dangling links.
    pub fn servable(&self) -> bool {
        !self.dangling && matches!(self.meta.kind, FileKind::File | FileKind::Dir)
    }
}

/// Lists the directory at `dir` (the components that resolved to `held`); with `follow`, symlinks
/// carry their targets' metadata. Every lookup the listing takes is given back before it returns.
pub fn list<T: VfsTree>(held: &Held<T>, dir: &[&[u8]], follow: bool) -> VfsResult<Vec<Item>> {
    let tree = held.tree();
    let ino = held.ino();
    let opened = tree.opendir(ino)?;
    let mut items = Vec::new();
    let mut counted = Vec::new();
    let listed = tree.readdir(ino, opened.fh, 0, true, &mut |child, entry| {
        // `.` and `..` count as no lookup (as in FUSE); every other entry counts as one.
        if let Some(entry) = entry
            && child.name != b"."
            && child.name != b".."
        {
            counted.push(entry.attr.ino);
            items.push(Item {
                name: child.name.clone(),
                meta: entry.attr.meta.clone(),
                link: None,
                dangling: false,
            });
        }
        counted.len() < MAX_ENTRIES
    });
    let _ = tree.releasedir(ino, opened.fh);
    // Targets are read while the listing's lookups still hold the links' inodes.
    for (item, &ino) in items.iter_mut().zip(&counted) {
        if item.meta.kind == FileKind::Symlink {
            item.link = tree.readlink(ino).ok();
        }
    }
    for ino in counted {
        tree.forget(ino, 1);
    }
    listed?;
    if follow {
        for item in items
            .iter_mut()
            .filter(|i| i.meta.kind == FileKind::Symlink)
        {
            follow_link(tree, dir, item);
        }
    }
    Ok(items)
}

/// Replaces a symlink's metadata with its target's, or marks it dangling.
fn follow_link<T: VfsTree>(tree: &Arc<T>, dir: &[&[u8]], item: &mut Item) {
    let mut components = dir.to_vec();
    components.push(&item.name);
    match path::resolve(tree, &components) {
        Ok(target) => item.meta = target.entry().attr.meta.clone(),
        Err(_) => item.dangling = true,
    }
}
