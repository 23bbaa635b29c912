//! A copy out of a mounted local repository keeps one copy of its bytes in memory, not two: the
//! restic packs and the stretches of borg segments genmount has read through leave the page cache;
//! the mounted files' own pages are the ones that stay.
// They mount through Linux's FUSE and ask the page cache with mincore: Linux only.
#![cfg(target_os = "linux")]

#[path = "common/borg_fixture.rs"]
mod borg_fixture;
mod common;
// The fixture has more than this test uses.
#[allow(dead_code)]
#[path = "common/hostile_fixture.rs"]
mod hostile_fixture;
#[path = "common/restic_writer.rs"]
mod restic_writer;

use std::path::PathBuf;

use common::*;
use restic_writer::TreeBuilder;

/// Files, each in a pack of its own: more packs than genmount keeps open (16).
const FILES: usize = 24;

/// Every file under `dir`, recursively.
fn files_under(dir: PathBuf) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(files_under(path)?);
        } else {
            found.push(path);
        }
    }
    Ok(found)
}

#[test]
fn packs_read_and_passed_leave_the_page_cache() -> TestResult {
    require_fuse();
    let fixture = hostile_fixture::Fixture::new()?;
    let mut writer = fixture.writer()?;
    let files: Vec<Vec<u8>> = (0..FILES)
        .map(|i| pseudo_random(300_000 + i, i as u64 + 40))
        .collect();
    let mut root = TreeBuilder::new();
    for (i, bytes) in files.iter().enumerate() {
        root = root.file(
            &format!("f{i:02}"),
            &writer.content(bytes)?,
            bytes.len() as u64,
        );
        writer.seal_data_pack()?;
    }
    let tree = writer.tree(&root)?;
    writer.snapshot(&tree)?;
    // Written pages are dirty until written back, and the kernel keeps dirty pages however it is
    // advised: start from packs that are on disk and, having just been written, in the page cache.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let packs = files_under(fixture.repo().join("data"))?;
    assert_eq!(packs.len(), FILES + 1, "a pack per file and one of trees");
    assert!(packs.iter().all(|pack| fully_resident(pack)));

    let _mount = fixture.mount();
    let generation = fixture.generation()?;
    for (i, bytes) in files.iter().enumerate() {
        let read = std::fs::read(generation.join(format!("f{i:02}")))?;
        assert!(read == *bytes, "f{i:02} reads as written");
    }
    let gone = packs
        .iter()
        .filter(|pack| resident_pages(pack).0 == 0)
        .count();
    assert!(
        gone >= packs.len() - 16,
        "only {gone} of {} packs left the page cache after being read",
        packs.len()
    );
    Ok(())
}

#[test]
fn borg_segments_streamed_through_leave_the_page_cache() -> TestResult {
    require_fuse();
    let mut fixture = borg_fixture::Fixture::init("repokey", "none");
    let bytes = pseudo_random(96 << 20, 11);
    std::fs::write(fixture.src().join("big"), &bytes)?;
    fixture.backup("one");
    let segments = borg_fixture::segments(&fixture.repo());
    let segment = segments
        .iter()
        .max_by_key(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
        .ok_or("no segment")?;

    let _mount = fixture.mount(&[]);
    let read = std::fs::read(fixture.mnt().join("one/big"))?;
    assert!(read == bytes, "the file reads as written");
    // Read through in stretches of 16 MiB, 32 MiB behind the reader: of 96 MiB, at least 48 go.
    let (resident, all) = resident_pages(segment);
    assert!(
        resident * 10 < all * 6,
        "{resident} of {all} pages of {} still cached after reading it through",
        segment.display()
    );
    Ok(())
}
