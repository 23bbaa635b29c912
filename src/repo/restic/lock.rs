//! A non-exclusive restic lock held while a repository is mounted, so that `restic prune` cannot
//! delete packs under the mount. rustic_core has no locks, so this writes restic's documented format.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use rustic_core::repofile::MasterKey;
use sha2::{Digest, Sha256};

use super::crypto::{cipher, decrypt_file, encrypt};
use crate::error::OpenError;

/// restic refreshes its locks every 5 minutes and treats them as stale after 30.
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
const STALE_AFTER: Duration = Duration::from_secs(30 * 60);

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

/// A lock file in `<repo>/locks/`, refreshed in the background and removed when dropped.
pub struct ResticLock {
    stop: Option<mpsc::Sender<()>>,
    worker: Option<JoinHandle<()>>,
}

impl ResticLock {
    /// Refuses when another process holds a live exclusive lock, then writes our own.
    pub fn acquire(repo: &Path, key: &MasterKey) -> Result<ResticLock, OpenError> {
        let cipher = cipher(key)
            .ok_or_else(|| OpenError::Repository("the repository key is malformed".into()))?;
        let locks = repo.join("locks");
        check_no_exclusive(&locks, &cipher)?;
        let first = write_lock(&locks, &cipher).map_err(|err| {
            OpenError::Repository(format!(
                "cannot lock the repository ({err}); use --no-lock for read-only media"
            ))
        })?;
        let (stop, stopped) = mpsc::channel::<()>();
        let worker =
            std::thread::spawn(move || refresh_until_stopped(&locks, &cipher, first, &stopped));
        Ok(ResticLock {
            stop: Some(stop),
            worker: Some(worker),
        })
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
    locks: &Path,
    cipher: &Aes256CtrPoly1305Aes,
    mut current: PathBuf,
    stop: &mpsc::Receiver<()>,
) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(REFRESH_EVERY) {
        match write_lock(locks, cipher) {
            Ok(fresh) => {
                let _ = std::fs::remove_file(&current);
                current = fresh;
            }
            Err(err) => tracing::warn!("cannot refresh the repository lock: {err}"),
        }
    }
    if let Err(err) = std::fs::remove_file(&current) {
        tracing::warn!(lock = %current.display(), "cannot remove the repository lock: {err}");
    }
}

fn write_lock(locks: &Path, cipher: &Aes256CtrPoly1305Aes) -> std::io::Result<PathBuf> {
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
    let id = Sha256::digest(&data);
    let path = locks.join(id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    std::fs::create_dir_all(locks)?;
    std::fs::write(&path, &data)?;
    Ok(path)
}

fn check_no_exclusive(locks: &Path, cipher: &Aes256CtrPoly1305Aes) -> Result<(), OpenError> {
    let Ok(entries) = std::fs::read_dir(locks) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let Some(lock) = std::fs::read(entry.path())
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
        std::fs::write(
            dir.path().join("a"),
            encrypt(&cipher, &serde_json::to_vec(&lock)?).ok_or("enc")?,
        )?;
        assert!(matches!(
            check_no_exclusive(dir.path(), &cipher),
            Err(OpenError::Locked(_))
        ));
        lock.time = "2020-01-01T00:00:00Z".into();
        std::fs::write(
            dir.path().join("a"),
            encrypt(&cipher, &serde_json::to_vec(&lock)?).ok_or("enc")?,
        )?;
        assert!(check_no_exclusive(dir.path(), &cipher).is_ok());
        Ok(())
    }

    #[test]
    fn lock_is_written_and_removed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let lock = ResticLock::acquire(dir.path(), &key())?;
        assert_eq!(std::fs::read_dir(dir.path().join("locks"))?.count(), 1);
        drop(lock);
        assert_eq!(std::fs::read_dir(dir.path().join("locks"))?.count(), 0);
        Ok(())
    }
}
