//! Read-ahead across files through `VfsTree`: what a reader that reads a directory's files in
//! order gets pushed into the OS's cache, byte for byte, and what a reader out of order gets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::*;

/// An OS cache that keeps what it is given.
#[derive(Default, Clone)]
struct Shelf(Arc<Mutex<HashMap<Ino, Vec<u8>>>>);

impl KernelCache for Shelf {
    fn entry(&self, _parent: Ino, _name: &[u8]) {}
    fn inode(&self, _ino: Ino) {}
    fn store(&self, ino: Ino, data: &[u8]) -> bool {
        if let Ok(mut shelf) = self.0.lock() {
            shelf.insert(ino, data.to_vec());
        }
        true
    }
}

impl Shelf {
    /// What was pushed, once `count` files were (the workers run beside the test).
    fn wait_for(&self, count: usize) -> HashMap<Ino, Vec<u8>> {
        let start = Instant::now();
        loop {
            let shelf = self.0.lock().map(|s| s.clone()).unwrap_or_default();
            if shelf.len() >= count || start.elapsed() > Duration::from_secs(20) {
                return shelf;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

type ThirtyFiles = (
    tempfile::TempDir,
    Layout<FolderRepo>,
    Shelf,
    Vec<(String, Ino)>,
);

/// A generation with a directory of 30 files of different bytes, laid out with a shelf as the
/// OS's cache; the directory's files as listed (name, inode), each held as the kernel would.
fn thirty_files() -> Result<ThirtyFiles, Box<dyn std::error::Error>> {
    let dir = make_repo(&["2026-01-01"])?;
    std::fs::create_dir(dir.path().join("2026-01-01/many"))?;
    for i in 0..30 {
        let bytes = format!("file {i} ").repeat(100 + i);
        std::fs::write(dir.path().join(format!("2026-01-01/many/f{i:02}")), bytes)?;
    }
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let shelf = Shelf::default();
    tree.set_kernel_cache(Box::new(shelf.clone()));
    let many = walk(&tree, &["2026-01-01", "many"])?.attr.ino;
    let handle = tree.opendir(many)?;
    let mut files = Vec::new();
    tree.readdir(many, handle.fh, 0, Plus::Attrs, &mut |entry, _| {
        if entry.kind == crate::meta::FileKind::File {
            files.push((String::from_utf8_lossy(&entry.name).into_owned(), entry.ino));
        }
        true
    })?;
    tree.releasedir(many, handle.fh)?;
    Ok((dir, tree, shelf, files))
}

#[test]
fn a_reader_in_listing_order_finds_the_next_files_pushed_byte_for_byte() -> TestResult {
    let (dir, tree, shelf, files) = thirty_files()?;
    assert_eq!(files.len(), 30);
    read_all(&tree, files[0].1)?;
    assert!(shelf.wait_for(0).is_empty(), "one read shows no order");
    read_all(&tree, files[1].1)?;
    let pushed = shelf.wait_for(8);
    let mut expected = Vec::new();
    for (name, ino) in &files[2..10] {
        expected.push(*ino);
        let source = std::fs::read(dir.path().join("2026-01-01/many").join(name))?;
        assert_eq!(pushed.get(ino), Some(&source), "{name} as pushed");
    }
    let mut got: Vec<Ino> = pushed.keys().copied().collect();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected, "the first window is the next eight files");
    Ok(())
}

#[test]
fn a_reader_in_inode_order_is_followed_like_cp() -> TestResult {
    let (_dir, tree, shelf, listing) = thirty_files()?;
    let mut files = listing.clone();
    files.sort_by_key(|(_, ino)| *ino);
    // Start where two files next to each other by inode number are not next to each other in the
    // listing (inode numbers are hashes, so that differs from run to run): there the reader's
    // order cannot be taken for the listing's, which wins a tie.
    let place = |ino: Ino| listing.iter().position(|(_, i)| *i == ino);
    let k = (0..files.len() - 10)
        .find(|&k| place(files[k + 1].1) != place(files[k].1).map(|p| p + 1))
        .ok_or("every pair by inode number is a pair in the listing too")?;
    read_all(&tree, files[k].1)?;
    read_all(&tree, files[k + 1].1)?;
    let pushed = shelf.wait_for(8);
    let mut got: Vec<Ino> = pushed.keys().copied().collect();
    got.sort_unstable();
    let expected: Vec<Ino> = files[k + 2..k + 10].iter().map(|(_, ino)| *ino).collect();
    assert_eq!(got, expected);
    Ok(())
}

#[test]
fn files_the_kernel_does_not_hold_are_not_read_ahead() -> TestResult {
    let (_dir, tree, shelf, files) = thirty_files()?;
    for (_, ino) in &files[4..] {
        tree.forget(*ino, 1);
    }
    read_all(&tree, files[0].1)?;
    read_all(&tree, files[1].1)?;
    let pushed = shelf.wait_for(2);
    let mut got: Vec<Ino> = pushed.keys().copied().collect();
    got.sort_unstable();
    let mut expected = vec![files[2].1, files[3].1];
    expected.sort_unstable();
    assert_eq!(got, expected);
    Ok(())
}
