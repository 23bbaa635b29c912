//! The damage log: a repository failure is logged once per damaged object, however often the kernel
//! asks for it again, and turned into the error the caller sees.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::error::{RepoError, VfsError};

/// Damaged objects are each logged once; beyond this many the log would only repeat itself.
const MAX_DAMAGED_LOGGED: usize = 10_000;

#[derive(Default)]
pub struct DamageLog {
    seen: Mutex<HashSet<String>>,
}

impl DamageLog {
    /// Logs `err` (met while doing `what`) if it is the first report of that damage. Damage comes
    /// back with what it was about; a missing node does not (negative lookups are common and cheap).
    pub fn fail(&self, err: RepoError, what: &str) -> VfsError {
        if let RepoError::Damaged(msg) = &err {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() < MAX_DAMAGED_LOGGED && seen.insert(msg.clone()) {
                tracing::warn!(what, "damaged: {msg}");
            }
            return VfsError::from(err).about(what);
        }
        err.into()
    }
}
