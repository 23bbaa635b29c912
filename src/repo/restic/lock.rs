//! A non-exclusive restic lock held while a repository is mounted, so that `restic prune` cannot
//! delete packs under the mount. rustic_core has no locks, so this writes restic's documented format.

mod local;
mod rclone;
mod rest;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use rustic_core::repofile::MasterKey;
use sha2::{Digest, Sha256};

use super::crypto::{cipher, decrypt_file, encrypt};
use super::location::{one_line, scrub};
use crate::error::OpenError;

/// restic refreshes its locks every 5 minutes and treats them as stale after 30.
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// restic's locks are a few hundred bytes: anything read beyond this is not one.
const MAX_LOCK_SIZE: u64 = 64 << 10;

/// What restic writes into a lock.
#[derive(serde::Serialize, serde::Deserialize)]
struct LockFile {
    time: String,
    exclusive: bool,
    hostname: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

/// Where a repository keeps its `locks/`, whatever carries them there.
trait LockStore: Send {
    /// The names of the files in `locks/`.
    fn names(&self) -> std::io::Result<Vec<String>>;
    /// A lock file's bytes, at most `MAX_LOCK_SIZE` of them.
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>>;
    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()>;
    fn remove(&self, name: &str) -> std::io::Result<()>;
}

/// A lock file in the repository's `locks/`, refreshed in the background and removed when dropped.
pub struct ResticLock {
    stop: Option<mpsc::Sender<()>>,
    worker: Option<JoinHandle<()>>,
}

impl ResticLock {
    /// Refuses when another process holds a live exclusive lock, then writes our own. `None` for
    /// a kind of location that genmount cannot write locks to.
    pub fn acquire(
        location: &str,
        shown: &str,
        key: &MasterKey,
    ) -> Result<Option<ResticLock>, OpenError> {
        let cannot_lock = |err: std::io::Error| {
            OpenError::Repository(format!(
                "cannot lock the repository ({}); use --no-lock for read-only media",
                one_line(&scrub(&err.to_string(), location))
            ))
        };
        let store: Box<dyn LockStore> = if let Some(path) = location.strip_prefix("local:") {
            Box::new(local::LocalLocks::new(std::path::Path::new(path)))
        } else if let Some(url) = location.strip_prefix("rest:") {
            Box::new(rest::RestLocks::new(url).map_err(cannot_lock)?)
        } else if let Some(remote) = location.strip_prefix("rclone:") {
            Box::new(rclone::RcloneLocks::new(remote))
        } else {
            tracing::info!(
                "no restic lock is held on {shown}: locks are written to local, REST and rclone repositories only"
            );
            return Ok(None);
        };
        let cipher = cipher(key)
            .ok_or_else(|| OpenError::Repository("the repository key is malformed".into()))?;
        check_no_exclusive(store.as_ref(), &cipher)?;
        let first = write_lock(store.as_ref(), &cipher).map_err(cannot_lock)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            refresh_until_stopped(store.as_ref(), &cipher, first, &stopped)
        });
        Ok(Some(ResticLock {
            stop: Some(stop),
            worker: Some(worker),
        }))
    }
}

impl Drop for ResticLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn refresh_until_stopped(
    store: &dyn LockStore,
    cipher: &Aes256CtrPoly1305Aes,
    mut current: String,
    stop: &mpsc::Receiver<()>,
) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(REFRESH_EVERY) {
        match write_lock(store, cipher) {
            Ok(fresh) => {
                let _ = store.remove(&current);
                current = fresh;
            }
            Err(err) => tracing::warn!("cannot refresh the repository lock: {err}"),
        }
    }
    if let Err(err) = store.remove(&current) {
        tracing::warn!(lock = %current, "cannot remove the repository lock: {err}");
    }
}

