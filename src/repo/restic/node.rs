//! What restic stored of a node (`Stored`), from rustic's `Node` or straight from a tree's JSON
//! (`treejson`), and its metadata as genmount's `Meta`: Go's `os.FileMode` bits turned into a POSIX
//! mode, times in seconds and nanoseconds (before 1970 too), hardlink identity from inode/device.

use rustic_core::repofile::{Node, NodeType};
use rustic_core::{DataId, TreeId};

use crate::meta::{FileKind, LinkId, Meta, Timestamp};
use crate::repo::Xattrs;

// Go's os.FileMode bits, as restic stores them.
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_STICKY: u32 = 1 << 20;

/// The permission bits (with setuid, setgid, sticky) of a Go `os.FileMode`.
pub fn perm_from_go(go_mode: u32) -> u32 {
    let mut perm = go_mode & 0o777;
    if go_mode & GO_MODE_SETUID != 0 {
        perm |= 0o4000;
    }
    if go_mode & GO_MODE_SETGID != 0 {
        perm |= 0o2000;
    }
    if go_mode & GO_MODE_STICKY != 0 {
        perm |= 0o1000;
    }
    perm
}

/// The type of a node, from its node type (restic's mode bits are not always complete).
pub fn kind_of(node_type: &NodeType) -> FileKind {
    match node_type {
        NodeType::File => FileKind::File,
        NodeType::Dir => FileKind::Dir,
        NodeType::Symlink { .. } => FileKind::Symlink,
        NodeType::Dev { .. } => FileKind::BlockDevice,
        NodeType::Chardev { .. } => FileKind::CharDevice,
        NodeType::Fifo => FileKind::Fifo,
        NodeType::Socket => FileKind::Socket,
    }
}

/// A jiff timestamp as seconds and non-negative nanoseconds, exact before 1970 too.
pub fn timestamp(ts: &jiff::Timestamp) -> Timestamp {
    let nanos = ts.as_nanosecond();
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    Timestamp::new(secs, nanos.rem_euclid(1_000_000_000) as i64)
}

/// The raw bytes of a symlink's target.
pub fn link_target(node_type: &NodeType) -> Option<Vec<u8>> {
    match node_type {
        NodeType::Symlink {
            linktarget,
            linktarget_raw,
        } => Some(
            linktarget_raw
                .clone()
                .unwrap_or_else(|| linktarget.as_bytes().to_vec()),
        ),
        _ => None,
    }
}

/// A tree's nodes, each with its name as raw bytes.
pub type NamedNodes = Vec<(Vec<u8>, Stored)>;

/// What restic stored of one node, in genmount's types: both ways of reading a tree end here.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub kind: FileKind,
    /// Go's mode bits; restic leaves a zero mode out.
    pub mode: Option<u32>,
    pub atime: Option<Timestamp>,
    pub mtime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub inode: u64,
    pub device_id: u64,
    pub size: u64,
    pub links: u64,
    /// A device node's number.
    pub device: u64,
    /// A symlink's target, as raw bytes.
    pub link_target: Option<Vec<u8>>,
    pub xattrs: Xattrs,
    pub content: Option<Vec<DataId>>,
    pub subtree: Option<TreeId>,
}

impl Stored {
    /// A node as rustic decoded it, with its name unescaped to raw bytes.
    pub fn of_rustic(node: Node) -> (Vec<u8>, Stored) {
        let name = node.name().as_encoded_bytes().to_vec();
        let m = node.meta;
        let time = |t: Option<jiff::Timestamp>| t.as_ref().map(timestamp);
        let stored = Stored {
            kind: kind_of(&node.node_type),
            mode: m.mode,
            atime: time(m.atime),
            mtime: time(m.mtime),
            ctime: time(m.ctime),
            uid: m.uid,
            gid: m.gid,
            inode: m.inode,
            device_id: m.device_id,
            size: m.size,
            links: m.links,
            device: match node.node_type {
                NodeType::Dev { device } | NodeType::Chardev { device } => device,
                _ => 0,
            },
            link_target: link_target(&node.node_type),
            xattrs: m
                .extended_attributes
                .into_iter()
                .map(|x| (x.name.into_bytes(), x.value.unwrap_or_default()))
                .collect(),
            content: node.content,
            subtree: node.subtree,
        };
        (name, stored)
    }
}

