//! The layout exercised through `VfsTree` alone, over snapshot folders in a temporary directory:
//! no FUSE, no kernel, just the operations an adapter would call. This module holds the helpers
//! its test modules share.

mod entries;
mod push;
mod root_views;
mod versions_view;

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;
use crate::error::OpenError;
use crate::repo::folder::FolderRepo;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn make_repo(gens: &[&str]) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    for name in gens {
        let gen_dir = dir.path().join(name);
        std::fs::create_dir_all(gen_dir.join("sub/deeper"))?;
        std::fs::write(gen_dir.join("file"), name.as_bytes())?;
        std::fs::write(gen_dir.join("sub/deeper/inner"), b"inner")?;
    }
    Ok(dir)
}

fn layout(dir: &Path, options: LayoutOptions) -> Result<Layout<FolderRepo>, OpenError> {
    Layout::new(
        FolderRepo::open(dir)?,
        LayoutOptions {
            pid: 4242,
            ..options
        },
    )
}

fn names_of<T: VfsTree>(tree: &T, ino: Ino, plus: Plus) -> VfsResult<Vec<String>> {
    let dir = tree.opendir(ino)?;
    let mut names = Vec::new();
    tree.readdir(ino, dir.fh, 0, plus, &mut |entry, _| {
        names.push(String::from_utf8_lossy(&entry.name).into_owned());
        true
    })?;
    tree.releasedir(ino, dir.fh)?;
    Ok(names)
}

fn read_all<T: VfsTree>(tree: &T, ino: Ino) -> VfsResult<Vec<u8>> {
    let opened = tree.open(ino, OpenMode::default())?;
    let data = tree.read(ino, opened.fh, 0, 1 << 20)?;
    tree.flush(ino, opened.fh)?;
    tree.release(ino, opened.fh)?;
    Ok(data.to_vec())
}

fn walk<T: VfsTree>(tree: &T, path: &[&str]) -> VfsResult<Entry> {
    let mut entry = tree.getattr(ROOT_INO)?;
    for part in path {
        entry = tree.lookup(entry.attr.ino, part.as_bytes())?;
    }
    Ok(entry)
}

#[derive(Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl KernelCache for Recorder {
    fn entry(&self, parent: Ino, name: &[u8]) {
        let text = format!("entry {parent} {}", String::from_utf8_lossy(name));
        self.0.lock().map(|mut v| v.push(text)).unwrap_or_default();
    }
    fn inode(&self, ino: Ino) {
        self.0
            .lock()
            .map(|mut v| v.push(format!("inode {ino}")))
            .unwrap_or_default();
    }
}
