//! Directory names for generations (restic snapshots, borg archives), from a template such as `{time}`
//! or `{host}/{time}` (a `/` groups): values are made safe on every OS (no `/ \ : * ? " < > |`, no
//! control characters), repeats get the short id.

use std::collections::{HashMap, HashSet};

/// restic's default template: the snapshot's time, safe on Windows (no `:`).
pub const DEFAULT_TEMPLATE: &str = "{time}";
/// borg's default template: the archive's own name (borg archives are named by their users).
pub const BORG_TEMPLATE: &str = "{name}";
/// What a template may name for a restic snapshot.
pub const RESTIC_PLACEHOLDERS: &[&str] =
    &["time", "id", "long_id", "host", "user", "tags", "label"];
/// What a template may name for a borg archive (borg 1.x archives have no tags or labels).
pub const BORG_PLACEHOLDERS: &[&str] = &["name", "time", "id", "long_id", "host", "user"];
/// How `{time}` is written.
pub const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";

/// What a template can say about a snapshot.
#[derive(Debug, Clone, Default)]
pub struct SnapshotInfo {
    /// A borg archive's name.
    pub name: String,
    /// The time as restic recorded it, already formatted with `TIME_FORMAT`.
    pub time: String,
    pub short_id: String,
    pub long_id: String,
    pub host: String,
    pub user: String,
    pub tags: Vec<String>,
    pub label: String,
}

/// Checks a template: it must name at least one of the `known` placeholders and nothing else.
pub fn check_template(template: &str, known: &[&str]) -> Result<(), String> {
    if template.contains('\\') || template.split('/').any(str::is_empty) {
        return Err(format!(
            "name template {template:?} has a '\\' or an empty group (a leading, trailing or double '/')"
        ));
    }
    let mut rest = template;
    let mut placeholders = 0;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in name template {template:?}"))?;
        let key = &rest[start + 1..start + end];
        if !known.contains(&key) {
            let known: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
            return Err(format!(
                "unknown placeholder {{{key}}} in name template {template:?} (known here: {})",
                known.join(", ")
            ));
        }
        placeholders += 1;
        rest = &rest[start + end + 1..];
    }
    if placeholders == 0 {
        return Err(format!(
            "name template {template:?} has no placeholder, so every snapshot would get one name"
        ));
    }
    Ok(())
}

