//! The damage log: a repository failure is logged once per damaged object, however often the kernel
//! asks for it again, and turned into the error the caller sees; and the list of what was served
//! as zeros in place of lost data (`.damaged`).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Mutex;

use crate::error::{RepoError, VfsError};

/// Damaged objects are each logged once; beyond this many the log would only repeat itself.
const MAX_DAMAGED_LOGGED: usize = 10_000;

#[derive(Default)]
pub struct DamageLog {
    seen: Mutex<HashSet<String>>,
}

impl DamageLog {
    /// Logs `err` (met while doing `what`) if it is the first report of that damage. Damage comes
    /// back with what it was about; a missing node does not (negative lookups are common and cheap).
    pub fn fail(&self, err: RepoError, what: &str) -> VfsError {
        if let RepoError::Damaged(msg) = &err {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() < MAX_DAMAGED_LOGGED && seen.insert(msg.clone()) {
                tracing::warn!(what, "damaged: {msg}");
            }
            return VfsError::from(err).about(what);
        }
        err.into()
    }
}

/// Distinct ranges kept in `.damaged`; beyond this many the list says only how many were left out.
const MAX_ZERO_RANGES: usize = 100_000;

/// What `--allow-damaged` served as zeros since the mount started: by mount-relative path (shown
/// escaped), the byte ranges, merged where they meet.
#[derive(Default)]
pub struct ZeroLog {
    served: Mutex<Served>,
}

#[derive(Default)]
struct Served {
    by_path: std::collections::BTreeMap<String, Vec<Range<u64>>>,
    ranges: usize,
    left_out: u64,
}

impl ZeroLog {
    /// Records that `ranges` of the file at `path` were served as zeros.
    pub fn note(&self, path: &[u8], ranges: &[Range<u64>]) {
        let mut served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        if served.ranges >= MAX_ZERO_RANGES {
            served.left_out = served.left_out.saturating_add(ranges.len() as u64);
            return;
        }
        let known = served.by_path.entry(escape(path)).or_default();
        let before = known.len();
        for range in ranges.iter().filter(|r| !r.is_empty()) {
            merge(known, range.clone());
        }
        let after = known.len();
        if after == 0 {
            served.by_path.remove(&escape(path));
        }
        served.ranges = served.ranges.saturating_sub(before) + after;
    }

    /// What `.damaged` holds: a line `PATH<TAB>OFFSET<TAB>LENGTH` per range served as zeros.
    pub fn text(&self) -> Vec<u8> {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::new();
        for (path, ranges) in &served.by_path {
            for range in ranges {
                text.push_str(&format!(
                    "{path}\t{}\t{}\n",
                    range.start,
                    range.end - range.start
                ));
            }
        }
        text.into_bytes()
    }

    /// One line for the log at unmount, if anything was served as zeros.
    pub fn summary(&self) -> Option<String> {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let files = served.by_path.len();
        if files == 0 {
            return None;
        }
        let bytes: u64 = served
            .by_path
            .values()
            .flatten()
            .map(|r| r.end - r.start)
            .sum();
        let first: Vec<&str> = served.by_path.keys().take(3).map(String::as_str).collect();
        let more = if files > first.len() { ", …" } else { "" };
        let left_out = match served.left_out {
            0 => String::new(),
            n => format!("; {n} more ranges were not listed"),
        };
        Some(format!(
            "{files} file(s) were served with zeros in place of lost data ({bytes} bytes, \
             --allow-damaged): {}{more}; restored copies of them are not what was backed up \
             (the mount's .damaged listed each range{left_out})",
            first.join(", ")
        ))
    }
}

/// Adds `new` to sorted, disjoint `ranges`, merging it with those it overlaps or touches.
fn merge(ranges: &mut Vec<Range<u64>>, new: Range<u64>) {
    let mut merged = new;
    ranges.retain(|r| {
        let apart = r.end < merged.start || merged.end < r.start;
        if !apart {
            merged = merged.start.min(r.start)..merged.end.max(r.end);
        }
        apart
    });
    let at = ranges.partition_point(|r| r.start < merged.start);
    ranges.insert(at, merged);
}

/// A path as one line of text: `\` and control characters escaped, bytes that are not UTF-8 as
/// `\xNN`, so that a name holding a newline or a tab cannot split or shift a line.
fn escape(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_where_they_meet() {
        let log = ZeroLog::default();
        log.note(b"gen/a", &[100..200, 0..50]);
        log.note(b"gen/a", &[50..100, 300..400]);
        log.note(b"gen/new\nline\t\xff", &[0..1, 1..1]);
        assert_eq!(
            String::from_utf8_lossy(&log.text()),
            "gen/a\t0\t200\ngen/a\t300\t100\ngen/new\\nline\\t\\xff\t0\t1\n"
        );
        assert!(log.summary().is_some_and(|s| s.starts_with("2 file(s)")));
        assert_eq!(ZeroLog::default().summary(), None);
    }
}
