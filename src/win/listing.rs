//! A directory as Windows sees it: names mapped by `names`, made unique without regard to case
//! (`Readme` and `README` are one name on Windows), and looked up case-insensitively.

use std::collections::HashSet;

use super::names::to_windows;

/// One entry: the name Windows shows and the name in the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinEntry {
    pub shown: String,
    pub raw: Vec<u8>,
}

/// Case folding for comparisons, as close to NTFS's upcase table as Unicode's simple mapping gets.
pub fn fold(name: &str) -> String {
    name.chars().flat_map(char::to_uppercase).collect()
}

/// The entries of a directory, in the order given: each name mapped for Windows, and every name that
/// an earlier entry already holds (ignoring case) given a visible suffix ` (2)`, ` (3)`… before its
/// extension, so that both stay reachable. The first entry keeps its name, so the result is stable.
pub fn windows_listing(raw_names: &[Vec<u8>]) -> Vec<WinEntry> {
    let mut taken: HashSet<String> = HashSet::with_capacity(raw_names.len());
    let mapped: Vec<String> = raw_names.iter().map(|raw| to_windows(raw)).collect();
    let own: HashSet<String> = mapped.iter().map(|m| fold(m)).collect();
    let mut out = Vec::with_capacity(raw_names.len());
    for (raw, shown) in raw_names.iter().zip(mapped) {
        let shown = if taken.contains(&fold(&shown)) {
            suffixed(&shown, &taken, &own)
        } else {
            shown
        };
        taken.insert(fold(&shown));
        out.push(WinEntry {
            shown,
            raw: raw.clone(),
        });
    }
    out
}

/// `name (n).ext` for the first n ≥ 2 that no entry holds or will hold.
fn suffixed(name: &str, taken: &HashSet<String>, own: &HashSet<String>) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    (2u32..)
        .map(|n| format!("{stem} ({n}){ext}"))
        .find(|candidate| {
            let folded = fold(candidate);
            !taken.contains(&folded) && !own.contains(&folded)
        })
        .unwrap_or_else(|| name.to_string())
}

/// The entry Windows means by `name`: the exact name if there is one, else the one that matches
/// ignoring case.
pub fn find<'a>(entries: &'a [WinEntry], name: &str) -> Option<&'a WinEntry> {
    entries.iter().find(|e| e.shown == name).or_else(|| {
        let folded = fold(name);
        entries.iter().find(|e| fold(&e.shown) == folded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn case_collisions_get_a_visible_suffix() {
        let listing = windows_listing(&names(&[
            "README",
            "Readme",
            "readme",
            "readme.txt",
            "README.TXT",
        ]));
        let shown: Vec<&str> = listing.iter().map(|e| e.shown.as_str()).collect();
        assert_eq!(
            shown,
            [
                "README",
                "Readme (2)",
                "readme (3)",
                "readme.txt",
                "README (2).TXT"
            ]
        );
        assert_eq!(listing[1].raw, b"Readme");
    }

    #[test]
    fn a_suffix_never_takes_a_real_name() {
        let listing = windows_listing(&names(&["a", "A", "a (2)"]));
        let shown: Vec<&str> = listing.iter().map(|e| e.shown.as_str()).collect();
        assert_eq!(shown, ["a", "A (3)", "a (2)"]);
    }

    #[test]
    fn lookups_prefer_the_exact_name_then_ignore_case() {
        let listing = windows_listing(&names(&["README", "Readme", "other"]));
        assert_eq!(
            find(&listing, "Readme (2)").map(|e| e.raw.clone()),
            Some(b"Readme".to_vec())
        );
        assert_eq!(
            find(&listing, "readme").map(|e| e.raw.clone()),
            Some(b"README".to_vec())
        );
        assert_eq!(
            find(&listing, "OTHER").map(|e| e.raw.clone()),
            Some(b"other".to_vec())
        );
        assert_eq!(find(&listing, "missing"), None);
    }
}
