//! Verified objects by id, from either source: a local repository's segments (located in the
//! object index, read with positioned reads) or `borg serve` over ssh (`rpc`). Every object is
//! opened (MAC, decryption, decompression, id) here by the repository's key, whichever its source.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use super::config::hex;
use super::crypto;
use super::key::Key;
use super::objects::{self, ObjectIndex};
#[cfg(unix)]
use super::rpc::{Client, RpcError};
use super::segments::Segments;

/// The repository's objects as one verified store.
pub struct Store {
    pub objects: Objects,
    pub key: Key,
}

/// Where the stored objects come from.
pub enum Objects {
    Local(Local),
    /// Boxed: a connection's mutexes are large on some systems.
    #[cfg(unix)]
    Remote(Box<Remote>),
}

/// A repository on a local (or mounted) filesystem.
pub struct Local {
    pub path: PathBuf,
    pub segments: Segments,
    pub index: RwLock<Arc<ObjectIndex>>,
    /// The last committed segment the object index reflects.
    pub transaction: Mutex<Option<u32>>,
}

/// A repository reached through `borg serve`.
#[cfg(unix)]
pub struct Remote {
    pub client: Client,
    /// Whether the server holds borg's shared lock for us (then no commit can happen meanwhile).
    pub locked: bool,
}

impl Store {
    /// The verified plaintext of object `id`; the error names the object and what failed.
    pub fn get(&self, id: &[u8; 32]) -> Result<Vec<u8>, String> {
        self.open(id, crypto::Check::Id)
    }

    /// The verified plaintext of the manifest, the one object whose id is not its hash.
    pub fn manifest(&self) -> Result<Vec<u8>, String> {
        self.open(&crypto::MANIFEST_ID, crypto::Check::Manifest)
    }

    /// The verified plaintexts of `ids`, in order; from a server, with several requests in
    /// flight (as borg's `get_many`), so that a round trip is not paid per object.
    pub fn get_many<'a>(
        &'a self,
        ids: &'a [[u8; 32]],
    ) -> Box<dyn Iterator<Item = Result<Vec<u8>, String>> + Send + 'a> {
        match &self.objects {
            Objects::Local(_) => Box::new(ids.iter().map(|id| self.get(id))),
            #[cfg(unix)]
            Objects::Remote(remote) => {
                Box::new(remote.client.get_many(ids).zip(ids).map(|(stored, id)| {
                    let stored = stored.map_err(|e| remote_error(id, e))?;
                    crypto::open_object(&self.key, id, stored, crypto::Check::Id)
                        .map_err(|e| format!("object {}: {e}", short(id)))
                }))
            }
        }
    }

    /// The object as stored: its type byte, MAC and (encrypted, compressed) data.
    pub fn stored(&self, id: &[u8; 32]) -> Result<Vec<u8>, String> {
        match &self.objects {
            Objects::Local(local) => {
                let index = local
                    .index
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let (segment, offset) = index
                    .get(id)
                    .ok_or_else(|| format!("object {} is not in the index", short(id)))?;
                local
                    .segments
                    .read_put(id, segment, offset)
                    .map_err(|e| format!("object {}: {e}", short(id)))
            }
            #[cfg(unix)]
            Objects::Remote(remote) => remote.client.get(id).map_err(|e| remote_error(id, e)),
        }
    }

    fn open(&self, id: &[u8; 32], check: crypto::Check) -> Result<Vec<u8>, String> {
        let stored = self.stored(id)?;
        crypto::open_object(&self.key, id, stored, check)
            .map_err(|e| format!("object {}: {e}", short(id)))
    }

    /// Makes objects committed since the store was opened (or last refreshed) readable: a local
    /// repository re-reads its index after a new commit; a server without our lock is told to
    /// re-read its own (with the lock, nothing can have been committed).
    pub fn refresh(&self) -> Result<(), String> {
        match &self.objects {
            Objects::Local(local) => local.refresh(),
            #[cfg(unix)]
            Objects::Remote(remote) if !remote.locked => {
                remote.client.forget_index().map_err(|e| e.to_string())
            }
            #[cfg(unix)]
            Objects::Remote(_) => Ok(()),
        }
    }

    /// The bytes of the segment files, for a local repository.
    #[cfg_attr(not(unix), allow(clippy::infallible_destructuring_match))]
    pub fn stored_bytes(&self) -> Option<u64> {
        let local = match &self.objects {
            Objects::Local(local) => local,
            #[cfg(unix)]
            Objects::Remote(_) => return None,
        };
        let segments = local.segments.list().ok()?;
        Some(
            segments
                .iter()
                .filter_map(|s| std::fs::metadata(local.segments.path(*s)).ok())
                .map(|m| m.len())
                .sum(),
        )
    }

    /// Whether objects come over a connection, where waiting for replies dominates.
    pub fn is_remote(&self) -> bool {
        !matches!(self.objects, Objects::Local(_))
    }

    /// Ends the connection to a server (its lock is given back); nothing for a local repository.
    pub fn close(&self) {
        #[cfg(unix)]
        if let Objects::Remote(remote) = &self.objects {
            remote.client.close();
        }
    }
}

impl Local {
    /// Re-reads the object index when a new transaction was committed.
    fn refresh(&self) -> Result<(), String> {
        let mut transaction = self.transaction.lock().unwrap_or_else(|p| p.into_inner());
        let segments = self.segments.list().map_err(|e| format!("segments: {e}"))?;
        let latest = segments
            .iter()
            .rev()
            .copied()
            .find(|s| self.segments.ends_with_commit(*s));
        if latest == *transaction {
            return Ok(());
        }
        let (index, committed) = objects::load(&self.path, &self.segments)?;
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
        self.segments.forget_open();
        *transaction = committed;
        Ok(())
    }
}

/// A server's failure to give object `id`, as a message naming it.
#[cfg(unix)]
fn remote_error(id: &[u8; 32], err: RpcError) -> String {
    match err {
        RpcError::Remote { class, .. } if class == "ObjectNotFound" => {
            format!("object {} is not in the repository", short(id))
        }
        other => format!("object {}: {other}", short(id)),
    }
}

/// The first 8 bytes of an id in hex, as borg's messages show ids.
pub fn short(id: &[u8; 32]) -> String {
    hex(&id[..8])
}
