//! Byte names through `names::safe_name` and `safe_listing`: every name shown is non-empty, not
//! `.`/`..`, without `/` or NUL, <= 255 bytes, unique and deterministic; only impossible ones drop.
#![no_main]

use std::collections::HashSet;

use genmount::names::{NAME_MAX, is_plain, safe_listing, safe_name};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// The names of one directory. Besides arbitrary bytes, the input can ask for repeats of earlier
/// names, names that look like the `~N` variants `safe_listing` makes, and names near `NAME_MAX`,
/// which random bytes rarely reach.
fn names_of(u: &mut Unstructured) -> Result<Vec<Vec<u8>>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    while !u.is_empty() && names.len() < 512 {
        let earlier = |u: &mut Unstructured, names: &[Vec<u8>]| -> Result<Vec<u8>> {
            Ok(if names.is_empty() {
                Vec::new()
            } else {
                names[u.choose_index(names.len())?].clone()
            })
        };
        let name = match u.int_in_range(0u8..=5)? {
            0 | 1 => u.arbitrary::<Vec<u8>>()?,
            2 => earlier(u, &names)?,
            3 => {
                let mut name = earlier(u, &names)?;
                name.extend_from_slice(format!("~{}", u.int_in_range(0u8..=12)?).as_bytes());
                name
            }
            4 => {
                let len = u.int_in_range(240usize..=300)?;
                let fill = u.arbitrary::<u8>()?;
                let mut name = vec![fill; len];
                let tail = u.arbitrary::<Vec<u8>>()?;
                let keep = len.saturating_sub(tail.len());
                name.truncate(keep);
                name.extend_from_slice(&tail);
                name
            }
            _ => {
                // An earlier name with a separator, NUL or dot in it: one that maps onto another.
                let mut name = earlier(u, &names)?;
                let at = u.int_in_range(0..=name.len())?;
                name.insert(at, *u.choose(b"/\0._~")?);
                name
            }
        };
        names.push(name);
    }
    Ok(names)
}

fn impossible(raw: &[u8]) -> bool {
    raw.is_empty() || raw == b"." || raw == b".."
}

fn check_name(name: &[u8]) {
    assert!(!name.is_empty(), "empty name");
    assert!(name != b"." && name != b"..", "{name:?} is a dot entry");
    assert!(!name.contains(&b'/'), "{name:?} holds '/'");
    assert!(!name.contains(&0), "{name:?} holds NUL");
    assert!(name.len() <= NAME_MAX, "{} bytes", name.len());
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(raws) = names_of(&mut u) else {
        return;
    };

    for raw in &raws {
        let safe = safe_name(raw);
        assert_eq!(safe, safe_name(raw), "safe_name is not deterministic");
        match safe {
            None => assert!(impossible(raw), "{raw:?} dropped"),
            Some(name) => {
                assert!(!impossible(raw), "{raw:?} shown as {name:?}");
                check_name(&name);
                assert!(is_plain(&name), "{name:?} (from {raw:?}) is not plain");
                assert_eq!(
                    is_plain(raw),
                    name == *raw,
                    "is_plain disagrees for {raw:?}"
                );
                if raw.len() <= NAME_MAX {
                    assert_eq!(name.len(), raw.len(), "{raw:?} changed length");
                } else {
                    assert_eq!(
                        name.len(),
                        NAME_MAX,
                        "long {raw:?} not shortened to NAME_MAX"
                    );
                }
            }
        }
    }

    // Values are the entries' positions, so order and identity can be checked.
    let entries: Vec<(Vec<u8>, usize)> = raws.iter().cloned().zip(0..).collect();
    let out = safe_listing(entries.clone(), "fuzz");
    assert_eq!(
        out,
        safe_listing(entries, "fuzz"),
        "safe_listing is not deterministic"
    );
    let possible = raws.iter().filter(|raw| !impossible(raw)).count();
    assert_eq!(out.len(), possible, "entries lost or invented");

    let mut seen = HashSet::new();
    let mut last = None;
    for (name, index) in &out {
        check_name(name);
        assert!(seen.insert(name.as_slice()), "{name:?} shown twice");
        assert!(last < Some(*index), "order not kept");
        last = Some(*index);
        // A name is what safe_name makes of its raw name, or that name shortened with `~N`, N >= 2.
        let wanted = safe_name(&raws[*index]).unwrap_or_default();
        if *name != wanted {
            let tilde = name.iter().rposition(|&b| b == b'~').unwrap_or(0);
            let n: u64 = std::str::from_utf8(&name[tilde + 1..])
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(n >= 2, "{name:?} is no variant of {wanted:?}");
            assert!(
                wanted.starts_with(&name[..tilde]),
                "{name:?} is no variant of {wanted:?}"
            );
        }
    }
    // A listing whose names are all plain and distinct is shown as it is.
    if raws.iter().all(|raw| is_plain(raw))
        && raws.iter().collect::<HashSet<_>>().len() == raws.len()
    {
        let shown: Vec<&[u8]> = out.iter().map(|(name, _)| name.as_slice()).collect();
        let given: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
        assert_eq!(shown, given, "plain listing changed");
    }
});
