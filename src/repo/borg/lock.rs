//! The shared lock a borg reader holds, taken as borg 1.x takes it (`borg/locking.py`): our id in
//! the `shared` list of `lock.roster`, changed only while holding `lock.exclusive` (a directory
//! renamed into place, which is atomic). While it is held, `borg compact`, `prune` and `delete`
//! wait for it, so no segment disappears under a mount. These two names are all it ever writes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::OpenError;

const EXCLUSIVE: &str = "lock.exclusive";
const ROSTER: &str = "lock.roster";
/// How often a busy lock is tried again, as borg does.
const RETRY: Duration = Duration::from_millis(200);

/// Who holds a lock: borg's `(hostid, pid, thread)`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LockId {
    host: String,
    pid: u32,
    thread: u64,
}

impl LockId {
    fn ours() -> LockId {
        LockId {
            host: host_id(),
            pid: std::process::id(),
            thread: 0,
        }
    }

    /// The name of our file inside `lock.exclusive`: `host.pid-thread`.
    fn file_name(&self) -> String {
        format!("{}.{}-{:x}", self.host, self.pid, self.thread)
    }

    fn parse_file_name(name: &str) -> Option<LockId> {
        let (host_pid, thread) = name.rsplit_once('-')?;
        let (host, pid) = host_pid.rsplit_once('.')?;
        Some(LockId {
            host: host.to_owned(),
            pid: pid.parse().ok()?,
            thread: u64::from_str_radix(thread, 16).ok()?,
        })
    }

    fn from_json(entry: &Value) -> Option<LockId> {
        let [host, pid, thread] = entry.as_array()?.as_slice() else {
            return None;
        };
        Some(LockId {
            host: host.as_str()?.to_owned(),
            pid: u32::try_from(pid.as_u64()?).ok()?,
            thread: thread.as_u64()?,
        })
    }

    fn to_json(&self) -> Value {
        json!([self.host, self.pid, self.thread])
    }

    /// Whether the holder may still run: only a process of this host can be known to be gone.
    fn may_be_alive(&self) -> bool {
        self.host != host_id() || self.thread != 0 || pid_alive(self.pid)
    }
}

/// borg's host id: `BORG_HOST_ID`, else `hostname@node`, where borg's node is Python's
/// `uuid.getnode()`, the MAC address of an interface. genmount takes the first interface's MAC,
/// which is the same number on most machines; where it is not, borg sees our lock as another
/// host's and never breaks it by itself (`borg break-lock` does), and genmount still breaks its
/// own stale ones.
fn host_id() -> String {
    if let Ok(id) = std::env::var("BORG_HOST_ID")
        && !id.is_empty()
    {
        return id;
    }
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let short = host.split('.').next().unwrap_or_default().to_owned();
    match first_mac() {
        Some(node) => format!("{short}@{node}"),
        None => format!("{short}@genmount"),
    }
}

/// The first network interface's MAC address, as one number (Linux only).
fn first_mac() -> Option<u64> {
    let mut names: Vec<_> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    names.sort();
    names.iter().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("address")).ok()?;
        let hex: String = text.trim().split(':').collect();
        u64::from_str_radix(&hex, 16).ok().filter(|&n| n != 0)
    })
}

#[cfg(unix)]
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn pid_alive(_pid: u32) -> bool {
    true
}

/// A shared lock held on a borg repository until `release`.
pub struct BorgLock {
    repo: PathBuf,
    id: LockId,
}

impl BorgLock {
    /// Takes a shared lock, waiting up to `wait` for a writer (`borg create`, `compact`…) to finish.
    pub fn acquire(repo: &Path, wait: Duration) -> Result<BorgLock, OpenError> {
        let lock = BorgLock {
            repo: repo.to_path_buf(),
            id: LockId::ours(),
        };
        lock.under_exclusive(wait, |roster| roster_add(roster, &lock.id))?;
        tracing::info!("holding a shared borg lock on {}", repo.display());
        Ok(lock)
    }

