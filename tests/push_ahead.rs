//! Read-ahead across files through the real kernel: a reader that copies a directory's small files
//! in order (here `cp -r`'s, by inode number) finds the next ones in the page cache before it asks
//! for them, with exactly their bytes; files away from its path are not read for it.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/restic_fixture.rs"]
mod restic_fixture;

use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use restic_fixture::*;

#[test]
fn a_copy_in_inode_order_finds_the_next_files_in_the_page_cache() -> TestResult {
    let mut fixture = Fixture::init("read ahead")?;
    let many = fixture.src().join("many");
    std::fs::create_dir(&many)?;
    for i in 0..60u64 {
        let name = format!("f{i:02}");
        std::fs::write(many.join(name), pseudo_random(3000 + 97 * i as usize, i))?;
    }
    fixture.backup();
    let paths = fixture.paths();
    let _mount = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
    let dir = fixture.mnt().join("latest/many");
    // As `cp -r` does: list, order by inode number, and stat each entry (the kernel then holds it).
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| (e.ino(), e.path())))
        .collect::<Result<_, _>>()?;
    files.sort();
    for (_, path) in &files {
        std::fs::symlink_metadata(path)?;
    }
    let source = |path: &Path| std::fs::read(many.join(path.file_name().expect("a name")));
    // Start where two files next to each other by inode number are not next to each other by
    // name: there the reader's order cannot be taken for the listing's.
    // The number in a file's name, `fNN`.
    let number = |k: usize| {
        let name = files[k]
            .1
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        name.unwrap_or_default()[1..].parse::<i64>()
    };
    let mut k = 0;
    while (number(k)? - number(k + 1)?).abs() == 1 {
        k += 1;
    }
    for (_, path) in &files[k..k + 2] {
        assert_eq!(std::fs::read(path)?, source(path)?);
    }
    let (window, later) = (&files[k + 2..k + 10], &files[k + 20..]);
    let start = Instant::now();
    while !window.iter().all(|(_, path)| fully_resident(path)) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the next files in the copy's order never arrived in the page cache"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !later.iter().any(|(_, path)| fully_resident(path)),
        "files far ahead were not read"
    );
    for (_, path) in &files {
        assert_eq!(std::fs::read(path)?, source(path)?, "{}", path.display());
    }
    Ok(())
}
