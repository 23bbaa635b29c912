//! Turns names found inside a backup into names that are safe to show in one directory of the mount.
//! `""`, `.` and `..` are dropped; `/` and NUL are replaced; long names are shortened; repeats get a suffix.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

/// The longest name any of genmount's target systems accepts, in bytes.
pub const NAME_MAX: usize = 255;

/// What a raw name must become to be shown, or `None` when it cannot be shown at all.
pub fn safe_name(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || raw == b"." || raw == b".." {
        return None;
    }
    let mut name: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'/' || b == 0 { b'_' } else { b })
        .collect();
    if name.len() > NAME_MAX {
        let tag = format!("~{:016x}", digest(raw));
        name.truncate(NAME_MAX - tag.len());
        name.extend_from_slice(tag.as_bytes());
    }
    Some(name)
}

/// Whether a name can be used as it is: the kernel never sends any other kind to `lookup`.
pub fn is_plain(name: &[u8]) -> bool {
    safe_name(name).as_deref() == Some(name)
}

/// The entries of one directory with every name made safe and unique; order is kept, and the
/// first of two entries that end up with one name keeps it, so the result is deterministic.
pub fn safe_listing<T>(entries: Vec<(Vec<u8>, T)>, dir: &str) -> Vec<(Vec<u8>, T)> {
    if entries.iter().all(|(name, _)| is_plain(name)) && unique(&entries) {
        return entries;
    }
    let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(entries.len());
    // The next suffix to try for each repeated name, so that many repeats stay linear.
    let mut next_suffix: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for (raw, value) in entries {
        let Some(mut name) = safe_name(&raw) else {
            tracing::warn!(dir, name = %String::from_utf8_lossy(&raw), "entry with an impossible name skipped");
            continue;
        };
        if seen.contains(&name) {
            let start = next_suffix.entry(name.clone()).or_insert(2);
            let (variant, used) = unique_variant(&name, &seen, *start);
            *start = used + 1;
            name = variant;
        }
        if name != raw {
            tracing::warn!(dir, name = %String::from_utf8_lossy(&raw), shown = %String::from_utf8_lossy(&name), "entry renamed");
        }
        seen.insert(name.clone());
        out.push((name, value));
    }
    out
}

fn unique<T>(entries: &[(Vec<u8>, T)]) -> bool {
    let mut seen = HashSet::with_capacity(entries.len());
    entries.iter().all(|(name, _)| seen.insert(name.as_slice()))
}

/// `name~N` (shortened to fit) for the first N from `start` that is still free, and that N.
fn unique_variant(name: &[u8], seen: &HashSet<Vec<u8>>, start: u64) -> (Vec<u8>, u64) {
    (start..)
        .map(|n| {
            let tag = format!("~{n}");
            let mut candidate = name.to_vec();
            candidate.truncate(NAME_MAX - tag.len());
            candidate.extend_from_slice(tag.as_bytes());
            (candidate, n)
        })
        .find(|(candidate, _)| !seen.contains(candidate))
        .unwrap_or_default()
}

fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_names_are_dropped() {
        assert_eq!(safe_name(b""), None);
        assert_eq!(safe_name(b"."), None);
        assert_eq!(safe_name(b".."), None);
    }

    #[test]
    fn separators_and_nul_are_replaced() {
        assert_eq!(
            safe_name(b"../etc/passwd").as_deref(),
            Some(&b".._etc_passwd"[..])
        );
        assert_eq!(safe_name(b"a\0b").as_deref(), Some(&b"a_b"[..]));
        assert_eq!(safe_name(b"...").as_deref(), Some(&b"..."[..]));
    }

    #[test]
    fn long_names_are_shortened_deterministically() {
        let long = vec![b'x'; 300];
        let one = safe_name(&long).unwrap_or_default();
        assert_eq!(one.len(), NAME_MAX);
        assert_eq!(safe_name(&long), Some(one.clone()));
        let mut other = long.clone();
        other[299] = b'y';
        assert_ne!(safe_name(&other), Some(one));
    }

    #[test]
    fn listing_dedupes_in_order() {
        let entries = vec![
            (b"a/b".to_vec(), 1),
            (b"a_b".to_vec(), 2),
            (b"..".to_vec(), 3),
            (b"a_b".to_vec(), 4),
            (b"c".to_vec(), 5),
        ];
        let out = safe_listing(entries, "test");
        let names: Vec<&[u8]> = out.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(names, vec![&b"a_b"[..], b"a_b~2", b"a_b~3", b"c"]);
        let values: Vec<i32> = out.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, vec![1, 2, 4, 5]);
    }

    #[test]
    fn many_repeats_stay_fast_and_distinct() {
        let entries: Vec<(Vec<u8>, usize)> = (0..50_000).map(|i| (b"same".to_vec(), i)).collect();
        let out = safe_listing(entries, "test");
        let distinct: HashSet<&Vec<u8>> = out.iter().map(|(n, _)| n).collect();
        assert_eq!(distinct.len(), 50_000);
        assert_eq!(out[49_999].0, b"same~50000");
    }

    #[test]
    fn plain_listing_is_untouched() {
        let entries = vec![(b"b".to_vec(), 1), (b"a".to_vec(), 2)];
        assert_eq!(safe_listing(entries.clone(), "t"), entries);
    }
}