    /// Moves the lock to this process after a daemon's fork, as borg's `migrate_lock` does: the
    /// parent that took it exits, and borg would soon see its pid gone and drop the lock.
    pub fn adopt(&mut self) -> Result<(), OpenError> {
        let ours = LockId::ours();
        if ours == self.id {
            return Ok(());
        }
        let old = self.id.clone();
        self.under_exclusive(Duration::from_secs(10), |roster| {
            roster_remove(roster, &old);
            roster_add(roster, &ours);
        })?;
        self.id = ours;
        Ok(())
    }

    /// Gives the lock back; a roster left empty is removed, as borg does.
    fn release(&self) {
        let removed = self.under_exclusive(Duration::from_secs(10), |roster| {
            roster_remove(roster, &self.id);
        });
        if let Err(err) = removed {
            tracing::warn!("cannot release the borg lock: {err}");
        }
    }

    /// Runs `change` on the roster while holding `lock.exclusive`, then writes the roster back.
    fn under_exclusive(
        &self,
        wait: Duration,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), OpenError> {
        let held = self.take_exclusive(wait)?;
        let result = self.change_roster(change);
        self.drop_exclusive(&held);
        result.map_err(|err| OpenError::Locked(format!("cannot write the borg lock roster: {err}")))
    }

    fn change_roster(&self, change: impl FnOnce(&mut Value)) -> io::Result<()> {
        let path = self.repo.join(ROSTER);
        let mut roster = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        drop_stale(&mut roster);
        change(&mut roster);
        if is_empty(&roster) {
            return match std::fs::remove_file(&path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            };
        }
        std::fs::write(
            &path,
            serde_json::to_vec(&roster).map_err(io::Error::other)?,
        )
    }

    /// Renames a directory holding our file to `lock.exclusive`, as borg's `ExclusiveLock` does.
    fn take_exclusive(&self, wait: Duration) -> Result<PathBuf, OpenError> {
        let locked = |what: String| OpenError::Locked(format!("{}: {what}", self.repo.display()));
        let temp = self.repo.join(format!("{EXCLUSIVE}.{:016x}.tmp", random()));
        std::fs::create_dir(&temp)
            .and_then(|()| std::fs::write(temp.join(self.id.file_name()), b""))
            .map_err(|err| {
                locked(format!(
                    "cannot create a lock: {err} (for read-only media, use --no-lock)"
                ))
            })?;
        let target = self.repo.join(EXCLUSIVE);
        let deadline = Instant::now() + wait;
        loop {
            if std::fs::rename(&temp, &target).is_ok() {
                return Ok(target.join(self.id.file_name()));
            }
            if !kill_stale_exclusive(&target) && Instant::now() >= deadline {
                let _ = std::fs::remove_file(temp.join(self.id.file_name()));
                let _ = std::fs::remove_dir(&temp);
                return Err(locked(
                    "the repository is locked by borg (a backup, prune or compact is running)"
                        .into(),
                ));
            }
            std::thread::sleep(RETRY);
        }
    }

    fn drop_exclusive(&self, ours: &Path) {
        let _ = std::fs::remove_file(ours);
        let _ = std::fs::remove_dir(self.repo.join(EXCLUSIVE));
    }
}

impl Drop for BorgLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// Removes `lock.exclusive` if every holder in it is a process of this host that is gone.
fn kill_stale_exclusive(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let holder = name.to_str().and_then(LockId::parse_file_name);
        if holder.is_none_or(|id| id.may_be_alive()) {
            return false;
        }
        tracing::warn!("removing the stale borg lock {}", name.to_string_lossy());
        let _ = std::fs::remove_file(entry.path());
    }
    std::fs::remove_dir(dir).is_ok()
}

fn random() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes) ^ u64::from(std::process::id())
}

/// Drops the roster's entries of processes of this host that are gone, as borg does on load.
fn drop_stale(roster: &mut Value) {
    for key in ["shared", "exclusive"] {
        if let Some(list) = roster.get_mut(key).and_then(Value::as_array_mut) {
            list.retain(|entry| LockId::from_json(entry).is_none_or(|id| id.may_be_alive()));
        }
    }
}

fn roster_add(roster: &mut Value, id: &LockId) {
    roster_remove(roster, id);
    if let Some(map) = roster.as_object_mut() {
        let shared = map.entry("shared").or_insert_with(|| json!([]));
        if let Some(list) = shared.as_array_mut() {
            list.push(id.to_json());
        }
        map.entry("exclusive").or_insert_with(|| json!([]));
    }
}