/// The node's metadata as it was backed up. `fallback` dates nodes that carry no times.
pub fn meta_of(node: &Stored, fallback: Timestamp) -> Meta {
    let kind = node.kind;
    let size = match &node.link_target {
        Some(target) if kind == FileKind::Symlink => target.len() as u64,
        _ if kind == FileKind::File => node.size.min(crate::meta::MAX_FILE_SIZE),
        _ => 0,
    };
    let links = u32::try_from(node.links).unwrap_or(u32::MAX);
    let nlink = match (links, kind) {
        (0, FileKind::Dir) => 2,
        (0, _) => 1,
        (n, _) => n,
    };
    let rdev = match kind {
        FileKind::BlockDevice | FileKind::CharDevice => node.device,
        _ => 0,
    };
    Meta {
        kind,
        // restic leaves a zero mode out of its JSON: no mode is mode 0, not a default.
        perm: node.mode.map_or(0, perm_from_go),
        uid: node.uid.unwrap_or(0),
        gid: node.gid.unwrap_or(0),
        size,
        blocks: size.div_ceil(512),
        atime: node.atime.unwrap_or(fallback),
        mtime: node.mtime.unwrap_or(fallback),
        ctime: node.ctime.unwrap_or(fallback),
        nlink,
        rdev,
        link_id: (kind != FileKind::Dir && nlink > 1 && node.inode != 0)
            .then(|| LinkId::from((node.device_id, node.inode))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustic_core::repofile::Metadata;

    fn meta_of_node(node: Node) -> Meta {
        meta_of(&Stored::of_rustic(node).1, Timestamp::EPOCH)
    }

    #[test]
    fn go_special_bits_become_posix_bits() {
        assert_eq!(perm_from_go(0o755 | GO_MODE_SETUID), 0o4755);
        assert_eq!(perm_from_go((1 << 31) | 0o777 | GO_MODE_STICKY), 0o1777);
        assert_eq!(perm_from_go((1 << 31) | 0o755 | GO_MODE_SETGID), 0o2755);
        assert_eq!(perm_from_go(0o600), 0o600);
    }

    #[test]
    fn times_before_1970_keep_their_nanoseconds() -> Result<(), jiff::Error> {
        let ts = jiff::Timestamp::new(-2, 1)?;
        assert_eq!(timestamp(&ts), Timestamp { secs: -2, nanos: 1 });
        let ts: jiff::Timestamp = "1969-12-31T23:59:59.999999999Z".parse()?;
        assert_eq!(
            timestamp(&ts),
            Timestamp {
                secs: -1,
                nanos: 999_999_999
            }
        );
        Ok(())
    }

    #[test]
    fn hardlinks_get_an_identity_and_dirs_a_link_count() {
        let meta = Metadata {
            links: 3,
            inode: 42,
            device_id: 7,
            mode: Some(0o644),
            ..Default::default()
        };
        let node = Node::new("a".into(), NodeType::File, meta, None, None);
        let meta = meta_of_node(node);
        assert_eq!(meta.link_id, Some(LinkId::from((7, 42))));
        assert_eq!(meta.nlink, 3);
        let dir = Node::new("d".into(), NodeType::Dir, Metadata::default(), None, None);
        let meta = meta_of_node(dir);
        assert_eq!((meta.nlink, meta.perm, meta.link_id), (2, 0, None));
    }

    #[test]
    fn sizes_beyond_off_t_are_clamped() {
        let mut node = Node::new("f".into(), NodeType::File, Metadata::default(), None, None);
        node.meta.size = u64::MAX;
        let meta = meta_of_node(node);
        assert_eq!(meta.size, i64::MAX as u64);
        assert_eq!(meta.blocks, (i64::MAX as u64).div_ceil(512));
    }

    #[test]
    fn symlink_size_is_the_target_length() {
        let link = NodeType::Symlink {
            linktarget: "abc".into(),
            linktarget_raw: Some(vec![0xff, b'x']),
        };
        let node = Node::new("l".into(), link, Metadata::default(), None, None);
        assert_eq!(meta_of_node(node.clone()).size, 2);
        assert_eq!(link_target(&node.node_type), Some(vec![0xff, b'x']));
    }
}
