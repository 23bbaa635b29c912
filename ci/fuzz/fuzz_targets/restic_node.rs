//! Arbitrary bytes, or JSON built from them, decoded as a restic tree by genmount's `treejson` and
//! each node turned into genmount's metadata and shown name: no panic, the metadata as stored, and
//! wherever rustic_core reads the tree too, the very nodes it reads.
#![no_main]

use genmount::meta::{FileKind, LinkId, Meta, Timestamp};
use genmount::names;
use genmount::win::info::file_info;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rustic_core::TreeId;
use rustic_core::repofile::Tree;
use serde_json::{Map, Value, json};

use genmount::repo::restic::node::{self, Stored};
use genmount::repo::restic::treejson;

const NANOS: i128 = 1_000_000_000;

/// A string from the input, often one that means something to restic: escaped bytes in names,
/// dot entries, separators.
fn text(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => (*u.choose(&[
            "",
            ".",
            "..",
            "a/b",
            "\\",
            "\\x",
            "\\xff",
            "\\xZZ",
            "\\u00e9",
            "\\ud800",
            "\\U0010ffff",
            "\\U00110000",
            "\\a\\b\\f\\n\\r\\t\\v",
            "\\q",
            "CON",
            "x\u{0}y",
        ])?)
        .to_string(),
        1 => format!(
            "{}\\x{:02x}",
            u.arbitrary::<String>()?,
            u.arbitrary::<u8>()?
        ),
        _ => u.arbitrary::<String>()?,
    })
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A time as restic writes it (RFC 3339 with an offset), anywhere in jiff's range, or junk.
fn time(u: &mut Unstructured) -> Result<Value> {
    let secs = match u.int_in_range(0u8..=3)? {
        0 => u.int_in_range(-2_000_000_000i64..=4_000_000_000)?,
        1 => *u.choose(&[-377_705_116_800i64, 253_402_207_200, -62_167_219_200, -1, 0])?,
        _ => u.int_in_range(-377_705_116_800i64..=253_402_207_200)?,
    };
    let nanos = u.int_in_range(0i32..=999_999_999)?;
    let Ok(ts) = jiff::Timestamp::new(secs, nanos) else {
        return Ok(Value::String(text(u)?));
    };
    let hours = u.int_in_range(-25i8..=25)?;
    Ok(Value::String(match jiff::tz::Offset::from_hours(hours) {
        Ok(offset) if u.arbitrary()? => ts.display_with_offset(offset).to_string(),
        _ => ts.to_string(),
    }))
}

