//! Views of restic repositories mounted through the real kernel FUSE: unchanged backups folded into
//! symlinks, and the versions view holding every distinct version of every path once.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/restic_fixture.rs"]
mod restic_fixture;

use std::path::{Path, PathBuf};

use common::*;
use restic_fixture::*;

#[test]
fn unchanged_backups_fold_into_symlinks_with_fold_identical() -> TestResult {
    let mut fixture = two_snapshots(0);
    // A third backup of an unchanged tree stores the same tree as the second.
    fixture.backup();
    let paths = fixture.paths();
    let _mount = Mount::start(&fixture.args(&paths, &["--fold-identical"]), &fixture.mnt());
    let names = generation_names(&fixture.mnt());
    assert_eq!(names.len(), 3, "{names:?}");
    let third = fixture.mnt().join(&names[2]);
    assert!(
        std::fs::symlink_metadata(&third)?.file_type().is_symlink(),
        "the repeat is a symlink"
    );
    assert_eq!(std::fs::read_link(&third)?, Path::new(&names[1]));
    assert!(std::fs::symlink_metadata(fixture.mnt().join(&names[1]))?.is_dir());
    assert_eq!(
        std::fs::read(fixture.mnt().join("latest/variant"))?,
        [1],
        "latest reads through the fold"
    );
    Ok(())
}

/// What a version is, to compare a mounted one with a captured one.
#[derive(Debug, PartialEq)]
enum Identity {
    File(Vec<u8>),
    Link(PathBuf),
    Other(u32),
}

fn identity_of(entry: &Captured) -> Identity {
    use std::os::unix::fs::MetadataExt;
    match (&entry.digest, &entry.target) {
        (Some(digest), _) => Identity::File(digest.clone()),
        (None, Some(target)) => Identity::Link(target.clone()),
        _ => Identity::Other(entry.md.mode() & libc::S_IFMT),
    }
}

fn identity_on_mount(path: &Path) -> std::io::Result<Identity> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    let md = path.symlink_metadata()?;
    Ok(if md.is_file() {
        Identity::File(sha2::Sha256::digest(std::fs::read(path)?).to_vec())
    } else if md.file_type().is_symlink() {
        Identity::Link(std::fs::read_link(path)?)
    } else {
        Identity::Other(md.mode() & libc::S_IFMT)
    })
}

#[test]
fn versions_view_shows_every_distinct_version_once() -> TestResult {
    let mut fixture = two_snapshots(0);
    // The first snapshot's byte comes back: it must fold into the first generation's version.
    std::fs::write(fixture.src().join("variant"), [0])?;
    fixture.backup();
    let paths = fixture.paths();
    let generations = {
        let _plain = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
        generation_names(&fixture.mnt())
    };
    assert_eq!(generations.len(), 3, "{generations:?}");
    // The smallest blob cache: every version still reads exactly.
    let versions = ["--view", "versions", "--cache-size", "8M"];
    let _mount = Mount::start(&fixture.args(&paths, &versions), &fixture.mnt());
    let mnt = fixture.mnt();
    let every_path: std::collections::BTreeSet<&PathBuf> =
        fixture.captured.iter().flat_map(|c| c.keys()).collect();
    let mut files_checked = 0;
    for rel in every_path {
        let states: Vec<(usize, &Captured)> = (0..3)
            .filter_map(|i| fixture.captured[i].get(rel).map(|entry| (i, entry)))
            .collect();
        let a_dir_somewhere = states.iter().any(|(_, entry)| entry.md.is_dir());
        if a_dir_somewhere {
            assert!(mnt.join(rel).is_dir(), "{} is a directory", rel.display());
        }
        let mut expected: Vec<(&str, Identity)> = Vec::new();
        for (i, entry) in states.iter().filter(|(_, entry)| !entry.md.is_dir()) {
            let identity = identity_of(entry);
            if !expected.iter().any(|(_, seen)| *seen == identity) {
                expected.push((&generations[*i], identity));
            }
        }
        if expected.is_empty() {
            continue;
        }
        let mut versions_dir = mnt.join(rel).into_os_string();
        if a_dir_somewhere {
            versions_dir.push("~versions");
        }
        let versions_dir = PathBuf::from(versions_dir);
        let mut shown: Vec<String> = std::fs::read_dir(&versions_dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        shown.sort();
        assert_eq!(shown.len(), expected.len(), "{}: {shown:?}", rel.display());
        for ((generation, identity), name) in expected.iter().zip(&shown) {
            assert!(
                name.starts_with(generation),
                "{name} is named by {generation}"
            );
            assert_eq!(
                identity_on_mount(&versions_dir.join(name))?,
                *identity,
                "{name}"
            );
        }
        files_checked += 1;
    }
    assert!(files_checked > 20, "only {files_checked} files checked");
    let variant: Vec<_> = std::fs::read_dir(mnt.join("variant"))?.collect();
    assert_eq!(variant.len(), 2, "three backups, two distinct contents");
    assert!(std::fs::create_dir(mnt.join("variant/new")).is_err());
    Ok(())
}
