//! Byte names through the Windows name mapping (`win::names`, `win::listing`, link targets): what
//! is shown holds no character Windows forbids, no device name, and maps back to the original name.
#![no_main]

use std::collections::HashSet;

use genmount::names::is_plain;
use genmount::win::listing::{find, fold, windows_listing};
use genmount::win::names::{FORBIDDEN, RESERVED, from_windows, to_windows};
use genmount::win::path::windows_link_target;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// One name: arbitrary bytes, or one built of the pieces the mapping treats specially, which random
/// bytes rarely hit: device names in any case, forbidden and control characters, trailing dots and
/// spaces, bytes that are not UTF-8, and characters of the private use area the mapping uses.
fn name(u: &mut Unstructured) -> Result<Vec<u8>> {
    if u.arbitrary()? {
        return u.arbitrary();
    }
    let mut name = Vec::new();
    for _ in 0..u.int_in_range(1u8..=5)? {
        let piece: Vec<u8> = match u.int_in_range(0u8..=6)? {
            0 => {
                let device = u.choose(&RESERVED)?;
                device
                    .bytes()
                    .map(|b| {
                        if u.arbitrary().unwrap_or(false) {
                            b.to_ascii_lowercase()
                        } else {
                            b
                        }
                    })
                    .collect()
            }
            1 => vec![*u.choose(b"<>:\"\\|?*\x01\x1f\t\n")?],
            2 => vec![*u.choose(b". ")?],
            3 => vec![*u.choose(&[0x80u8, 0xc3, 0xe2, 0xed, 0xf0, 0xfe, 0xff])?],
            4 => char::from_u32(u.int_in_range(0xEFF0u32..=0xF210)?)
                .unwrap_or('x')
                .to_string()
                .into_bytes(),
            5 => u
                .choose(&["txt", "tar.gz", "a", "ß", "İ", "é"])?
                .as_bytes()
                .to_vec(),
            _ => u.arbitrary::<String>()?.into_bytes(),
        };
        name.extend_from_slice(&piece);
    }
    Ok(name)
}

/// Whether a name holds a character of the private use area range the mapping writes, which the
/// module documents as not reversible.
fn holds_escapes(raw: &[u8]) -> bool {
    raw.utf8_chunks().any(|chunk| {
        chunk
            .valid()
            .chars()
            .any(|c| (0xF000..=0xF1FF).contains(&(c as u32)))
    })
}

/// What Windows cannot hold in one name, or `None`.
fn problem(shown: &str) -> Option<&'static str> {
    if let Some(c) = shown
        .chars()
        .find(|&c| (c as u32) < 0x20 || FORBIDDEN.contains(c))
    {
        return Some(if (c as u32) < 0x20 {
            "a control character"
        } else {
            "a forbidden character"
        });
    }
    if shown.ends_with('.') || shown.ends_with(' ') {
        return Some("a trailing dot or space");
    }
    let stem = shown.split('.').next().unwrap_or_default();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Some("a device name");
    }
    None
}

fn check(raw: &[u8]) -> String {
    let shown = to_windows(raw);
    assert_eq!(shown, to_windows(raw), "to_windows is not deterministic");
    if let Some(problem) = problem(&shown) {
        panic!("{raw:?} shown as {shown:?}, which holds {problem}");
    }
    assert_eq!(
        shown.contains('/'),
        raw.contains(&b'/'),
        "{raw:?} shown as {shown:?}"
    );
    if !holds_escapes(raw) {
        assert_eq!(
            from_windows(&shown),
            raw,
            "{raw:?} shown as {shown:?} does not map back"
        );
    }
    if let Ok(text) = std::str::from_utf8(raw)
        && problem(text).is_none()
        && !holds_escapes(raw)
    {
        assert_eq!(shown, text, "a name Windows can hold was changed");
    }
    shown
}

fuzz_target!(|data: &[u8]| {
    // Any text is a name Windows may ask for.
    let _ = from_windows(&String::from_utf8_lossy(data));

    let mut u = Unstructured::new(data);
    let mut raws = Vec::new();
    while !u.is_empty() && raws.len() < 64 {
        let Ok(raw) = name(&mut u) else { return };
        check(&raw);
        raws.push(raw);
    }

    // A directory: names unique ignoring case, each raw name reachable by the name shown.
    // The names a listing holds are plain already (`names::safe_listing`).
    let listing: Vec<Vec<u8>> = raws.iter().filter(|raw| is_plain(raw)).cloned().collect();
    let entries = windows_listing(&listing);
    assert_eq!(entries.len(), listing.len());
    let mut folded = HashSet::new();
    for (entry, raw) in entries.iter().zip(&listing) {
        assert_eq!(&entry.raw, raw);
        assert!(
            folded.insert(fold(&entry.shown)),
            "{:?} shown twice ignoring case",
            entry.shown
        );
        if let Some(problem) = problem(&entry.shown) {
            panic!("{raw:?} listed as {:?}, which holds {problem}", entry.shown);
        }
        let found = find(&entries, &entry.shown).map(|e| &e.raw);
        assert_eq!(found, Some(raw), "{:?} finds another entry", entry.shown);
    }

    // Symlink targets: each component mapped like a name, joined by '\'.
    let target = raws.join(&b'/');
    let (shown, relative) = windows_link_target(&target);
    assert_eq!(relative, target.first() != Some(&b'/'));
    let parts: Vec<&str> = shown.split('\\').skip(usize::from(!relative)).collect();
    let components: Vec<&[u8]> = target
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    if !components.is_empty() {
        assert_eq!(
            parts.len(),
            components.len(),
            "{target:?} shown as {shown:?}"
        );
    }
    for (part, component) in parts.iter().zip(&components) {
        if *part != "."
            && *part != ".."
            && let Some(problem) = problem(part)
        {
            panic!("{target:?} shown as {shown:?}, whose {part:?} holds {problem}");
        }
        if !holds_escapes(component) {
            assert_eq!(
                from_windows(part),
                *component,
                "{target:?} shown as {shown:?}"
            );
        }
    }
});
