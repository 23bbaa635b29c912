//! A directory's entries as a path-based server shows them: each with the metadata it is served
//! with, symlinks replaced by what they point to inside the tree (or marked as pointing outside).

use std::sync::Arc;

use super::path::{self, Held};
use crate::error::VfsResult;
use crate::meta::{FileKind, Meta};
use crate::vfs::{Ino, Plus, ROOT_INO, VfsTree};

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
    /// A symlink whose target is outside the tree (absolute, dangling, a loop) or is a folder
    /// above it: shown to people, not served.
    pub dangling: bool,
}

impl Item {
    /// Whether a WebDAV client can open it: everything but devices, fifos, sockets and dangling links.
    pub fn servable(&self) -> bool {
        !self.dangling && matches!(self.meta.kind, FileKind::File | FileKind::Dir)
    }
}

/// A directory's entries, and whether there were more than `MAX_ENTRIES` of them.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    pub items: Vec<Item>,
    pub truncated: bool,
}

/// Lists the directory at `dir` (the components that resolved to `held`); with `follow`, symlinks
/// carry their targets' metadata. Every lookup the listing takes is given back before it returns.
pub fn list<T: VfsTree>(held: &Held<T>, dir: &[&[u8]], follow: bool) -> VfsResult<Listed> {
    let tree = held.tree();
    let ino = held.ino();
    let opened = tree.opendir(ino)?;
    let mut items = Vec::new();
    let mut counted = Vec::new();
    let mut truncated = false;
    let listed = tree.readdir(ino, opened.fh, 0, Plus::Attrs, &mut |child, entry| {
        let Some(entry) = entry else { return true };
        // `.` and `..` count as no lookup (as in FUSE); every other entry counts as one.
        if child.name == b"." || child.name == b".." {
            return true;
        }
        if counted.len() == MAX_ENTRIES {
            // Refused: the tree gives this entry's lookup back itself.
            truncated = true;
            return false;
        }
        counted.push(entry.attr.ino);
        items.push(Item {
            name: child.name.clone(),
            meta: entry.attr.meta.clone(),
            link: None,
            dangling: false,
        });
        true
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
    if truncated {
        tracing::warn!("a folder has more than {MAX_ENTRIES} entries: only the first are served");
    }
    if follow && items.iter().any(|i| i.meta.kind == FileKind::Symlink) {
        let ancestors = ancestors(tree, dir, ino);
        for item in items
            .iter_mut()
            .filter(|i| i.meta.kind == FileKind::Symlink)
        {
            follow_link(tree, dir, &ancestors, item);
        }
    }
    Ok(Listed { items, truncated })
}

/// The inodes of the directory at `dir` and of every directory above it.
fn ancestors<T: VfsTree>(tree: &Arc<T>, dir: &[&[u8]], own: Ino) -> Vec<Ino> {
    let mut inos = vec![ROOT_INO, own];
    for depth in 1..dir.len() {
        if let Ok(held) = path::resolve(tree, &dir[..depth]) {
            inos.push(held.ino());
        }
    }
    inos
}

/// Replaces a symlink's metadata with its target's, or marks it dangling. A link to the folder it
/// is in or to one above it (`X11 -> .`) would make every recursive client walk in circles: it is
/// not served either.
fn follow_link<T: VfsTree>(tree: &Arc<T>, dir: &[&[u8]], ancestors: &[Ino], item: &mut Item) {
    let mut components = dir.to_vec();
    components.push(&item.name);
    match path::resolve(tree, &components) {
        Ok(target) if !ancestors.contains(&target.ino()) => {
            item.meta = target.entry().attr.meta.clone();
        }
        _ => item.dangling = true,
    }
}
