//! Where the inodes the kernel holds are, as names under their parents, so that a file can be
//! named by its mount-relative path (in `.damaged`). Kept only on mounts that can serve zeros.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Ino, ROOT_INO};

/// How many parents a path is followed up: deeper is a cycle (a number reused) or absurd.
const MAX_DEPTH: usize = 4096;

/// Each held inode's parent and name.
#[derive(Default)]
pub struct Origins {
    by_ino: Mutex<HashMap<Ino, (Ino, Vec<u8>)>>,
}

impl Origins {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Ino, (Ino, Vec<u8>)>> {
        self.by_ino.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `ino` is `name` in `parent` (the latest name wins for a hardlinked file).
    pub fn note(&self, ino: Ino, parent: Ino, name: &[u8]) {
        if ino == ROOT_INO {
            return;
        }
        let mut map = self.lock();
        match map.get(&ino) {
            Some((p, n)) if *p == parent && n == name => {}
            _ => {
                map.insert(ino, (parent, name.to_vec()));
            }
        }
    }

    /// The kernel forgot `ino`.
    pub fn forget(&self, ino: Ino) {
        self.lock().remove(&ino);
    }

    /// The mount-relative path of `ino`; `fixed` names the directories that are not in the table
    /// (the root's groups) by their own paths. `None` when the chain is broken.
    pub fn path(&self, ino: Ino, fixed: &dyn Fn(Ino) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
        let map = self.lock();
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut at = ino;
        let mut prefix = None;
        for _ in 0..MAX_DEPTH {
            if at == ROOT_INO {
                break;
            }
            if let Some(path) = fixed(at) {
                prefix = Some(path);
                break;
            }
            let (parent, name) = map.get(&at)?;
            parts.push(name);
            at = *parent;
        }
        if at != ROOT_INO && prefix.is_none() {
            return None;
        }
        let mut path = prefix.unwrap_or_default();
        for part in parts.iter().rev() {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(part);
        }
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_parents_up_to_the_root_or_a_fixed_directory() {
        let origins = Origins::default();
        origins.note(20, ROOT_INO, b"gen");
        origins.note(21, 20, b"dir");
        origins.note(22, 21, b"file");
        origins.note(30, 5, b"grouped");
        let fixed = |ino: Ino| (ino == 5).then(|| b"host".to_vec());
        assert_eq!(
            origins.path(22, &fixed).as_deref(),
            Some(&b"gen/dir/file"[..])
        );
        assert_eq!(
            origins.path(30, &fixed).as_deref(),
            Some(&b"host/grouped"[..])
        );
        origins.forget(21);
        assert_eq!(origins.path(22, &fixed), None);
    }
}
