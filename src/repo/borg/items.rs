//! One borg item (a msgpack map of the flat item stream) as genmount's metadata: type and full
//! mode, owner, times in nanoseconds, device, size and chunk list, symlink target, hardlink
//! source, xattrs and ACLs.

use std::sync::Arc;

use rmpv::Value;

use super::acl;
use super::msgpack;
use crate::meta::{FileKind, MAX_FILE_SIZE, Meta, Timestamp};
use crate::repo::Xattrs;

/// A chunk of a file: its id and plaintext size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    pub id: [u8; 32],
    pub size: u32,
}

/// What an item's content is.
#[derive(Debug, Clone)]
pub enum Content {
    Dir,
    File(Arc<[ChunkRef]>),
    Link(Arc<[u8]>),
    /// A later link of a hardlinked file (borg 1.x): the path of the first, which holds the data.
    HardlinkTo(Box<[u8]>),
    Other,
}

/// An item as the tree needs it.
pub struct Item {
    pub path: Vec<u8>,
    pub meta: Meta,
    pub content: Content,
    pub xattrs: Option<Arc<Xattrs>>,
}

/// The item in `value`, or why it is not one.
pub fn parse(value: &Value) -> Result<Item, String> {
    let path = msgpack::get_bytes(value, "path")
        .ok_or("item without a path")?
        .to_vec();
    let mode = msgpack::get_u64(value, "mode")
        .and_then(|m| u32::try_from(m).ok())
        .ok_or("item without a mode")?;
    let kind = FileKind::from_mode(mode).ok_or_else(|| format!("item with mode {mode:o}"))?;
    let source = msgpack::get_bytes(value, "source");
    let content = match (kind, source) {
        (FileKind::Dir, _) => Content::Dir,
        (FileKind::Symlink, target) => Content::Link(target.unwrap_or_default().into()),
        (_, Some(source)) => Content::HardlinkTo(source.into()),
        (FileKind::File, None) => Content::File(chunks(value)?.into()),
        _ => Content::Other,
    };
    let size = match &content {
        Content::File(chunks) => chunks.iter().map(|c| u64::from(c.size)).sum(),
        Content::Link(target) => target.len() as u64,
        _ => 0,
    };
    let time = |name: &str| {
        msgpack::get_i64(value, name)
            .map(|ns| Timestamp::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000)))
    };
    let mtime = time("mtime").unwrap_or_default();
    let id = |name: &str| {
        msgpack::get_u64(value, name)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    };
    let meta = Meta {
        kind,
        perm: mode & 0o7777,
        uid: id("uid"),
        gid: id("gid"),
        size: size.min(MAX_FILE_SIZE),
        blocks: size.div_ceil(512),
        // Borg stores atime only when asked (--atime) and ctime unless told not to.
        atime: time("atime").unwrap_or(mtime),
        mtime,
        ctime: time("ctime").unwrap_or(mtime),
        // A directory's count is set once its subdirectories are known (`tree`).
        nlink: if kind == FileKind::Dir { 2 } else { 1 },
        rdev: msgpack::get_u64(value, "rdev").unwrap_or(0),
        link_id: None,
    };
    Ok(Item {
        path,
        meta,
        content,
        xattrs: xattrs(value),
    })
}

/// `chunks`: `[id, size, csize]` (borg 1.1, 1.2) or `[id, size]` entries.
fn chunks(value: &Value) -> Result<Vec<ChunkRef>, String> {
    let Some(list) = msgpack::get(value, "chunks") else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = list else {
        return Err("item chunks are not a list".into());
    };
    list.iter()
        .map(|entry| {
            let Value::Array(parts) = entry else {
                return Err("chunk entry is not a list".to_string());
            };
            let id = parts
                .first()
                .and_then(msgpack::bytes)
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            let size = parts
                .get(1)
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok());
            match (id, size) {
                (Some(id), Some(size)) => Ok(ChunkRef { id, size }),
                _ => Err("chunk entry without id or size".to_string()),
            }
        })
        .collect()
}

/// Turns borg's ACL text into an xattr value.
type AclConversion = fn(&[u8]) -> Option<Vec<u8>>;

/// The item's xattrs, with its ACLs as the `system.posix_acl_*` values the kernel uses.
fn xattrs(value: &Value) -> Option<Arc<Xattrs>> {
    let mut out: Xattrs = Vec::new();
    if let Some(Value::Map(map)) = msgpack::get(value, "xattrs") {
        for (name, data) in map {
            // Borg 1.x stores an empty value as nil.
            let data = match data {
                Value::Nil => Some(&[][..]),
                other => msgpack::bytes(other),
            };
            if let (Some(name), Some(data)) = (msgpack::bytes(name), data) {
                out.push((name.to_vec(), data.to_vec()));
            }
        }
    }
    let acls: [(&str, &str, AclConversion); 2] = [
        ("acl_access", "system.posix_acl_access", acl::access_xattr),
        ("acl_default", "system.posix_acl_default", acl::to_xattr),
    ];
    for (field, name, convert) in acls {
        if let Some(binary) = msgpack::get_bytes(value, field).and_then(convert) {
            out.push((name.as_bytes().to_vec(), binary));
        }
    }
    (!out.is_empty()).then(|| Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        )
    }

    #[test]
    fn a_file_item() -> Result<(), String> {
        let chunk = Value::Array(vec![
            Value::Binary(vec![1; 32]),
            Value::from(10),
            Value::from(8),
        ]);
        let item = map(vec![
            ("path", Value::Binary(b"a/b".to_vec())),
            ("mode", Value::from(0o104755)),
            ("uid", Value::from(1000)),
            ("mtime", Value::from(-1_500_000_000i64)),
            ("chunks", Value::Array(vec![chunk.clone(), chunk])),
            (
                "xattrs",
                map(vec![("user.x", Value::Binary(b"1".to_vec()))]),
            ),
        ]);
        let parsed = parse(&item)?;
        assert_eq!(parsed.meta.mode(), 0o104755);
        assert_eq!(parsed.meta.size, 20);
        assert_eq!(
            parsed.meta.mtime,
            Timestamp {
                secs: -2,
                nanos: 500_000_000
            }
        );
        assert_eq!(parsed.meta.ctime, parsed.meta.mtime);
        assert!(matches!(parsed.content, Content::File(c) if c.len() == 2));
        assert_eq!(parsed.xattrs.map(|x| x.len()), Some(1));
        Ok(())
    }

    #[test]
    fn links_and_bad_items() -> Result<(), String> {
        let link = map(vec![
            ("path", Value::from("l")),
            ("mode", Value::from(0o120777)),
            ("source", Value::from("target")),
        ]);
        assert!(matches!(parse(&link)?.content, Content::Link(t) if &*t == b"target"));
        let hard = map(vec![
            ("path", Value::from("h")),
            ("mode", Value::from(0o100644)),
            ("source", Value::from("a/b")),
        ]);
        assert!(matches!(parse(&hard)?.content, Content::HardlinkTo(s) if &*s == b"a/b"));
        assert!(parse(&map(vec![("path", Value::from("x"))])).is_err());
        assert!(parse(&map(vec![("mode", Value::from(0o100644))])).is_err());
        Ok(())
    }
}
