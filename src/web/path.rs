//! URL paths resolved over the inode-based `VfsTree`, as a path-based server needs them: one lookup
//! per component, symlinks followed only inside the tree (WebDAV has no symlinks), and every lookup
//! given back when the caller is done with what it resolved.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::{VfsError, VfsResult};
use crate::meta::FileKind;
use crate::vfs::{Entry, Ino, ROOT_INO, VfsTree};

/// As many symlinks as one path may pass through, as Linux allows (`MAXSYMLINKS`).
pub const MAX_HOPS: usize = 40;
/// As many components as one resolution may walk, links' targets included: a backup may hold a
/// link whose target is megabytes of `a/a/a/…`.
pub const MAX_STEPS: usize = 4096;

/// A node reached by a path. It holds one lookup on its inode (the root needs none) and gives it
/// back when dropped, so that the tree's inode table does not grow with every request.
pub struct Held<T: VfsTree> {
    tree: Arc<T>,
    entry: Entry,
}

impl<T: VfsTree> Held<T> {
    /// The mount's root, which is never forgotten.
    pub fn root(tree: &Arc<T>) -> VfsResult<Held<T>> {
        Ok(Held {
            tree: tree.clone(),
            entry: tree.getattr(ROOT_INO)?,
        })
    }

    /// The entry `name` of this directory, not followed if it is a symlink.
    pub fn child(&self, name: &[u8]) -> VfsResult<Held<T>> {
        Held::lookup(&self.tree, self.ino(), name)
    }

    /// Looks `name` up in `parent`, taking one lookup that the returned value gives back.
    fn lookup(tree: &Arc<T>, parent: Ino, name: &[u8]) -> VfsResult<Held<T>> {
        Ok(Held {
            tree: tree.clone(),
            entry: tree.lookup(parent, name)?,
        })
    }

    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    pub fn ino(&self) -> Ino {
        self.entry.attr.ino
    }

    pub fn kind(&self) -> FileKind {
        self.entry.attr.meta.kind
    }

    pub fn tree(&self) -> &Arc<T> {
        &self.tree
    }
}

impl<T: VfsTree> Drop for Held<T> {
    fn drop(&mut self) {
        if self.entry.attr.ino != ROOT_INO {
            self.tree.forget(self.entry.attr.ino, 1);
        }
    }
}

/// Whether a path component can name an entry: the URL layer already decoded it, and a name that
/// could step out of its directory (`..`, `/`, NUL) or is empty never reaches a lookup.
pub fn is_plain_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// The components of a decoded URL path (`/a/b/` → `a`, `b`). `None` when one of them is not a
/// plain name: the caller answers 400 rather than guess what was meant.
pub fn components(path: &[u8]) -> Option<Vec<&[u8]>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| is_plain_name(c).then_some(c))
        .collect()
}

/// Resolves `components` from the root, following every symlink on the way and, when the path ends
/// in one, that one too, as long as its target stays inside the tree: a relative target is read
/// against the link's directory, and `..` stops at the root. An absolute target names a place on
/// the machine that was backed up, not in the tree: not found.
pub fn resolve<T: VfsTree>(tree: &Arc<T>, components: &[&[u8]]) -> VfsResult<Held<T>> {
    let root = Held::root(tree)?;
    let mut chain: Vec<Held<T>> = Vec::new();
    let mut todo: VecDeque<Vec<u8>> = components.iter().map(|c| c.to_vec()).collect();
    let (mut hops, mut steps) = (0, 0);
    while let Some(name) = todo.pop_front() {
        steps += 1;
        if steps > MAX_STEPS {
            return Err(VfsError::NOT_FOUND.about("a path of too many components"));
        }
        match name.as_slice() {
            b"" | b"." => continue,
            b".." => {
                chain.pop();
                continue;
            }
            _ => {}
        }
        let parent = chain.last().unwrap_or(&root);
        if parent.kind() != FileKind::Dir {
            return Err(VfsError::NOT_DIR);
        }
        let child = Held::lookup(tree, parent.ino(), &name)?;
        if child.kind() != FileKind::Symlink {
            chain.push(child);
            continue;
        }
        hops += 1;
        if hops > MAX_HOPS {
            return Err(VfsError::NOT_FOUND.about("too many levels of symbolic links"));
        }
        let target = tree.readlink(child.ino())?;
        if target.first() == Some(&b'/') {
            return Err(VfsError::NOT_FOUND.about("symlink to an absolute path"));
        }
        if steps + todo.len() + target.split(|&b| b == b'/').count() > MAX_STEPS {
            return Err(VfsError::NOT_FOUND.about("a path of too many components"));
        }
        for part in target.split(|&b| b == b'/').rev() {
            todo.push_front(part.to_vec());
        }
    }
    Ok(chain.pop().unwrap_or(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_names_that_step_out() {
        assert_eq!(components(b"/a/b/"), Some(vec![&b"a"[..], &b"b"[..]]));
        assert_eq!(components(b"/"), Some(vec![]));
        assert_eq!(components(b"//a//"), Some(vec![&b"a"[..]]));
        for bad in [&b"/a/../b"[..], b"/./a", b"/a/x\0y", b"/.."] {
            assert_eq!(components(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(is_plain_name(b"a\\b"));
        assert!(is_plain_name(b"..."));
    }
}
