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
use crate::repo::naming::{self, SnapshotInfo};

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
    Ok(found)
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
    pub user: Option<String>,
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
        user: msgpack::get_bytes(&meta, "username")
            .map(|u| String::from_utf8_lossy(u).into_owned()),
        end: msgpack::get_bytes(&meta, "time_end").and_then(parse_time),
        files: msgpack::get_u64(&meta, "nfiles"),
        size: msgpack::get_u64(&meta, "size"),
    })
}

/// The archives as generations, oldest first, named by `template` (names made safe for every OS,
/// and unique: borg refuses `/` in a name, so one here is a damaged or hostile manifest's), with
/// what their metadata told where it was read.
pub fn generations(
    archives: &[ArchiveRef],
    template: &str,
    info: &dyn Fn(&ArchiveRef) -> ArchiveInfo,
) -> Arc<[Generation]> {
    let infos: Vec<ArchiveInfo> = archives.iter().map(info).collect();
    let named: Vec<SnapshotInfo> = archives
        .iter()
        .zip(&infos)
        .map(|(archive, info)| naming_info(archive, info))
        .collect();
    let names = naming::assign_names(template, &named);
    archives
        .iter()
        .zip(infos)
        .zip(names)
        .map(|((a, info), name)| Generation {
            name,
            id: hex(&a.id),
            end: info.end.unwrap_or(a.time),
            checkpoint: is_checkpoint(&a.name),
            size: info.size,
            files: info.files,
            host: info.host,
            paths: Vec::new(),
            tags: Vec::new(),
        })
        .collect()
}

/// What a name template can say of an archive; its time as `borg list` shows it, in local time.
fn naming_info(archive: &ArchiveRef, info: &ArchiveInfo) -> SnapshotInfo {
    let long_id = hex(&archive.id);
    let time = jiff::Timestamp::new(archive.time.secs, archive.time.nanos as i32)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime(naming::TIME_FORMAT)
                .to_string()
        })
        .unwrap_or_default();
    SnapshotInfo {
        name: archive.name.clone(),
        time,
        short_id: long_id.chars().take(8).collect(),
        long_id,
        host: info.host.clone().unwrap_or_default(),
        user: info.user.clone().unwrap_or_default(),
        ..SnapshotInfo::default()
    }
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
    fn archive_names_are_made_safe_and_unique() {
        let named = |name: &str, id: u8| ArchiveRef {
            name: name.into(),
            id: [id; 32],
            time: Timestamp::EPOCH,
        };
        let archives = [
            named("a", 1),
            named("a", 2),
            named("x/y", 3),
            named("x_y", 4),
            named("web-2026-12-04T04:14:38", 5),
            named(".hidden.checkpoint", 6),
        ];
        let shown = generations(&archives, naming::BORG_TEMPLATE, &|_| {
            ArchiveInfo::default()
        });
        let names: Vec<&str> = shown.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a_01010101",
                "a_02020202",
                "x_y_03030303",
                "x_y_04040404",
                "web-2026-12-04T04_14_38",
                "_hidden.checkpoint"
            ]
        );
        assert!(
            shown[5].checkpoint,
            "checkpoints are told by the archive's own name"
        );
    }
}
