//! What genmount keeps of a restic node once its metadata is converted: the tree id of a directory,
//! the blob ids of a file, a symlink's target, xattrs — not the whole node with its owner names and
//! strings, which for a metadata walk of a large repository was most of the daemon's memory.

use std::sync::Arc;

use rustic_core::{DataId, TreeId};

use super::node::Stored;
use crate::meta::FileKind;
use crate::repo::Xattrs;

/// What a node's content is, as far as reading it needs.
#[derive(Debug, Clone)]
pub enum Content {
    Dir(TreeId),
    /// A file's blobs, and its name for the log when one of them is damaged.
    File {
        blobs: Arc<[DataId]>,
        name: Arc<str>,
    },
    Link(Arc<[u8]>),
    Other,
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
                blobs: blobs.unwrap_or_default().into(),
                name: String::from_utf8_lossy(name).into(),
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

    pub fn subtree(&self) -> Option<TreeId> {
        match self.content {
            Content::Dir(tree) => Some(tree),
            _ => None,
        }
    }
}