/// Replaces what no OS can hold in a file name by `_`.
fn safe_value(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

/// The template filled in for one snapshot.
pub fn render(template: &str, info: &SnapshotInfo) -> String {
    let mut out = String::new();
    // A value cannot start a component with '.', so no component is "." or ".." or hidden.
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&safe_value_keep_empty(&rest[..start]));
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let value = match &rest[start + 1..start + len] {
            "name" => info.name.clone(),
            "time" => info.time.clone(),
            "id" => info.short_id.clone(),
            "long_id" => info.long_id.clone(),
            "host" => info.host.clone(),
            "user" => info.user.clone(),
            "tags" => info.tags.join(","),
            "label" => info.label.clone(),
            other => format!("{{{other}}}"),
        };
        out.push_str(&safe_value(&value));
        rest = &rest[start + len + 1..];
    }
    out.push_str(&safe_value_keep_empty(rest));
    out.split('/')
        .map(|part| match part.strip_prefix('.') {
            Some(rest) => format!("_{rest}"),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Literal template text: its `/` separates groups and stays, the rest is made safe.
fn safe_value_keep_empty(text: &str) -> String {
    text.split('/')
        .map(|part| {
            if part.is_empty() {
                String::new()
            } else {
                safe_value(part)
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Names for all snapshots, in their order, all different: the rendered template, and for a name
/// that several snapshots would get, `_<short id>` appended (the long id, then `~N`, where even that
/// is taken, by another snapshot's plain name or by ids that share their first 8 digits).
pub fn assign_names(template: &str, infos: &[SnapshotInfo]) -> Vec<String> {
    let rendered: Vec<String> = infos.iter().map(|info| render(template, info)).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for name in &rendered {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    // Names that only one snapshot renders keep them: a suffixed name must not take one.
    let mut taken: HashSet<String> = counts
        .iter()
        .filter(|(_, count)| **count == 1)
        .map(|(name, _)| name.to_string())
        .collect();
    rendered
        .iter()
        .zip(infos)
        .map(|(name, info)| {
            if counts.get(name.as_str()).copied().unwrap_or(0) == 1 {
                return name.clone();
            }
            let candidates = [
                format!("{name}_{}", info.short_id),
                format!("{name}_{}", info.long_id),
            ];
            let chosen = candidates
                .into_iter()
                .find(|c| !taken.contains(c))
                .unwrap_or_else(|| {
                    (2u64..)
                        .map(|n| format!("{name}_{}~{n}", info.long_id))
                        .find(|c| !taken.contains(c))
                        .unwrap_or_default()
                });
            taken.insert(chosen.clone());
            chosen
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(time: &str, id: &str, host: &str) -> SnapshotInfo {
        SnapshotInfo {
            time: time.into(),
            short_id: id.into(),
            host: host.into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_template_is_the_time() {
        assert_eq!(
            render(
                DEFAULT_TEMPLATE,
                &info("2026-11-24_17-30-56", "abcd1234", "h")
            ),
            "2026-11-24_17-30-56"
        );
    }

    #[test]
    fn values_are_made_safe() {
        let mut i = info("t", "id", "evil/host:1");
        i.tags = vec!["a".into(), "b".into()];
        assert_eq!(render("{host}-{tags}", &i), "evil_host_1-a,b");
        assert_eq!(render("{label}", &i), "_");
        assert_eq!(render("{host}", &info("t", "id", "..")), "_.");
    }

    #[test]
    fn slashes_in_the_template_group_and_in_values_do_not() {
        let i = info("2026-01-01_00-00-00", "id", "a/b");
        assert_eq!(render("{host}/{time}", &i), "a_b/2026-01-01_00-00-00");
        assert_eq!(render("{host}/.{time}", &i), "a_b/_2026-01-01_00-00-00");
    }

    #[test]
    fn collisions_get_the_short_id() {
        let infos = [
            info("same", "aaaa1111", "h"),
            info("same", "bbbb2222", "h"),
            info("other", "cccc3333", "h"),
        ];
        assert_eq!(
            assign_names("{time}", &infos),
            ["same_aaaa1111", "same_bbbb2222", "other"]
        );
    }

    #[test]
    fn names_stay_unique_when_suffixes_meet_other_names() {
        let with_long = |host: &str, id: &str, long: &str| SnapshotInfo {
            long_id: long.into(),
            ..info("t", id, host)
        };
        // Found by fuzzing: a suffixed name equal to another snapshot's plain name.
        let infos = [
            with_long("a", "00000000", "00000000aa"),
            with_long("a", "00022000", "00022000bb"),
            with_long("a_00022000", "00400999", "00400999cc"),
        ];
        assert_eq!(
            assign_names("{host}", &infos),
            ["a_00000000", "a_00022000bb", "a_00022000"]
        );
        // Short ids that share their first 8 digits.
        let twins = [
            with_long("h", "abcd0123", "abcd0123x"),
            with_long("h", "abcd0123", "abcd0123y"),
        ];
        assert_eq!(
            assign_names("{host}", &twins),
            ["h_abcd0123", "h_abcd0123y"]
        );
    }

    #[test]
    fn templates_are_checked() {
        let check = |template| check_template(template, RESTIC_PLACEHOLDERS);
        assert!(check("{time}").is_ok());
        assert!(check("{host}_{time}_{id}").is_ok());
        assert!(check("{nope}").is_err());
        assert!(check("plain").is_err());
        assert!(check("{time").is_err());
        assert!(check("{host}/{time}").is_ok());
        assert!(check("/{time}").is_err());
        assert!(check("{host}//{time}").is_err());
    }

    #[test]
    fn borg_templates_name_archives_and_not_tags() {
        assert!(check_template(BORG_TEMPLATE, BORG_PLACEHOLDERS).is_ok());
        assert!(check_template("{host}/{name}", BORG_PLACEHOLDERS).is_ok());
        let refused = check_template("{tags}", BORG_PLACEHOLDERS);
        assert!(refused.is_err_and(|e| e.contains("{tags}") && e.contains("known here: {name}")));
        assert!(check_template(BORG_TEMPLATE, RESTIC_PLACEHOLDERS).is_err());
        let archive = SnapshotInfo {
            name: "web-2026-12-04T04:14:38".into(),
            ..Default::default()
        };
        assert_eq!(render(BORG_TEMPLATE, &archive), "web-2026-12-04T04_14_38");
    }
}
