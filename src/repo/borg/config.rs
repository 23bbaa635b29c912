//! The repository's `config` file: an INI file whose `[repository]` section marks a borg
//! repository and holds its id, its segment layout and (repokey modes) the encrypted key.

use std::path::Path;

use crate::repo::hexid::hex32;

/// What genmount needs from `config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// Borg 1.x writes version 1; version 2 is borg 2's incompatible format.
    pub version: u32,
    pub segments_per_dir: u32,
    pub id: [u8; 32],
    /// The base64 of the encrypted key of a repokey or authenticated mode, whitespace removed.
    pub key: Option<String>,
}

/// `config` is small; anything larger is not a borg config.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Whether `dir` holds a borg repository: a `config` with a `[repository]` section.
pub fn looks_like_borg(dir: &Path) -> bool {
    read_text(dir)
        .map(|text| sections(&text).iter().any(|(name, _)| name == "repository"))
        .unwrap_or(false)
}

/// Reads and checks `dir/config`.
pub fn read(dir: &Path) -> Result<RepoConfig, String> {
    parse(&read_text(dir)?)
}

/// The text of `dir/config`, at most `MAX_CONFIG_BYTES` of it.
fn read_text(dir: &Path) -> Result<String, String> {
    use std::io::Read;
    let path = dir.join("config");
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut text = String::new();
    std::fs::File::open(&path)
        .map_err(failed)?
        .take(MAX_CONFIG_BYTES)
        .read_to_string(&mut text)
        .map_err(failed)?;
    Ok(text)
}

/// Parses the text of a config file.
pub fn parse(text: &str) -> Result<RepoConfig, String> {
    let all = sections(text);
    let (_, entries) = all
        .iter()
        .find(|(name, _)| name == "repository")
        .ok_or("config has no [repository] section: not a borg repository")?;
    let value = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let number = |key: &str| -> Result<u32, String> {
        value(key)
            .ok_or(format!("config has no {key}"))?
            .trim()
            .parse()
            .map_err(|_| format!("config: {key} is not a number"))
    };
    let version = number("version")?;
    if version != 1 {
        return Err(format!(
            "repository version {version}: only borg 1.x repositories (version 1) are supported"
        ));
    }
    let segments_per_dir = number("segments_per_dir")?.max(1);
    let id = hex32(value("id").unwrap_or_default().trim().as_bytes())
        .ok_or("config: id is not 64 hex digits")?;
    let key: String = value("key")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Ok(RepoConfig {
        version,
        segments_per_dir,
        id,
        key: (!key.is_empty()).then_some(key),
    })
}

type Section = (String, Vec<(String, String)>);

/// The sections of an INI text as Python's configparser writes it: `key = value`, values
/// continued on indented lines (the repokey is), `#` and `;` comments.
fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        let continued = line.starts_with([' ', '\t']);
        if let Some(entry) = out
            .last_mut()
            .and_then(|s| s.1.last_mut())
            .filter(|_| continued)
        {
            entry.1.push('\n');
            entry.1.push_str(trimmed);
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            out.push((name.trim().to_string(), Vec::new()));
        } else if let (Some(section), Some((k, v))) = (out.last_mut(), trimmed.split_once('=')) {
            section
                .1
                .push((k.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// Lowercase hex of bytes, for ids in messages and generation ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[repository]\nversion = 1\nsegments_per_dir = 1000\n\
        max_segment_size = 524288000\nappend_only = 0\nstorage_quota = 0\n\
        additional_free_space = 0\n\
        id = 0c4ee1e5b1cbd0b1f1b2d2e98c5c7d38f0f9ae87b8e2ad2a7d0d1d8e0f3a1b2c\n\
        key = hqlhbGdvcml0aG2mc2hh\n\tMjU2pGRhdGHaAN4\n\n";

    #[test]
    fn repository_section_with_a_continued_key() {
        let Ok(config) = parse(CONFIG) else {
            panic!("does not parse");
        };
        assert_eq!(config.segments_per_dir, 1000);
        assert_eq!(config.id[0], 0x0c);
        assert_eq!(
            config.key.as_deref(),
            Some("hqlhbGdvcml0aG2mc2hhMjU2pGRhdGHaAN4")
        );
    }

    #[test]
    fn other_configs_are_refused() {
        assert!(parse("[core]\nversion = 2\n").is_err());
        assert!(parse(&CONFIG.replace("version = 1", "version = 2")).is_err());
        assert!(parse(&CONFIG.replace("id = 0c", "id = zz")).is_err());
    }
}
