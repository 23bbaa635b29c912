//! The archive trees kept decoded: the few archives entered last (a tree costs a few hundred bytes
//! an entry, so memory is bounded by a few archives, not by the repository), built one at a time
//! so that readers entering one archive together decode it once.

use std::sync::{Arc, Mutex, Weak};

use super::archives::ArchiveRef;
use super::tree::ArchiveTree;
use crate::error::RepoError;

/// Archives whose trees stay decoded after they were last entered.
const KEPT: usize = 4;

/// The trees of the archives entered last, most recent at the end.
#[derive(Default)]
pub struct RecentTrees {
    kept: Mutex<Vec<([u8; 32], Arc<ArchiveTree>)>>,
    building: Mutex<()>,
}

impl RecentTrees {
    /// The tree of archive `id`, kept or built now by `build`.
    pub fn get_or_build(
        &self,
        id: &[u8; 32],
        build: impl FnOnce() -> Result<ArchiveTree, RepoError>,
    ) -> Result<Arc<ArchiveTree>, RepoError> {
        if let Some(tree) = self.recent(id) {
            return Ok(tree);
        }
        let _one_at_a_time = self.building.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tree) = self.recent(id) {
            return Ok(tree);
        }
        let tree = Arc::new(build()?);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.push((*id, tree.clone()));
        if kept.len() > KEPT {
            kept.remove(0);
        }
        Ok(tree)
    }

    /// A kept tree, now the most recent.
    fn recent(&self, id: &[u8; 32]) -> Option<Arc<ArchiveTree>> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let at = kept.iter().position(|(k, _)| k == id)?;
        let entry = kept.remove(at);
        let tree = entry.1.clone();
        kept.push(entry);
        Some(tree)
    }
}

/// An archive's root as the mount holds it: the archive, and its tree while anything still uses it
/// (an archive in use is not decoded again after it left the recent ones).
pub struct RootSlot {
    pub archive: ArchiveRef,
    tree: Mutex<Weak<ArchiveTree>>,
}

impl RootSlot {
    pub fn new(archive: ArchiveRef) -> RootSlot {
        RootSlot {
            archive,
            tree: Mutex::new(Weak::new()),
        }
    }

    /// The tree, still alive or from `get`.
    pub fn tree(
        &self,
        get: impl FnOnce(&ArchiveRef) -> Result<Arc<ArchiveTree>, RepoError>,
    ) -> Result<Arc<ArchiveTree>, RepoError> {
        let mut slot = self.tree.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tree) = slot.upgrade() {
            return Ok(tree);
        }
        let tree = get(&self.archive)?;
        *slot = Arc::downgrade(&tree);
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::Builder;
    use super::*;
    use crate::meta::Timestamp;

    fn archive(n: u8) -> ArchiveRef {
        ArchiveRef {
            name: format!("a{n}"),
            id: [n; 32],
            time: Timestamp::EPOCH,
        }
    }

    #[test]
    fn the_last_few_are_kept_and_a_tree_in_use_is_not_built_again() -> Result<(), RepoError> {
        let recent = RecentTrees::default();
        let builds = std::cell::Cell::new(0);
        let get = |n: u8| {
            recent.get_or_build(&[n; 32], || {
                builds.set(builds.get() + 1);
                Ok(Builder::new(Timestamp::EPOCH).finish())
            })
        };
        let first = get(1)?;
        get(1)?;
        for n in 2..=(KEPT as u8 + 1) {
            get(n)?;
        }
        assert_eq!(
            builds.get(),
            KEPT + 1,
            "archive 1 was built once while kept"
        );
        // Archive 1 has left the kept ones; its root still reaches the tree in use.
        let slot = RootSlot::new(archive(1));
        let held = slot.tree(|_| Ok(first.clone()))?;
        let again = slot.tree(|_| Err(RepoError::NotFound))?;
        assert!(Arc::ptr_eq(&held, &again));
        Ok(())
    }
}
