//! The manifest and the archives it lists: archives become generations (oldest first, checkpoints
//! marked), and each archive's metadata gives the ids of its item stream. TAMs are verified.

use std::sync::Arc;

use rmpv::Value;

use super::config::hex;
use super::crypto;
use super::msgpack;
use super::store::Store;
use crate::meta::Timestamp;
use crate::repo::Generation;

/// An archive as the manifest lists it.
#[derive(Debug, Clone)]
pub struct ArchiveRef {
    pub name: String,
    pub id: [u8; 32],
    pub time: Timestamp,
}

/// The archives of the manifest whose names `keep` accepts, oldest first.
pub fn read_manifest(
    store: &Store,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<ArchiveRef>, String> {
    let packed = store.manifest().map_err(|e| format!("manifest: {e}"))?;
    let manifest = msgpack::decode_whole(&packed, "manifest")?;
    if msgpack::get_i64(&manifest, "version") != Some(1) {
        return Err("manifest: unsupported version".into());
    }
    check_tam(
        store,
        &manifest,
        &packed,
        "manifest",
        store.key.tam_required,
    )?;
    let Some(Value::Map(archives)) = msgpack::get(&manifest, "archives") else {
        return Err("manifest: no archive list".into());
    };
    let mut found: Vec<ArchiveRef> = archives
        .iter()
        .filter_map(|(name, info)| {
            let name = String::from_utf8_lossy(msgpack::bytes(name)?).into_owned();
            if !keep(&name) {
                return None;
            }
            let id = msgpack::get_array::<32>(info, "id")?;
            let time = msgpack::get_bytes(info, "time")
                .and_then(parse_time)
                .unwrap_or_default();
            Some(ArchiveRef { name, id, time })
        })
        .collect();
    found.sort_by(|a, b| (a.time, &a.name).cmp(&(b.time, &b.name)));
    unique_names(&mut found);
    Ok(found)
}

/// Archive names as generation names: borg refuses `/` in them, so one here is a damaged or
/// hostile manifest's and is shown as `_` (a `/` would nest generations); two archives that come
/// out with one name (duplicate keys, names that are not UTF-8) get `~2`, `~3` suffixes.
fn unique_names(archives: &mut [ArchiveRef]) {
    let mut seen = std::collections::HashSet::new();
    for archive in archives.iter_mut() {
        let base = archive.name.replace('/', "_");
        let mut name = base.clone();
        let mut n = 1;
        while !seen.insert(name.clone()) {
            n += 1;
            name = format!("{base}~{n}");
        }
        archive.name = name;
    }
}

/// Verifies the TAM of metadata `value` (packed as `packed`) where it carries one; a missing
/// one is refused only when `required`.
fn check_tam(
    store: &Store,
    value: &Value,
    packed: &[u8],
    context: &str,
    required: bool,
) -> Result<(), String> {
    let Some(tam) = msgpack::get(value, "tam") else {
        return if required {
            Err(format!(
                "{context} has no authentication tag (TAM), which this repository requires"
            ))
        } else {
            Ok(())
        };
    };
    if msgpack::get_bytes(tam, "type") != Some(b"HKDF_HMAC_SHA512") {
        return Err(format!("{context}: unsupported authentication type"));
    }
    let hmac = msgpack::get_bytes(tam, "hmac").ok_or(format!("{context}: TAM without hmac"))?;
    let salt = msgpack::get_bytes(tam, "salt").ok_or(format!("{context}: TAM without salt"))?;
    crypto::verify_tam(&store.key, packed, hmac, salt, context)?;
    tracing::debug!(context, "authentication tag (TAM) verified");
    Ok(())
}

/// Borg's archive times: `2026-12-03T18:30:00.123456`, UTC without a zone.
pub fn parse_time(raw: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(raw).ok()?;
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    let ts = civil.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(Timestamp::new(
        ts.as_second(),
        i64::from(ts.subsec_nanosecond()),
    ))
}

/// `.checkpoint` and `.checkpoint.N` archives are what an interrupted `borg create` leaves.
pub fn is_checkpoint(name: &str) -> bool {
    match name.rsplit_once(".checkpoint") {
        Some((_, "")) => true,
        Some((_, rest)) => rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// What an archive's metadata says about it beyond the manifest (borg 1.2 records all of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveInfo {
    pub host: Option<String>,
    pub end: Option<Timestamp>,
    pub files: Option<u64>,
    pub size: Option<u64>,
}

/// The archive's host, end time, file count and original size, from its metadata object
/// `opened` (the result of fetching and opening it).
pub fn info(
    store: &Store,
    archive: &ArchiveRef,
    opened: Result<Vec<u8>, String>,
) -> Result<ArchiveInfo, String> {
    let meta = metadata(store, archive, opened)?;
    Ok(ArchiveInfo {
        host: msgpack::get_bytes(&meta, "hostname")
            .map(|h| String::from_utf8_lossy(h).into_owned()),
        end: msgpack::get_bytes(&meta, "time_end").and_then(parse_time),
        files: msgpack::get_u64(&meta, "nfiles"),
        size: msgpack::get_u64(&meta, "size"),
    })
}

/// The archives as generations, oldest first, with what their metadata told where it was read.
pub fn generations(
    archives: &[ArchiveRef],
    info: &dyn Fn(&ArchiveRef) -> ArchiveInfo,
) -> Arc<[Generation]> {
    archives
        .iter()
        .map(|a| {
            let info = info(a);
            Generation {
                name: a.name.clone(),
                id: hex(&a.id),
                end: info.end.unwrap_or(a.time),
                checkpoint: is_checkpoint(&a.name),
                size: info.size,
                files: info.files,
                host: info.host,
                paths: Vec::new(),
                tags: Vec::new(),
            }
        })
        .collect()
}

/// An archive's metadata from its opened object, after its TAM is verified if it has one.
fn metadata(
    store: &Store,
    archive: &ArchiveRef,
    opened: Result<Vec<u8>, String>,
) -> Result<Value, String> {
    let what = format!("archive {}", archive.name);
    let packed = opened.map_err(|e| format!("{what}: {e}"))?;
    let meta = msgpack::decode_whole(&packed, &what)?;
    // Archive TAMs came with borg 1.2.4's fix; older archives have none, and borg reads them still.
    check_tam(store, &meta, &packed, "archive", false).map_err(|e| format!("{what}: {e}"))?;
    Ok(meta)
}

/// The ids of an archive's item stream.
pub fn item_ids(store: &Store, archive: &ArchiveRef) -> Result<Vec<[u8; 32]>, String> {
    let what = format!("archive {}", archive.name);
    let meta = metadata(store, archive, store.get(&archive.id))?;
    let Some(Value::Array(items)) = msgpack::get(&meta, "items") else {
        return Err(format!("{what}: no item list"));
    };
    items
        .iter()
        .map(|id| {
            msgpack::bytes(id)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("{what}: an item chunk id is not 32 bytes"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names() {
        assert!(is_checkpoint("host-2026.checkpoint"));
        assert!(is_checkpoint("a.checkpoint.12"));
        assert!(!is_checkpoint("a.checkpoint.x"));
        assert!(!is_checkpoint("a.checkpointed"));
        assert!(!is_checkpoint("daily"));
    }

    #[test]
    fn archive_times_are_utc() {
        assert_eq!(
            parse_time(b"2026-11-24T17:30:56.500000"),
            Some(Timestamp::new(1_795_541_456, 500_000_000))
        );
        assert_eq!(parse_time(b"yesterday"), None);
    }

    #[test]
    fn archive_names_are_made_unique_and_flat() {
        let named = |name: &str| ArchiveRef {
            name: name.into(),
            id: [0; 32],
            time: Timestamp::EPOCH,
        };
        let mut archives = vec![
            named("a"),
            named("a"),
            named("x/y"),
            named("x_y"),
            named("a~2"),
        ];
        unique_names(&mut archives);
        let names: Vec<&str> = archives.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a", "a~2", "x_y", "x_y~2", "a~2~2"]);
    }
}
