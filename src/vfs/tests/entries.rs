//! The entries inside a generation: stable and forgotten inodes, readdir with and without a handle,
//! writes refused, xattr sizes and ranges, hardlinks, statfs.

use super::*;

#[test]
fn inodes_are_stable_and_forgotten() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let first = walk(&tree, &["2026-01-01", "sub", "deeper", "inner"])?
        .attr
        .ino;
    assert_eq!(
        walk(&tree, &["2026-01-01", "sub", "deeper", "inner"])?
            .attr
            .ino,
        first
    );
    let held = tree.held_inodes();
    tree.forget(first, 2);
    assert_eq!(tree.held_inodes(), held - 1);
    assert_eq!(tree.getattr(first), Err(VfsError::NOT_FOUND));
    assert_eq!(
        walk(&tree, &["2026-01-01", "sub", "deeper", "inner"])?
            .attr
            .ino,
        first
    );
    Ok(())
}

/// A generation holding the usual tree and ten files `f0`..`f9`, laid out; its inode.
fn generation_of_ten_files()
-> Result<(tempfile::TempDir, Layout<FolderRepo>, Ino), Box<dyn std::error::Error>> {
    let dir = make_repo(&["2026-01-01"])?;
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("2026-01-01/f{i}")), b"x")?;
    }
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let gen_ino = tree.lookup(ROOT_INO, b"2026-01-01")?.attr.ino;
    Ok((dir, tree, gen_ino))
}

#[test]
fn readdirplus_counts_only_what_fits() -> TestResult {
    let (_dir, tree, gen_ino) = generation_of_ten_files()?;
    let before = tree.held_inodes();
    let handle = tree.opendir(gen_ino)?;
    let mut seen = Vec::new();
    tree.readdir(gen_ino, handle.fh, 0, Plus::Attrs, &mut |entry, plus| {
        if seen.len() == 5 {
            return false;
        }
        assert!(plus.is_some());
        seen.push(entry.clone());
        true
    })?;
    // ".", ".." and three children were added; the refused sixth entry is not counted.
    assert_eq!(tree.held_inodes(), before + 3);
    let mut rest = Vec::new();
    tree.readdir(
        gen_ino,
        handle.fh,
        seen[4].next_offset,
        Plus::Names,
        &mut |entry, _| {
            rest.push(String::from_utf8_lossy(&entry.name).into_owned());
            true
        },
    )?;
    assert_eq!(seen.len() + rest.len(), 2 + 12);
    assert!(!rest.contains(&String::from_utf8_lossy(&seen[4].name).into_owned()));
    Ok(())
}

/// An offered listing (FUSE's readdirplus) from offset 0: the names, and how many came with
/// attributes.
fn offered<T: VfsTree>(tree: &T, ino: Ino) -> VfsResult<(Vec<Vec<u8>>, usize)> {
    let (mut names, mut with_attrs) = (Vec::new(), 0);
    tree.readdir(ino, NO_HANDLE, 0, Plus::Offered, &mut |entry, attrs| {
        names.push(entry.name.clone());
        with_attrs += usize::from(attrs.is_some());
        true
    })?;
    Ok((names, with_attrs))
}

#[test]
fn offered_attributes_come_only_while_callers_look_up_what_they_list() -> TestResult {
    let (_dir, tree, gen_ino) = generation_of_ten_files()?;
    let held = tree.held_inodes();
    // A walk of names: only "." and ".." come, with attributes; nothing more is held.
    for _ in 0..200 {
        assert_eq!(
            offered(&tree, gen_ino)?,
            (vec![b".".to_vec(), b"..".to_vec()], 2)
        );
    }
    assert_eq!(tree.held_inodes(), held);
    // The rest is read as plain names, from where the bare listing stopped.
    let (rest, _) = names_by_inode(&tree, gen_ino, 2, usize::MAX);
    assert_eq!(rest.len(), 12);
    // A caller that looks up each file it lists soon gets them with the listing.
    let mut bare = 0;
    while offered(&tree, gen_ino)?.1 == 2 && bare < 1000 {
        bare += 1;
        for i in 0..10 {
            let entry = tree.lookup(gen_ino, format!("f{i}").as_bytes())?;
            tree.forget(entry.attr.ino, 1);
        }
    }
    assert!(bare <= 200, "{bare} bare listings");
    assert_eq!(offered(&tree, gen_ino)?.1, 14);
    Ok(())
}

/// Names listed without opendir (`NO_HANDLE`), from `offset`, at most `most` of them, with the
/// offset after the last.
fn names_by_inode<T: VfsTree>(tree: &T, ino: Ino, offset: u64, most: usize) -> (Vec<String>, u64) {
    let (mut names, mut next) = (Vec::new(), offset);
    let listed = tree.readdir(ino, NO_HANDLE, offset, Plus::Names, &mut |entry, _| {
        if names.len() == most {
            return false;
        }
        names.push(String::from_utf8_lossy(&entry.name).into_owned());
        next = entry.next_offset;
        true
    });
    assert_eq!(listed, Ok(()));
    (names, next)
}

