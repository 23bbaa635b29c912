//! How much a generation holds (bytes of file content, number of entries), for `statfs` when the
//! repository does not record it. Walks without recursion, so deep trees cannot exhaust the stack.

use std::collections::HashMap;

use crate::error::RepoError;
use crate::meta::{FileKind, Node};
use crate::repo::Repository;

/// Bytes of regular-file content and number of entries below a directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub entries: u64,
}

impl Usage {
    fn add(&mut self, other: Usage) {
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.entries = self.entries.saturating_add(other.entries);
    }
}

/// Directories whose totals are known, by the repository's key for them (shared subtrees).
pub type Memo = HashMap<u64, Usage>;

struct Frame<H> {
    key: Option<u64>,
    total: Usage,
    pending: Vec<Node<H>>,
}

/// The usage below `root`, reusing and filling `memo` for directories the repository can key.
pub fn measure<R: Repository>(
    repo: &R,
    root: &Node<R::Handle>,
    memo: &mut Memo,
) -> Result<Usage, RepoError> {
    let mut stack = vec![enter(repo, root)?];
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(Usage::default());
        };
        match top.pending.pop() {
            Some(child) if child.meta.kind == FileKind::Dir => {
                top.total.add(Usage {
                    bytes: 0,
                    entries: 1,
                });
                match repo.dir_key(&child.handle).and_then(|k| memo.get(&k)) {
                    Some(known) => top.total.add(*known),
                    None => stack.push(enter(repo, &child)?),
                }
            }
            Some(child) => {
                let bytes = if child.meta.kind == FileKind::File {
                    child.meta.size
                } else {
                    0
                };
                top.total.add(Usage { bytes, entries: 1 });
            }
            None => {
                let done = stack.pop().map(|f| (f.key, f.total)).unwrap_or_default();
                if let Some(key) = done.0 {
                    memo.insert(key, done.1);
                }
                match stack.last_mut() {
                    Some(parent) => parent.total.add(done.1),
                    None => return Ok(done.1),
                }
            }
        }
    }
}

fn enter<R: Repository>(repo: &R, dir: &Node<R::Handle>) -> Result<Frame<R::Handle>, RepoError> {
    let pending = repo
        .list(&dir.handle)?
        .into_iter()
        .map(|(_, node)| node)
        .collect();
    Ok(Frame {
        key: repo.dir_key(&dir.handle),
        total: Usage::default(),
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::folder::FolderRepo;

    #[test]
    fn counts_bytes_and_entries_below_a_folder() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let generation = dir.path().join("2026-01-01");
        std::fs::create_dir_all(generation.join("a/b/c"))?;
        std::fs::write(generation.join("one"), b"12345")?;
        std::fs::write(generation.join("a/b/c/two"), b"123")?;
        // Windows lets only administrators make symlinks.
        #[cfg(unix)]
        std::os::unix::fs::symlink("one", generation.join("link"))?;
        let repo = FolderRepo::open(dir.path())?;
        let root = repo.root(&repo.generations()[0])?;
        let usage = measure(&repo, &root, &mut Memo::new())?;
        assert_eq!(
            usage,
            Usage {
                bytes: 8,
                entries: if cfg!(unix) { 6 } else { 5 }
            }
        );
        Ok(())
    }
}