fn roster_remove(roster: &mut Value, id: &LockId) {
    if let Some(list) = roster.get_mut("shared").and_then(Value::as_array_mut) {
        list.retain(|entry| LockId::from_json(entry).as_ref() != Some(id));
    }
}

fn is_empty(roster: &Value) -> bool {
    ["shared", "exclusive"].iter().all(|key| {
        roster
            .get(key)
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_read_as_borg_writes_them() {
        let id = LockId::parse_file_name("my-host.lan@2485378023938.4242-0");
        assert_eq!(
            id,
            Some(LockId {
                host: "my-host.lan@2485378023938".into(),
                pid: 4242,
                thread: 0
            })
        );
        let ours = LockId::ours();
        assert_eq!(
            LockId::parse_file_name(&ours.file_name()),
            Some(ours.clone())
        );
        assert_eq!(LockId::from_json(&ours.to_json()), Some(ours));
        assert_eq!(LockId::parse_file_name("garbage"), None);
    }

    #[test]
    fn a_shared_lock_comes_and_goes_and_waits_for_a_writer()
    -> Result<(), Box<dyn std::error::Error>> {
        let repo = tempfile::tempdir()?;
        let lock = BorgLock::acquire(repo.path(), Duration::ZERO)?;
        let roster: Value = serde_json::from_slice(&std::fs::read(repo.path().join(ROSTER))?)?;
        assert_eq!(roster["shared"], json!([LockId::ours().to_json()]));
        assert!(
            !repo.path().join(EXCLUSIVE).exists(),
            "the mutex is held only briefly"
        );
        drop(lock);
        assert_eq!(
            std::fs::read_dir(repo.path())?.count(),
            0,
            "nothing is left behind"
        );
        // A writer of another host holds lock.exclusive: a reader gives up after its wait.
        std::fs::create_dir(repo.path().join(EXCLUSIVE))?;
        std::fs::write(repo.path().join(EXCLUSIVE).join("elsewhere@1.99-0"), b"")?;
        assert!(matches!(
            BorgLock::acquire(repo.path(), Duration::from_millis(300)),
            Err(OpenError::Locked(_))
        ));
        let leftovers: Vec<_> = std::fs::read_dir(repo.path())?.collect();
        assert_eq!(leftovers.len(), 1, "only the writer's lock remains");
        Ok(())
    }

    #[test]
    fn a_lock_taken_before_a_fork_is_adopted() -> Result<(), Box<dyn std::error::Error>> {
        let repo = tempfile::tempdir()?;
        let mut lock = BorgLock::acquire(repo.path(), Duration::ZERO)?;
        // As if taken by the parent of a daemon that has since exited.
        let parent = LockId {
            pid: 1,
            ..LockId::ours()
        };
        lock.under_exclusive(Duration::ZERO, |roster| {
            roster_remove(roster, &LockId::ours());
            roster_add(roster, &parent);
        })?;
        lock.id = parent;
        lock.adopt()?;
        let roster: Value = serde_json::from_slice(&std::fs::read(repo.path().join(ROSTER))?)?;
        assert_eq!(roster["shared"], json!([LockId::ours().to_json()]));
        drop(lock);
        assert_eq!(std::fs::read_dir(repo.path())?.count(), 0);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_stale_lock_of_this_host_is_broken() -> Result<(), Box<dyn std::error::Error>> {
        let repo = tempfile::tempdir()?;
        // No process has pid i32::MAX - 1 here.
        let gone = LockId {
            pid: (i32::MAX - 1) as u32,
            ..LockId::ours()
        };
        std::fs::create_dir(repo.path().join(EXCLUSIVE))?;
        std::fs::write(repo.path().join(EXCLUSIVE).join(gone.file_name()), b"")?;
        let roster = json!({"shared": [gone.to_json()], "exclusive": []});
        std::fs::write(repo.path().join(ROSTER), serde_json::to_vec(&roster)?)?;
        let lock = BorgLock::acquire(repo.path(), Duration::ZERO)?;
        let roster: Value = serde_json::from_slice(&std::fs::read(repo.path().join(ROSTER))?)?;
        assert_eq!(roster["shared"], json!([LockId::ours().to_json()]));
        drop(lock);
        Ok(())
    }
}
