//! Opening a borg repository: its config, the object index, the key mode (the manifest's type
//! byte) and the key itself with the passphrase borg users give; each failure with its exit code.
//! A remote repository gives the same through `borg serve`: its id, the manifest and the repokey.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use zeroize::Zeroizing;

use super::config;
use super::crypto::MANIFEST_ID;
use super::key::{self, Key, KeyError, Mode, Storage};
#[cfg(unix)]
use super::location::RemoteLocation;
use super::objects::{self, ObjectIndex};
#[cfg(unix)]
use super::rpc::{Client, RpcError};
use super::segments::Segments;
use super::store::{Local, Objects, Store};
use super::{keyfile, password};
use crate::error::OpenError;

/// The repository's store, its key unlocked.
pub fn open_store(path: &Path) -> Result<Store, OpenError> {
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
    let shown = shown.to_string();
    let key = match mode.storage {
        Storage::NoKey => Key::plaintext(mode),
        Storage::Repo => {
            let blob = config
                .key
                .clone()
                .ok_or_else(|| repo_err(format!("the {} key is missing from config", mode.name)))?;
            unlock(&shown, mode, &blob, &shown)?
        }
        Storage::KeyFile => {
            let (blob, file) = keyfile::find(&config.id).map_err(OpenError::Credentials)?;
            unlock(&shown, mode, &blob, &format!("key {}", file.display()))?
        }
    };
    let objects = Objects::Local(Local {
        path: path.to_path_buf(),
        segments,
        index: RwLock::new(Arc::new(index)),
        transaction: Mutex::new(transaction),
    });
    Ok(Store { objects, key })
}

/// The store of a repository reached through `borg serve`: the server opens it (holding borg's
/// shared lock with `lock`), gives its id, the manifest (whose first byte tells the key mode) and
/// the repokey; a key file is found locally by the repository id, as borg does.
#[cfg(unix)]
pub fn open_remote(location: &RemoteLocation, lock: bool) -> Result<Store, OpenError> {
    let client = Client::connect(location)?;
    let shown = client.shown.clone();
    let id = client
        .open(&location.path, lock)
        .map_err(|e| open_error(&shown, e))?;
    let repo_err = |why: String| OpenError::Repository(format!("borg repository {shown}: {why}"));
    let manifest = client.get(&MANIFEST_ID).map_err(|e| match e {
        RpcError::Remote { class, .. } if class == "ObjectNotFound" => {
            repo_err("no manifest: the repository holds no committed archive list".into())
        }
        other => repo_err(format!("manifest: {other}")),
    })?;
    let mode = key::mode(
        *manifest
            .first()
            .ok_or_else(|| repo_err("empty manifest".into()))?,
    )
    .map_err(repo_err)?;
    tracing::debug!(
        mode = mode.name,
        "borg repository opened through borg serve"
    );
    let key = match mode.storage {
        Storage::NoKey => Key::plaintext(mode),
        Storage::Repo => {
            let blob = client
                .load_key()
                .map_err(|e| repo_err(format!("repokey: {e}")))?;
            let blob: String = String::from_utf8_lossy(&blob)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if blob.is_empty() {
                return Err(repo_err(format!(
                    "the {} key is missing from config",
                    mode.name
                )));
            }
            unlock(&shown, mode, &blob, &shown)?
        }
        Storage::KeyFile => {
            let (blob, file) = keyfile::find(&id).map_err(OpenError::Credentials)?;
            unlock(&shown, mode, &blob, &format!("key {}", file.display()))?
        }
    };
    Ok(Store {
        objects: Objects::Remote(Box::new(super::store::Remote {
            client,
            locked: lock,
        })),
        key,
    })
}

/// The exit code and message of a failed remote `open`: borg's lock exceptions are a locked
/// repository (11); a missing path, one that is no repository, or one that `borg serve
/// --restrict-to-path` refuses, a missing or unreadable repository (10).
#[cfg(unix)]
fn open_error(shown: &str, err: RpcError) -> OpenError {
    match err {
        RpcError::Remote { class, message } if class.starts_with("Lock") => {
            let hint = match class.as_str() {
                "LockFailed" => " (for read-only media, use --no-lock)",
                _ => " (a backup, prune or compact is running)",
            };
            OpenError::Locked(format!(
                "borg repository {shown}: the repository is locked: {message}{hint}"
            ))
        }
        RpcError::Remote { class, message } if class == "PathNotAllowed" => OpenError::Repository(
            format!("borg repository {shown}: borg serve refuses this path: {message}"),
        ),
        other => OpenError::Repository(format!("borg repository {shown}: {other}")),
    }
}

/// The key mode, from the first byte of the manifest as stored.
fn manifest_mode(segments: &Segments, index: &ObjectIndex) -> Result<Mode, String> {
    let (segment, offset) = index
        .get(&MANIFEST_ID)
        .ok_or("no manifest: the repository holds no committed archive list")?;
    let stored = segments.read_put(&MANIFEST_ID, segment, offset)?;
    key::mode(*stored.first().ok_or("empty manifest")?)
}

/// The key of `mode`, decrypted from `blob` with the passphrase; `what` names the key (the
/// repository, or its key file) where the passphrase is asked for.
fn unlock(shown: &str, mode: Mode, blob: &str, what: &str) -> Result<Key, OpenError> {
    let attempt = |passphrase: &str| match key::decrypt_blob(mode, blob, passphrase) {
        Ok(key) => Ok(Some(key)),
        Err(KeyError::WrongPassphrase) => Ok(None),
        Err(KeyError::Invalid(why)) => Err(OpenError::Repository(format!(
            "borg repository {shown}: {why}"
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
        let typed: Zeroizing<String> = password::prompt(what)?;
        if let Some(key) = attempt(&typed)? {
            return Ok(key);
        }
    }
    Err(OpenError::Password(format!("wrong passphrase for {what}")))
}
