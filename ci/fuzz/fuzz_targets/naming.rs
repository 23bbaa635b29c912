//! Generation name templates (`repo::naming`) and dates in generation names (`repo::datename`): no
//! template panics, accepted ones render safe names, and a `{time}` name's date reads back exactly.
#![no_main]

use genmount::repo::datename::date_in_name;
use genmount::repo::naming::{
    BORG_PLACEHOLDERS, RESTIC_PLACEHOLDERS, SnapshotInfo, TIME_FORMAT, assign_names,
    check_template, render,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Unsafe in a name on some OS; `render` must keep them out of every group.
const UNSAFE: &str = "\\:*?\"<>|";

/// A template: arbitrary text, or one built of placeholders, group separators and braces.
fn template(u: &mut Unstructured) -> Result<String> {
    if u.arbitrary()? {
        return u.arbitrary();
    }
    let mut template = String::new();
    for _ in 0..u.int_in_range(1u8..=8)? {
        template.push_str(u.choose(&[
            "{time}",
            "{name}",
            "{id}",
            "{long_id}",
            "{host}",
            "{user}",
            "{tags}",
            "{label}",
            "{nope}",
            "{",
            "}",
            "{}",
            "/",
            ".",
            "..",
            "\\",
            "_",
            "-",
            ":",
            "é",
            "{{time}",
            "{time}}",
        ])?);
    }
    Ok(template)
}

/// A value from a snapshot: often one that is not safe in a name.
fn value(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=2)? {
        0 => u
            .choose(&[
                "",
                ".",
                "..",
                "a/b",
                ".hidden",
                "c:\\x",
                "\u{0}\n\t",
                "{time}",
                "ü",
            ])?
            .to_string(),
        _ => u.arbitrary()?,
    })
}

fn info(u: &mut Unstructured) -> Result<SnapshotInfo> {
    let long_id: String = (0..64)
        .map(|_| *u.choose(b"0123456789abcdef").unwrap_or(&b'0') as char)
        .collect();
    Ok(SnapshotInfo {
        name: value(u)?,
        time: value(u)?,
        short_id: long_id[..8].to_string(),
        long_id,
        host: value(u)?,
        user: value(u)?,
        tags: (0..u.int_in_range(0u8..=3)?)
            .map(|_| value(u))
            .collect::<Result<_>>()?,
        label: value(u)?,
    })
}

fn check_rendered(template: &str, name: &str) {
    let groups: Vec<&str> = name.split('/').collect();
    assert_eq!(
        groups.len(),
        template.split('/').count(),
        "{template:?} rendered as {name:?}"
    );
    for group in groups {
        assert!(
            !group.is_empty(),
            "{template:?} rendered as {name:?}: an empty group"
        );
        assert!(
            !group.starts_with('.'),
            "{template:?} rendered as {name:?}: a dot group"
        );
        assert!(
            !group.chars().any(|c| c.is_control() || UNSAFE.contains(c)),
            "{template:?} rendered as {name:?}: an unsafe character"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(template) = template(&mut u) else {
        return;
    };
    let Ok(restic) = u.arbitrary::<bool>() else {
        return;
    };
    let known = if restic {
        RESTIC_PLACEHOLDERS
    } else {
        BORG_PLACEHOLDERS
    };
    let mut infos = Vec::new();
    while !u.is_empty() && infos.len() < 8 {
        let Ok(info) = info(&mut u) else { return };
        infos.push(info);
    }

    // Any template, checked or not, renders without panicking.
    let accepted = check_template(&template, known).is_ok();
    for info in &infos {
        let name = render(&template, info);
        if accepted {
            check_rendered(&template, &name);
        }
    }
    let names = assign_names(&template, &infos);
    assert_eq!(names.len(), infos.len());
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "two snapshots share a name: {names:?}"
    );

    // Any name may hold a date; a date found is a plausible one.
    for text in infos
        .iter()
        .map(|i| i.host.as_str())
        .chain([template.as_str()])
    {
        if let Some((year, month, day, hour, minute, second)) = date_in_name(text) {
            assert!((1900..=2999).contains(&year) && (1..=12).contains(&month));
            assert!((1..=31).contains(&day) && hour < 24 && minute < 60 && second < 61);
        }
    }

    // A `{time}` name, as the restic backend writes it, gives its date and time back exactly.
    let year = u.int_in_range(1900i16..=2999).unwrap_or(2026);
    let month = u.int_in_range(1i8..=12).unwrap_or(1);
    let day = u.int_in_range(1i8..=28).unwrap_or(1);
    let (hour, minute, second) = (
        u.int_in_range(0i8..=23).unwrap_or(0),
        u.int_in_range(0i8..=59).unwrap_or(0),
        u.int_in_range(0i8..=59).unwrap_or(0),
    );
    let Ok(time) = jiff::civil::DateTime::new(year, month, day, hour, minute, second, 0) else {
        return;
    };
    let info = SnapshotInfo {
        time: time.strftime(TIME_FORMAT).to_string(),
        ..Default::default()
    };
    let prefix = infos.first().map_or(String::new(), |i| i.label.clone());
    let expected = [
        year,
        month.into(),
        day.into(),
        hour.into(),
        minute.into(),
        second.into(),
    ];
    let expected = expected.map(|n| n as u32);
    let name = render("{time}", &info);
    let found = date_in_name(&name).map(|d| [d.0, d.1, d.2, d.3, d.4, d.5]);
    assert_eq!(found, Some(expected), "{name:?}");
    // After a prefix that holds no digit, as in `{host}_{time}`.
    if !prefix.chars().any(|c| c.is_ascii_digit()) {
        let name = format!("{prefix}_{name}");
        let found = date_in_name(&name).map(|d| [d.0, d.1, d.2, d.3, d.4, d.5]);
        assert_eq!(found, Some(expected), "{name:?}");
    }
});