#[test]
fn directories_list_without_opendir_fresh_from_offset_zero() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("2026-01-01/f{i}")), b"x")?;
    }
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let generation = tree.lookup(ROOT_INO, b"2026-01-01")?.attr.ino;
    let (first, next) = names_by_inode(&tree, generation, 0, 5);
    let (rest, _) = names_by_inode(&tree, generation, next, usize::MAX);
    let mut all = [first, rest].concat();
    all.sort();
    let listed = all.len();
    all.dedup();
    // ".", "..", make_repo's `file` and `sub`, and the ten.
    assert_eq!((listed, all.len()), (14, 14), "every entry once: {all:?}");
    assert_eq!(names_by_inode(&tree, ROOT_INO, 0, usize::MAX).0.len(), 5);
    std::fs::create_dir(dir.path().join("2026-02-01"))?;
    tree.refresh()?;
    let (root, _) = names_by_inode(&tree, ROOT_INO, 0, usize::MAX);
    assert!(root.contains(&"2026-02-01".to_string()), "{root:?}");
    Ok(())
}

#[test]
fn writes_are_refused_and_locks_unsupported() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let file = walk(&tree, &["2026-01-01", "file"])?.attr.ino;
    let write = OpenMode {
        write: true,
        ..Default::default()
    };
    assert_eq!(tree.open(file, write), Err(VfsError::READ_ONLY));
    assert_eq!(
        tree.open(
            file,
            OpenMode {
                truncate: true,
                ..Default::default()
            }
        ),
        Err(VfsError::READ_ONLY)
    );
    assert_eq!(tree.open(3, write), Err(VfsError::READ_ONLY));
    assert_eq!(
        tree.mutate(Mutation::MakeDir {
            parent: ROOT_INO,
            name: b"x"
        }),
        Err(VfsError::READ_ONLY)
    );
    assert_eq!(
        tree.mutate(Mutation::Unlink {
            parent: ROOT_INO,
            name: b"latest"
        }),
        Err(VfsError::READ_ONLY)
    );
    assert_eq!(
        tree.mutate(Mutation::Rename {
            parent: ROOT_INO,
            name: b"a",
            new_parent: ROOT_INO,
            new_name: b"b"
        }),
        Err(VfsError::READ_ONLY)
    );
    assert_eq!(
        tree.mutate(Mutation::SetAttr { ino: file }),
        Err(VfsError::READ_ONLY)
    );
    assert_eq!(
        tree.mutate(Mutation::SetXattr {
            ino: file,
            name: b"user.a",
            value: b"1"
        }),
        Err(VfsError::READ_ONLY)
    );
    assert_eq!(tree.access(file, true), Err(VfsError::READ_ONLY));
    assert_eq!(tree.access(file, false), Ok(()));
    assert_eq!(tree.setlk(file, 0), Err(VfsError::NOT_SUPPORTED));
    assert_eq!(tree.readlink(file), Err(VfsError::INVALID_ARGUMENT));
    Ok(())
}

/// Snapshot folders carry xattrs on Unix only (`repo::localfs`).
#[cfg(unix)]
#[test]
fn xattr_sizes_and_ranges() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    let path = dir.path().join("2026-01-01/file");
    if let Err(err) = xattr::set(&path, "user.colour", b"blue") {
        panic!("this test needs user xattrs on the temp directory's filesystem: {err}");
    }
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let file = walk(&tree, &["2026-01-01", "file"])?.attr.ino;
    assert_eq!(tree.getxattr(file, b"user.colour", 0)?, XattrReply::Size(4));
    assert_eq!(
        tree.getxattr(file, b"user.colour", 4)?,
        XattrReply::Data(b"blue".to_vec())
    );
    assert_eq!(tree.getxattr(file, b"user.colour", 3), Err(VfsError::RANGE));
    assert_eq!(
        tree.getxattr(file, b"user.none", 10),
        Err(VfsError::NO_XATTR)
    );
    assert_eq!(
        tree.getxattr(file, b"security.selinux", 0),
        Err(VfsError::NOT_SUPPORTED),
        "a label the backup did not record is not supported, so that ls stops asking"
    );
    assert_eq!(tree.listxattr(file, 0)?, XattrReply::Size(12));
    assert_eq!(tree.listxattr(file, 1), Err(VfsError::RANGE));
    assert_eq!(
        tree.getxattr(ROOT_INO, b"user.colour", 0),
        Err(VfsError::NO_XATTR)
    );
    Ok(())
}

#[test]
fn hardlinks_share_an_inode_and_report_nlink() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    std::fs::hard_link(
        dir.path().join("2026-01-01/file"),
        dir.path().join("2026-01-01/sub/link"),
    )?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let a = walk(&tree, &["2026-01-01", "file"])?;
    let b = walk(&tree, &["2026-01-01", "sub", "link"])?;
    assert_eq!(a.attr.ino, b.attr.ino);
    assert_eq!(a.attr.meta.nlink, 2);
    Ok(())
}

#[test]
fn statfs_reports_name_max() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let stats = tree.statfs(ROOT_INO)?;
    assert_eq!(stats.name_max, 255);
    Ok(())
}
