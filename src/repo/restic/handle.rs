//! What genmount keeps of a restic node once its metadata is converted: the tree id of a directory,
//! the blob ids of a file, a symlink's target, xattrs — not the whole node with its owner names and
//! strings, which for a metadata walk of a large repository was most of the daemon's memory.

use std::sync::Arc;

use ecow::EcoString;
use rustic_core::{DataId, TreeId};

use super::node::Stored;
use crate::meta::FileKind;
use crate::repo::Xattrs;

/// What an allocation costs beyond its bytes: the allocator's own and an `Arc`'s counts, about.
pub const ALLOCATION: usize = 32;

/// What a node's content is, as far as reading it needs.
#[derive(Debug, Clone)]
pub enum Content {
    Dir(TreeId),
    /// A file's blobs, and its name for the log when one of them is damaged.
    File {
        blobs: Blobs,
        name: EcoString,
    },
    Link(Arc<[u8]>),
    Other,
}

/// A file's blob ids. Most files of a backup fit in one blob: that one is kept in place, which
/// spares every inode that holds such a file an allocation (64 bytes with its counts).
#[derive(Debug, Clone)]
pub enum Blobs {
    One(DataId),
    Many(Arc<[DataId]>),
}

impl Blobs {
    pub fn new(ids: Vec<DataId>) -> Blobs {
        match ids.as_slice() {
            [one] => Blobs::One(*one),
            _ => Blobs::Many(ids.into()),
        }
    }
}

impl std::ops::Deref for Blobs {
    type Target = [DataId];

    fn deref(&self) -> &[DataId] {
        match self {
            Blobs::One(id) => std::slice::from_ref(id),
            Blobs::Many(ids) => ids,
        }
    }
}

/// A restic node as genmount's repository handle.
#[derive(Debug, Clone)]
pub struct ResticHandle {
    pub content: Content,
    /// Only nodes that have xattrs carry a list.
    pub xattrs: Option<Arc<Xattrs>>,
}

impl ResticHandle {
    /// The handle of a node from a tree, whose shown name is `name`.
    pub fn of(node: Stored, name: &[u8]) -> ResticHandle {
        let content = match (node.kind, node.subtree, node.content, node.link_target) {
            (FileKind::Dir, Some(tree), _, _) => Content::Dir(tree),
            (FileKind::File, _, blobs, _) => Content::File {
                blobs: Blobs::new(blobs.unwrap_or_default()),
                name: EcoString::from(&*String::from_utf8_lossy(name)),
            },
            (FileKind::Symlink, _, _, target) => Content::Link(target.unwrap_or_default().into()),
            _ => Content::Other,
        };
        let xattrs = node.xattrs;
        ResticHandle {
            content,
            xattrs: (!xattrs.is_empty()).then(|| Arc::new(xattrs)),
        }
    }

    /// The handle of a snapshot's root directory.
    pub fn root(tree: TreeId) -> ResticHandle {
        ResticHandle {
            content: Content::Dir(tree),
            xattrs: None,
        }
    }

    /// About what the handle holds on the heap, allocator overhead included.
    pub fn heap_bytes(&self) -> usize {
        let content = match &self.content {
            Content::File { blobs, name } => {
                let list = match blobs {
                    Blobs::One(_) => 0,
                    Blobs::Many(ids) => ALLOCATION + std::mem::size_of_val(&**ids),
                };
                let log = if name.is_inline() {
                    0
                } else {
                    ALLOCATION + name.len()
                };
                list + log
            }
            Content::Link(target) => ALLOCATION + target.len(),
            Content::Dir(_) | Content::Other => 0,
        };
        let xattrs = self.xattrs.as_deref().map_or(0, |x| {
            let each = |(n, v): &(Vec<u8>, Vec<u8>)| 2 * ALLOCATION + n.len() + v.len();
            ALLOCATION + x.iter().map(each).sum::<usize>()
        });
        content + xattrs
    }

    pub fn subtree(&self) -> Option<TreeId> {
        match self.content {
            Content::Dir(tree) => Some(tree),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every held file inode keeps a handle: one blob in place, no allocation for a short name.
    #[test]
    fn a_small_file_keeps_nothing_on_the_heap() {
        assert!(size_of::<ResticHandle>() <= 64);
        let handle = ResticHandle {
            content: Content::File {
                blobs: Blobs::new(vec![DataId::default()]),
                name: EcoString::from("report.pdf"),
            },
            xattrs: None,
        };
        assert_eq!(handle.heap_bytes(), 0);
        let Content::File { blobs, .. } = &handle.content else {
            unreachable!()
        };
        assert_eq!(blobs.len(), 1);
        let many = Blobs::new(vec![DataId::default(); 3]);
        assert!(matches!(many, Blobs::Many(_)) && many.len() == 3);
        assert!(Blobs::new(Vec::new()).is_empty());
    }
}
