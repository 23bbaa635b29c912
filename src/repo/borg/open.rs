//! Opening a borg repository: its config, the object index, the key mode (the manifest's type
//! byte) and the key itself with the passphrase borg users give; each failure with its exit code.

use std::path::Path;
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

use super::config::{self, RepoConfig};
use super::crypto::MANIFEST_ID;
use super::key::{self, Key, KeyError, Mode, Storage};
use super::objects::{self, ObjectIndex};
use super::segments::Segments;
use super::store::Store;
use super::{keyfile, password};
use crate::error::OpenError;

/// The repository's store, its key unlocked, and the transaction its index reflects.
pub fn open_store(path: &Path) -> Result<(Store, Option<u32>), OpenError> {
    let shown = path.display();
    let repo_err = |why: String| OpenError::Repository(format!("borg repository {shown}: {why}"));
    if !path.join("config").is_file() {
        return Err(repo_err(
            "no config file: not a borg repository, or missing".into(),
        ));
    }
    let config = config::read(path).map_err(repo_err)?;
    let segments = Segments::new(path, config.segments_per_dir);
    let (index, transaction) = objects::load(path, &segments).map_err(repo_err)?;
    let mode = manifest_mode(&segments, &index).map_err(repo_err)?;
    tracing::debug!(
        mode = mode.name,
        objects = index.len(),
        "borg repository opened"
    );
    let key = unlock(path, &config, mode)?;
    let store = Store {
        segments,
        index: RwLock::new(Arc::new(index)),
        key,
    };
    Ok((store, transaction))
}

/// The key mode, from the first byte of the manifest as stored.
fn manifest_mode(segments: &Segments, index: &ObjectIndex) -> Result<Mode, String> {
    let (segment, offset) = index
        .get(&MANIFEST_ID)
        .ok_or("no manifest: the repository holds no committed archive list")?;
    let stored = segments.read_put(&MANIFEST_ID, segment, offset)?;
    key::mode(*stored.first().ok_or("empty manifest")?)
}

/// The key of `mode`: none, or decrypted from the repokey or the key file.
fn unlock(path: &Path, config: &RepoConfig, mode: Mode) -> Result<Key, OpenError> {
    let (blob, what) = match mode.storage {
        Storage::NoKey => return Ok(Key::plaintext(mode)),
        Storage::Repo => (
            config.key.clone().ok_or_else(|| {
                OpenError::Repository(format!(
                    "borg repository {}: the {} key is missing from config",
                    path.display(),
                    mode.name
                ))
            })?,
            path.display().to_string(),
        ),
        Storage::KeyFile => {
            let (blob, file) = keyfile::find(&config.id).map_err(OpenError::Credentials)?;
            (blob, format!("key {}", file.display()))
        }
    };
    let attempt = |passphrase: &str| match key::decrypt_blob(mode, &blob, passphrase) {
        Ok(key) => Ok(Some(key)),
        Err(KeyError::WrongPassphrase) => Ok(None),
        Err(KeyError::Invalid(why)) => Err(OpenError::Repository(format!(
            "borg repository {}: {why}",
            path.display()
        ))),
    };
    if let Some(given) = password::from_environment()? {
        return attempt(&given)?
            .ok_or_else(|| OpenError::Password(format!("wrong passphrase for {what}")));
    }
    // As borg: an empty passphrase first, then three prompts.
    if let Some(key) = attempt("")? {
        return Ok(key);
    }
    for _ in 0..3 {
        let typed: Zeroizing<String> = password::prompt(&what)?;
        if let Some(key) = attempt(&typed)? {
            return Ok(key);
        }
    }
    Err(OpenError::Password(format!("wrong passphrase for {what}")))
}
