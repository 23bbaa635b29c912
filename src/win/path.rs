//! Path-based access over the inode-based `VfsTree`, as WinFsp needs it: `\gen\dir\file` resolved
//! one component at a time through Windows listings, and symlink targets turned into Windows paths.

use super::dircache::DirCache;
use super::names::to_windows;
use crate::error::{VfsError, VfsResult};
use crate::vfs::{Entry, ROOT_INO, VfsTree};

/// A node reached by a Windows path: its entry (one lookup is held on it until `release`) and
/// its name in the backup.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub entry: Entry,
    pub raw_name: Vec<u8>,
}

/// Resolves a Windows path through the directories `dirs` keeps. Every lookup of a component on
/// the way is forgotten again; the last one is held, and `release` must be called when the caller
/// is done with it.
pub fn resolve<T: VfsTree>(tree: &T, dirs: &DirCache, path: &str) -> VfsResult<Resolved> {
    let mut current = Resolved {
        entry: tree.getattr(ROOT_INO)?,
        raw_name: Vec::new(),
    };
    let mut held = false;
    for component in path.split(['\\', '/']).filter(|c| !c.is_empty()) {
        let next = dirs.get(tree, &current.entry).and_then(|dir| {
            let child = dir.find(component).ok_or(VfsError::NOT_FOUND)?;
            let raw = child.name.raw.clone();
            Ok((tree.lookup(current.entry.attr.ino, &raw)?, raw))
        });
        if held {
            tree.forget(current.entry.attr.ino, 1);
        }
        let (entry, raw_name) = next?;
        current = Resolved { entry, raw_name };
        held = true;
    }
    Ok(current)
}

/// Gives back the lookup `resolve` held (the root holds none).
pub fn release<T: VfsTree>(tree: &T, resolved: &Resolved) {
    if resolved.entry.attr.ino != ROOT_INO {
        tree.forget(resolved.entry.attr.ino, 1);
    }
}

/// A symlink's target as Windows reads it: `/` becomes `\` and each component is mapped like a name.
/// Returns the target and whether it is relative (absolute POSIX targets have no meaning on Windows).
pub fn windows_link_target(target: &[u8]) -> (String, bool) {
    let relative = target.first() != Some(&b'/');
    let parts: Vec<String> = target
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p == b"." || p == b".." {
                String::from_utf8_lossy(p).into_owned()
            } else {
                to_windows(p)
            }
        })
        .collect();
    let joined = parts.join("\\");
    (
        if relative {
            joined
        } else {
            format!("\\{joined}")
        },
        relative,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{Layout, LayoutOptions};
    use crate::win::dircache::DEFAULT_CAPACITY;
    use crate::win::memrepo::MemRepo;

    #[test]
    fn link_targets_become_windows_paths() {
        assert_eq!(
            windows_link_target(b"../docs/a:b.txt"),
            ("..\\docs\\a\u{F03A}b.txt".to_string(), true)
        );
        assert_eq!(
            windows_link_target(b"/etc/passwd"),
            ("\\etc\\passwd".to_string(), false)
        );
        assert_eq!(windows_link_target(b"file"), ("file".to_string(), true));
    }

    #[test]
    fn paths_resolve_case_insensitively_and_through_collisions()
    -> Result<(), Box<dyn std::error::Error>> {
        let repo = MemRepo::new(&[
            ("2026-01-01/Docs/README", b"upper"),
            ("2026-01-01/Docs/Readme", b"mixed"),
            ("2026-01-01/Docs/a:b", b"colon"),
        ]);
        let tree = Layout::new(repo, LayoutOptions::default())?;
        let dirs = DirCache::new(DEFAULT_CAPACITY);
        let read = |path: &str| -> VfsResult<Vec<u8>> {
            let resolved = resolve(&tree, &dirs, path)?;
            let opened = tree.open(resolved.entry.attr.ino, Default::default())?;
            let data = tree.read(resolved.entry.attr.ino, opened.fh, 0, 100)?;
            tree.release(resolved.entry.attr.ino, opened.fh)?;
            release(&tree, &resolved);
            Ok(data.to_vec())
        };
        assert_eq!(read("\\2026-01-01\\docs\\README")?, b"upper");
        assert_eq!(read("\\2026-01-01\\DOCS\\Readme (2)")?, b"mixed");
        assert_eq!(read("\\2026-01-01\\Docs\\readme")?, b"upper");
        assert_eq!(read("\\2026-01-01\\Docs\\a\u{F03A}b")?, b"colon");
        // Windows follows `latest` itself through its reparse point; genmount never does.
        assert_eq!(
            read("\\latest\\Docs\\README").err(),
            Some(VfsError::NOT_DIR)
        );
        assert_eq!(
            resolve(&tree, &dirs, "\\nope").err(),
            Some(VfsError::NOT_FOUND)
        );
        assert_eq!(resolve(&tree, &dirs, "\\")?.entry.attr.ino, ROOT_INO);
        Ok(())
    }
}
