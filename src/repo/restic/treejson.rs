//! A restic tree's JSON decoded straight into `Stored` nodes. rustic's `Node` is decoded through
//! serde's buffered `flatten`, with a `String` for every text and jiff parsing every time: at 300,000
//! entries that was most of a `find`'s CPU. Here strings are borrowed from the blob, ids and times are
//! parsed by hand (jiff only for a time in another shape), and fields genmount does not show (owner
//! names, generic attributes) are skipped unread.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use rustic_core::repofile::Node as ResticNode;
use rustic_core::{DataId, Id, TreeId};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::node::{self, NamedNodes, Stored};
use crate::meta::{FileKind, Timestamp};
use crate::repo::hexid::hex32;

/// The nodes of a tree blob's plaintext, each with its name as raw bytes. Nodes of a type genmount
/// does not know are left out, with a warning naming them (`tree` names the tree).
pub fn decode(json: &[u8], tree: &TreeId) -> Result<NamedNodes, String> {
    let raw: RawTree<'_> = serde_json::from_slice(json).map_err(|e| format!("tree JSON: {e}"))?;
    let mut nodes = Vec::with_capacity(raw.nodes.len());
    for raw in raw.nodes {
        let name = unescape(&raw.name);
        match raw.stored() {
            Some(stored) => nodes.push((name, stored)),
            None => tracing::warn!(
                "tree {tree}: {:?} is of a type genmount does not know ({:?}): not shown",
                String::from_utf8_lossy(&name),
                raw.kind
            ),
        }
    }
    Ok(nodes)
}

#[derive(Deserialize)]
struct RawTree<'a> {
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    nodes: Vec<RawNode<'a>>,
}

/// One node as restic writes it. Absent numbers are zero, as in restic's Go structs.
#[derive(Deserialize)]
struct RawNode<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    mode: Option<u32>,
    #[serde(default, borrow)]
    mtime: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    atime: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    ctime: Option<Cow<'a, str>>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    gid: Option<u32>,
    #[serde(default)]
    inode: u64,
    #[serde(default)]
    device_id: u64,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    links: u64,
    #[serde(default)]
    device: u64,
    #[serde(default, borrow)]
    linktarget: Option<Cow<'a, str>>,
    /// A target that is not UTF-8, base64-encoded.
    #[serde(default, borrow)]
    linktarget_raw: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "null_as_empty")]
    extended_attributes: Vec<RawXattr<'a>>,
    #[serde(default)]
    content: Option<Vec<HexId>>,
    #[serde(default)]
    subtree: Option<HexId>,
}

#[derive(Deserialize)]
struct RawXattr<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    /// Base64; restic writes null for an empty value.
    #[serde(default, borrow)]
    value: Option<Cow<'a, str>>,
}

impl RawNode<'_> {
    fn stored(&self) -> Option<Stored> {
        let kind = match &*self.kind {
            "file" => FileKind::File,
            "dir" => FileKind::Dir,
            "symlink" => FileKind::Symlink,
            "dev" => FileKind::BlockDevice,
            "chardev" => FileKind::CharDevice,
            "fifo" => FileKind::Fifo,
            "socket" => FileKind::Socket,
            _ => return None,
        };
        let link_target = (kind == FileKind::Symlink).then(|| self.link_target());
        Some(Stored {
            kind,
            mode: self.mode,
            atime: self.atime.as_deref().and_then(parse_time),
            mtime: self.mtime.as_deref().and_then(parse_time),
            ctime: self.ctime.as_deref().and_then(parse_time),
            uid: self.uid,
            gid: self.gid,
            inode: self.inode,
            device_id: self.device_id,
            size: self.size,
            links: self.links,
            // As rustic keeps it: only a device node has one.
            device: match kind {
                FileKind::BlockDevice | FileKind::CharDevice => self.device,
                _ => 0,
            },
            link_target,
            xattrs: self
                .extended_attributes
                .iter()
                .map(|x| {
                    (
                        x.name.as_bytes().to_vec(),
                        unbase64(x.value.as_deref()).unwrap_or_default(),
                    )
                })
                .collect(),
            content: self
                .content
                .as_ref()
                .map(|ids| ids.iter().map(|id| DataId::from(Id::new(id.0))).collect()),
            subtree: self.subtree.as_ref().map(|id| TreeId::from(Id::new(id.0))),
        })
    }

    /// The raw target where restic kept one (a target that is not UTF-8), else the text.
    fn link_target(&self) -> Vec<u8> {
        unbase64(self.linktarget_raw.as_deref())
            .unwrap_or_else(|| self.linktarget.as_deref().unwrap_or("").as_bytes().to_vec())
    }
}

/// The bytes of a base64 value, if there is one and it decodes.
fn unbase64(value: Option<&str>) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(value?)
        .ok()
}

/// A list that restic may write as `null`.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A name as raw bytes. restic quotes names that are not UTF-8 (and their backslashes) as Go's
/// `strconv.Quote` does; rustic's `Node::name` undoes that, so the rare quoted name goes through it.
fn unescape(name: &str) -> Vec<u8> {
    if !name.contains('\\') {
        return name.as_bytes().to_vec();
    }
    let node = ResticNode {
        name: name.to_owned(),
        ..ResticNode::default()
    };
    node.name().as_encoded_bytes().to_vec()
}

/// A 32-byte id written as 64 hex digits.
struct HexId([u8; 32]);

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HexId, D::Error> {
        deserializer.deserialize_str(HexIdVisitor)
    }
}

struct HexIdVisitor;

impl Visitor<'_> for HexIdVisitor {
    type Value = HexId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id of 64 hex digits")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<HexId, E> {
        hex32(text.as_bytes())
            .map(HexId)
            .ok_or_else(|| E::custom(format!("{text:?} is not an id")))
    }
}

/// A time as restic writes it (Go's RFC 3339 with nanoseconds); any other shape through jiff. A
/// time neither can read is left out, as if restic had not stored it.
fn parse_time(text: &str) -> Option<Timestamp> {
    rfc3339(text.as_bytes()).or_else(|| {
        let parsed: jiff::Timestamp = text.parse().ok()?;
        Some(node::timestamp(&parsed))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, exactly.
fn rfc3339(text: &[u8]) -> Option<Timestamp> {
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = text.get(from..from + len)?;
        digits.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators
        .iter()
        .any(|(at, sep)| text.get(*at) != Some(sep))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value = number(20, digits)?;
        nanos = value * 10i64.pow(9 - digits as u32);
        rest = fraction.get(digits..)?;
    }
    let offset = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let day_seconds = hour * 3600 + minute * 60 + second;
    let secs = days_from_civil(year, month, day) * 86_400 + day_seconds - offset;
    Some(Timestamp::new(secs, nanos))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
#[path = "treejson_tests.rs"]
mod tests;
