//! Finding a keyfile-mode key as borg does: `BORG_KEY_FILE`, else the file in the keys directory
//! (`BORG_KEYS_DIR`, else `$BORG_CONFIG_DIR/keys`, else `~/.config/borg/keys` under
//! `XDG_CONFIG_HOME` or `BORG_BASE_DIR`) whose first line
//! is `BORG_KEY <repository id>`.

use std::path::{Path, PathBuf};

use super::config::hex;

/// Key files are a few hundred bytes; larger files in the keys directory are not read whole.
const MAX_KEY_FILE_BYTES: u64 = 64 << 10;

/// The base64 key of the repository `id`, and the file it came from.
pub fn find(id: &[u8; 32]) -> Result<(String, PathBuf), String> {
    if let Some(file) = std::env::var_os("BORG_KEY_FILE").filter(|f| !f.is_empty()) {
        let path = PathBuf::from(file);
        return match read_key(&path, id) {
            Some(key) => Ok((key, path)),
            None => Err(format!(
                "BORG_KEY_FILE {} is not a key of this repository",
                path.display()
            )),
        };
    }
    let dir = keys_dir().ok_or("no keys directory: set BORG_KEYS_DIR or HOME")?;
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        if let Some(key) = read_key(&entry.path(), id) {
            return Ok((key, entry.path()));
        }
    }
    Err(format!(
        "no key file for repository {} in {}",
        hex(id),
        dir.display()
    ))
}

/// Where borg keeps key files.
fn keys_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("BORG_KEYS_DIR") {
        return Some(dir);
    }
    if let Some(config) = var("BORG_CONFIG_DIR") {
        return Some(config.join("keys"));
    }
    // Borg's base directory is BORG_BASE_DIR, else the home directory.
    let base = || var("BORG_BASE_DIR").or_else(|| var("HOME"));
    let config = var("XDG_CONFIG_HOME").or_else(|| base().map(|h| h.join(".config")))?;
    Some(config.join("borg").join("keys"))
}

/// The base64 body of `path` if its first line names repository `id`.
fn read_key(path: &Path, id: &[u8; 32]) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    parse(&text, id)
}

/// The key lines of a key file's text when its header names repository `id`.
pub fn parse(text: &str, id: &[u8; 32]) -> Option<String> {
    let (first, rest) = text.split_once('\n')?;
    let named = first.trim_end().strip_prefix("BORG_KEY ")?;
    named
        .eq_ignore_ascii_case(&hex(id))
        .then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_the_repository() {
        let id = [0xab; 32];
        let text = format!("BORG_KEY {}\nhqlh\nbGdv\n", hex(&id));
        assert_eq!(parse(&text, &id).as_deref(), Some("hqlh\nbGdv\n"));
        assert_eq!(parse(&text, &[0; 32]), None);
        assert_eq!(parse("BORG_KEY", &id), None);
    }
}