/// Writes a fresh lock and returns its name, the hex SHA-256 of its bytes as restic names it.
fn write_lock(store: &dyn LockStore, cipher: &Aes256CtrPoly1305Aes) -> std::io::Result<String> {
    let (uid, gid) = crate::platform::owner();
    let lock = LockFile {
        time: jiff::Zoned::now().to_string_rfc3339(),
        exclusive: false,
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        username: std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_default(),
        pid: std::process::id(),
        uid,
        gid,
    };
    let json = serde_json::to_vec(&lock).map_err(std::io::Error::other)?;
    let data = encrypt(cipher, &json).ok_or_else(|| std::io::Error::other("encryption failed"))?;
    let name: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    store.write(&name, &data)?;
    Ok(name)
}

/// Whether `name` is a restic file id (so also safe to put in a path or a URL).
fn is_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Refuses a live exclusive lock of another process. Locks that cannot be listed or read are not
/// evidence of one: writing ours then says what is wrong with the repository, if anything.
fn check_no_exclusive(
    store: &dyn LockStore,
    cipher: &Aes256CtrPoly1305Aes,
) -> Result<(), OpenError> {
    let names = match store.names() {
        Ok(names) => names,
        Err(err) => {
            tracing::debug!("cannot list the repository's locks: {err}");
            return Ok(());
        }
    };
    for name in names.iter().filter(|name| is_id(name)) {
        let Some(lock) = store
            .read(name)
            .ok()
            .and_then(|data| decrypt_file(cipher, &data))
            .and_then(|plain| serde_json::from_slice::<LockFile>(&plain).ok())
        else {
            continue;
        };
        if lock.exclusive && !is_stale(&lock.time) {
            return Err(OpenError::Locked(format!(
                "repository is locked exclusively by PID {} on {} since {}",
                lock.pid, lock.hostname, lock.time
            )));
        }
    }
    Ok(())
}

fn is_stale(time: &str) -> bool {
    let Ok(when) = time.parse::<jiff::Timestamp>() else {
        return true;
    };
    let age = jiff::Timestamp::now().duration_since(when);
    age.as_secs() > STALE_AFTER.as_secs() as i64
}

trait Rfc3339 {
    fn to_string_rfc3339(&self) -> String;
}

impl Rfc3339 for jiff::Zoned {
    fn to_string_rfc3339(&self) -> String {
        self.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::restic::crypto::tests::key;

    #[test]
    fn exclusive_live_locks_refuse_and_stale_ones_do_not() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let store = local::LocalLocks::new(dir.path());
        let cipher = cipher(&key()).ok_or("cipher")?;
        let mut lock = LockFile {
            time: jiff::Zoned::now().to_string_rfc3339(),
            exclusive: true,
            hostname: "h".into(),
            username: "u".into(),
            pid: 1,
            uid: 0,
            gid: 0,
        };
        let name = "a".repeat(64);
        let encrypted = |lock: &LockFile| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
            Ok(encrypt(&cipher, &serde_json::to_vec(lock)?).ok_or("enc")?)
        };
        store.write(&name, &encrypted(&lock)?)?;
        assert!(matches!(
            check_no_exclusive(&store, &cipher),
            Err(OpenError::Locked(_))
        ));
        lock.time = "2020-01-01T00:00:00Z".into();
        store.write(&name, &encrypted(&lock)?)?;
        assert!(check_no_exclusive(&store, &cipher).is_ok());
        Ok(())
    }

    #[test]
    fn lock_is_written_and_removed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let location = format!("local:{}", dir.path().display());
        let lock = ResticLock::acquire(&location, &location, &key())?;
        assert!(lock.is_some());
        assert_eq!(std::fs::read_dir(dir.path().join("locks"))?.count(), 1);
        drop(lock);
        assert_eq!(std::fs::read_dir(dir.path().join("locks"))?.count(), 0);
        Ok(())
    }

    #[test]
    fn only_restic_ids_are_read_as_locks() {
        assert!(is_id(&"0f".repeat(32)));
        assert!(!is_id("../config"));
        assert!(!is_id(&"g".repeat(64)));
    }
}