fn id(u: &mut Unstructured) -> Result<Value> {
    let bytes: [u8; 32] = u.arbitrary()?;
    Ok(Value::String(
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// One node as restic's JSON has it, each field present or not.
fn node_json(u: &mut Unstructured) -> Result<Value> {
    let mut node = Map::new();
    node.insert("name".into(), Value::String(text(u)?));
    let kind = *u.choose(&[
        "file",
        "dir",
        "symlink",
        "dev",
        "chardev",
        "fifo",
        "socket",
        "irregular",
        "",
    ])?;
    node.insert("type".into(), json!(kind));
    let mut field = |u: &mut Unstructured, key: &str, value: Value| -> Result<()> {
        if u.arbitrary()? {
            node.insert(key.into(), value);
        }
        Ok(())
    };
    let mode = match u.int_in_range(0u8..=2)? {
        0 => u.arbitrary::<u32>()?,
        1 => u.arbitrary::<u32>()? & 0o777 | (1 << 31) | (1 << 23) | (1 << 22) | (1 << 20),
        _ => u.arbitrary::<u32>()? & 0o7777,
    };
    field(u, "mode", json!(mode))?;
    for key in ["mtime", "atime", "ctime"] {
        let value = time(u)?;
        field(u, key, value)?;
    }
    for key in ["uid", "gid"] {
        let value = json!(u.arbitrary::<u32>()?);
        field(u, key, value)?;
    }
    for key in ["user", "group", "linktarget"] {
        let value = json!(text(u)?);
        field(u, key, value)?;
    }
    for key in ["inode", "device_id", "size", "links", "device"] {
        let value = match u.int_in_range(0u8..=3)? {
            0 => json!(u.arbitrary::<u64>()?),
            1 => json!(*u.choose(&[
                0u64,
                1,
                2,
                u64::from(u32::MAX),
                u64::from(u32::MAX) + 1,
                u64::MAX
            ])?),
            _ => json!(u.int_in_range(0u64..=5000)?),
        };
        field(u, key, value)?;
    }
    let raw = if u.arbitrary()? {
        Value::Null
    } else {
        json!(base64(&u.arbitrary::<Vec<u8>>()?))
    };
    field(u, "linktarget_raw", raw)?;
    let content = if u.arbitrary()? {
        Value::Null
    } else {
        Value::Array(
            (0..u.int_in_range(0u8..=3)?)
                .map(|_| id(u))
                .collect::<Result<_>>()?,
        )
    };
    field(u, "content", content)?;
    let subtree = id(u)?;
    field(u, "subtree", subtree)?;
    let mut xattrs = Vec::new();
    for _ in 0..u.int_in_range(0u8..=2)? {
        let value = if u.arbitrary()? {
            Value::Null
        } else {
            json!(base64(&u.arbitrary::<Vec<u8>>()?))
        };
        xattrs.push(json!({ "name": text(u)?, "value": value }));
    }
    field(u, "extended_attributes", Value::Array(xattrs))?;
    Ok(Value::Object(node))
}

fn tree_json(u: &mut Unstructured) -> Result<Vec<u8>> {
    let mut nodes = Vec::new();
    while !u.is_empty() && nodes.len() < 64 {
        nodes.push(node_json(u)?);
    }
    Ok(serde_json::to_vec(&json!({ "nodes": nodes })).unwrap_or_default())
}

fn nanos_of(ts: Timestamp) -> i128 {
    assert!(
        ts.nanos < 1_000_000_000,
        "{ts:?} has a second or more of nanoseconds"
    );
    i128::from(ts.secs) * NANOS + i128::from(ts.nanos)
}

fn check_node(node: &Stored, name: &[u8]) -> Meta {
    let fallback = Timestamp::new(-1, 7);
    let meta = node::meta_of(node, fallback);
    assert_eq!(meta.kind, node.kind);
    assert_eq!(
        meta.perm & !0o7777,
        0,
        "perm {:o} from mode {:?}",
        meta.perm,
        node.mode
    );
    assert_eq!(meta.perm & 0o777, node.mode.unwrap_or(0) & 0o777);
    assert_eq!(
        (meta.uid, meta.gid),
        (node.uid.unwrap_or(0), node.gid.unwrap_or(0))
    );
    for (shown, stored) in [
        (meta.mtime, node.mtime),
        (meta.atime, node.atime),
        (meta.ctime, node.ctime),
    ] {
        assert_eq!(nanos_of(shown), nanos_of(stored.unwrap_or(fallback)));
        let _ = shown.to_system_time();
        let rfc = shown.to_rfc3339();
        // Years 0 to 9999 are what RFC 3339 can write, and jiff reads a day less.
        // `Timestamp` is packed: its fields are copied out, not borrowed.
        let secs = shown.secs;
        if (-62_167_219_200..=253_402_207_200).contains(&secs) {
            let back: jiff::Timestamp = rfc.parse().unwrap_or_else(|e| panic!("{rfc}: {e}"));
            assert_eq!(back.as_second(), secs, "{shown:?} written as {rfc}");
        }
    }
    let target = node
        .link_target
        .as_ref()
        .filter(|_| node.kind == FileKind::Symlink);
    // A size is exact where an off_t can hold it.
    let size = match target {
        Some(target) => target.len() as u64,
        None if meta.kind == FileKind::File => node.size,
        None => 0,
    };
    let off_t_max = i64::MAX as u64;
    assert!(
        meta.size <= size && meta.size <= off_t_max,
        "size {size} shown as {}",
        meta.size
    );
    if size <= off_t_max {
        assert_eq!(meta.size, size);
    }
    assert_eq!(meta.blocks, meta.size.div_ceil(512));
    assert!(meta.nlink >= 1);
    if node.links == 0 {
        assert_eq!(meta.nlink, if meta.kind == FileKind::Dir { 2 } else { 1 });
    }
    let devices = [FileKind::BlockDevice, FileKind::CharDevice];
    let rdev = if devices.contains(&node.kind) {
        node.device
    } else {
        0
    };
    assert_eq!(meta.rdev, rdev);
    match meta.link_id {
        Some(id) => {
            assert!(meta.kind != FileKind::Dir && meta.nlink > 1 && node.inode != 0);
            assert_eq!(id, LinkId::from((node.device_id, node.inode)));
        }
        None => assert!(meta.kind == FileKind::Dir || meta.nlink <= 1 || node.inode == 0),
    }
    assert_eq!(
        FileKind::from_mode(meta.kind.format_bits()),
        Some(meta.kind)
    );
    let _ = file_info(1, &meta, name, true);

    meta
}

fn check_tree(json: &[u8]) {
    // How genmount decodes a tree blob of a local repository (never panicking, whatever it holds).
    let Ok(nodes) = treejson::decode(json, &TreeId::default()) else {
        return;
    };
    // As genmount's listing names and converts each node.
    let raw: Vec<(Vec<u8>, Meta)> = nodes
        .iter()
        .map(|(name, node)| (name.clone(), check_node(node, name)))
        .collect();
    let impossible = raw
        .iter()
        .filter(|(name, _)| names::safe_name(name).is_none())
        .count();
    let shown = names::safe_listing(raw.clone(), "fuzz");
    assert_eq!(shown.len(), raw.len() - impossible);
    assert!(shown.iter().all(|(name, _)| names::is_plain(name)));
    // Where rustic_core reads the tree as well (it refuses more: unknown types, bad base64, times
    // beyond jiff's range), both read the same nodes.
    if let Ok(tree) = serde_json::from_slice::<Tree>(json) {
        let theirs: Vec<(Vec<u8>, Stored)> =
            tree.nodes.into_iter().map(Stored::of_rustic).collect();
        assert_eq!(
            nodes, theirs,
            "genmount and rustic_core read this tree differently"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        // Raw bytes as a tree blob: what a damaged or hostile repository could hold.
        Some((mode, rest)) if mode & 1 == 0 => check_tree(rest),
        // Valid JSON with arbitrary values, to get past the parser to genmount's conversion.
        Some((_, rest)) => {
            if let Ok(json) = tree_json(&mut Unstructured::new(rest)) {
                check_tree(&json);
            }
        }
        None => {}
    }
});
