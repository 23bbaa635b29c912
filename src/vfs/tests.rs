//! The layout exercised through `VfsTree` alone, over snapshot folders in a temporary directory:
//! no FUSE, no kernel, just the operations an adapter would call.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;
use crate::error::OpenError;
use crate::repo::Repository;
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

fn names_of<T: VfsTree>(tree: &T, ino: Ino, plus: bool) -> VfsResult<Vec<String>> {
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

impl Invalidator for Recorder {
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

#[test]
fn root_lists_finished_generations_latest_and_pid() -> TestResult {
    let dir = make_repo(&["2026-01-01", "2026-01-02", "2026-01-03.partial", ".hidden"])?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let names = names_of(&tree, ROOT_INO, false)?;
    assert_eq!(
        names,
        [".", "..", "2026-01-01", "2026-01-02", "latest", ".pid"]
    );
    let latest = tree.lookup(ROOT_INO, b"latest")?;
    assert_eq!(latest.attr.meta.kind, crate::meta::FileKind::Symlink);
    assert_eq!(tree.readlink(latest.attr.ino)?, b"2026-01-02");
    let pid = tree.lookup(ROOT_INO, b".pid")?;
    assert_eq!(read_all(&tree, pid.attr.ino)?, b"4242\n");
    assert_eq!(pid.attr.meta.size, 5);
    assert_eq!(
        tree.lookup(ROOT_INO, b"2026-01-03.partial"),
        Err(VfsError::NOT_FOUND)
    );
    Ok(())
}

#[test]
fn generation_directory_carries_its_end_time() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let generation = tree.lookup(ROOT_INO, b"2026-01-01")?;
    let end = tree.repository().generations()[0].end;
    assert_eq!(generation.attr.meta.mtime, end);
    assert_eq!(generation.attr.meta.ctime, end);
    assert_eq!(
        read_all(&tree, walk(&tree, &["2026-01-01", "file"])?.attr.ino)?,
        b"2026-01-01"
    );
    Ok(())
}

#[test]
fn reading_pid_refreshes_and_invalidates() -> TestResult {
    let dir = make_repo(&["2026-01-01", "2026-01-02"])?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let log = Arc::new(Mutex::new(Vec::new()));
    tree.set_invalidator(Box::new(Recorder(log.clone())));
    std::fs::create_dir(dir.path().join("2026-01-03"))?;
    std::fs::remove_dir_all(dir.path().join("2026-01-01"))?;
    assert_eq!(
        names_of(&tree, ROOT_INO, false)?.len(),
        6,
        "no refresh before .pid is read"
    );
    let pid = tree.lookup(ROOT_INO, b".pid")?;
    // A read from the start refreshes by itself: Linux never sends the FLUSH of its close.
    tree.read(pid.attr.ino, NO_HANDLE, 0, 4096)?;
    assert_eq!(
        names_of(&tree, ROOT_INO, false)?,
        [".", "..", "2026-01-02", "2026-01-03", "latest", ".pid"]
    );
    assert_eq!(
        tree.readlink(tree.lookup(ROOT_INO, b"latest")?.attr.ino)?,
        b"2026-01-03"
    );
    let log = log.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(log.contains(&"entry 1 2026-01-01".to_string()), "{log:?}");
    assert!(log.contains(&"entry 1 latest".to_string()), "{log:?}");
    Ok(())
}

#[test]
fn single_view_picks_latest_back_n() -> TestResult {
    let dir = make_repo(&["2026-01-01", "2026-01-02", "2026-01-03"])?;
    let options = LayoutOptions {
        view: View::Single,
        generation: "latest~1".parse()?,
        ..Default::default()
    };
    let tree = layout(dir.path(), options)?;
    assert_eq!(
        names_of(&tree, ROOT_INO, false)?,
        [".", "..", "file", "sub"]
    );
    assert_eq!(
        read_all(&tree, walk(&tree, &["file"])?.attr.ino)?,
        b"2026-01-02"
    );
    assert_eq!(tree.lookup(ROOT_INO, b".pid"), Err(VfsError::NOT_FOUND));
    let missing = LayoutOptions {
        view: View::Single,
        generation: "latest~3".parse()?,
        ..Default::default()
    };
    assert!(matches!(
        layout(dir.path(), missing),
        Err(OpenError::Generation(_))
    ));
    let named = LayoutOptions {
        view: View::Single,
        generation: "nope".parse()?,
        ..Default::default()
    };
    assert!(matches!(
        layout(dir.path(), named),
        Err(OpenError::Generation(_))
    ));
    Ok(())
}

#[test]
fn root_subtree_hides_generations_without_it() -> TestResult {
    let dir = make_repo(&["2026-01-01", "2026-01-02"])?;
    std::fs::remove_dir_all(dir.path().join("2026-01-02/sub"))?;
    let root = vec![b"sub".to_vec(), b"deeper".to_vec()];
    let tree = layout(
        dir.path(),
        LayoutOptions {
            root: root.clone(),
            ..Default::default()
        },
    )?;
    assert_eq!(
        names_of(&tree, ROOT_INO, false)?,
        [".", "..", "2026-01-01", "latest", ".pid"]
    );
    assert_eq!(
        read_all(&tree, walk(&tree, &["2026-01-01", "inner"])?.attr.ino)?,
        b"inner"
    );
    let single = LayoutOptions {
        view: View::Single,
        root,
        ..Default::default()
    };
    assert!(matches!(
        layout(dir.path(), single),
        Err(OpenError::Generation(_))
    ));
    Ok(())
}

#[test]
fn no_generations_is_an_error() -> TestResult {
    let dir = make_repo(&["x.partial"])?;
    assert!(matches!(
        layout(dir.path(), LayoutOptions::default()),
        Err(OpenError::Generation(_))
    ));
    Ok(())
}

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

#[test]
fn readdirplus_counts_only_what_fits() -> TestResult {
    let dir = make_repo(&["2026-01-01"])?;
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("2026-01-01/f{i}")), b"x")?;
    }
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let gen_ino = tree.lookup(ROOT_INO, b"2026-01-01")?.attr.ino;
    let before = tree.held_inodes();
    let handle = tree.opendir(gen_ino)?;
    let mut seen = Vec::new();
    tree.readdir(gen_ino, handle.fh, 0, true, &mut |entry, plus| {
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
        false,
        &mut |entry, _| {
            rest.push(String::from_utf8_lossy(&entry.name).into_owned());
            true
        },
    )?;
    assert_eq!(seen.len() + rest.len(), 2 + 12);
    assert!(!rest.contains(&String::from_utf8_lossy(&seen[4].name).into_owned()));
    Ok(())
}

/// Names listed without opendir (`NO_HANDLE`), from `offset`, at most `most` of them, with the
/// offset after the last.
fn names_by_inode<T: VfsTree>(tree: &T, ino: Ino, offset: u64, most: usize) -> (Vec<String>, u64) {
    let (mut names, mut next) = (Vec::new(), offset);
    let listed = tree.readdir(ino, NO_HANDLE, offset, false, &mut |entry, _| {
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

/// A repository of empty generations with the names given (and, for folding, tree keys), for
/// layouts that folders cannot make.
struct NamedGenerations(Vec<String>, Vec<Option<u64>>);

impl Repository for NamedGenerations {
    type Handle = Option<u64>;
    type Reader = ();

    fn describe(&self) -> String {
        "named".into()
    }
    fn generations(&self) -> Arc<[crate::repo::Generation]> {
        let gens: Vec<crate::repo::Generation> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, name)| crate::repo::Generation {
                name: name.clone(),
                id: format!("id-{name}"),
                end: crate::meta::Timestamp::new(i as i64, 0),
                checkpoint: false,
                size: Some(1000),
                files: Some(10),
                host: None,
                paths: Vec::new(),
                tags: Vec::new(),
            })
            .collect();
        gens.into()
    }
    fn refresh(&self) -> Result<(), crate::error::RepoError> {
        Ok(())
    }
    fn root(
        &self,
        g: &crate::repo::Generation,
    ) -> Result<crate::meta::Node<Option<u64>>, crate::error::RepoError> {
        let meta = crate::meta::Meta::synthetic(crate::meta::FileKind::Dir, 0o755, 0, g.end);
        let index = self.0.iter().position(|n| *n == g.name);
        let handle = index.and_then(|i| self.1.get(i).copied().flatten());
        Ok(crate::meta::Node { meta, handle })
    }
    fn dir_key(&self, dir: &Option<u64>) -> Option<u64> {
        *dir
    }
    fn list(
        &self,
        _dir: &Option<u64>,
    ) -> Result<crate::repo::Listing<Option<u64>>, crate::error::RepoError> {
        Ok(Arc::from(Vec::new()))
    }
    fn readlink(&self, _link: &Option<u64>) -> Result<Vec<u8>, crate::error::RepoError> {
        Err(crate::error::RepoError::NotFound)
    }
    fn xattrs(&self, _node: &Option<u64>) -> Result<crate::repo::Xattrs, crate::error::RepoError> {
        Ok(Vec::new())
    }
    fn open(&self, _file: &crate::meta::Node<Option<u64>>) -> Result<(), crate::error::RepoError> {
        Ok(())
    }
    fn read(
        &self,
        _file: &(),
        _offset: u64,
        _size: u32,
    ) -> Result<bytes::Bytes, crate::error::RepoError> {
        Ok(bytes::Bytes::new())
    }
}

#[test]
fn slashes_in_generation_names_make_group_directories() -> TestResult {
    let names = [
        "laptop/2026-01-01",
        "server/2026-01-01",
        "laptop/2026-01-02",
        "latest/x",
        "bad//name",
    ];
    let repo = NamedGenerations(names.iter().map(|s| s.to_string()).collect(), Vec::new());
    let tree = Layout::new(repo, LayoutOptions::default())?;
    assert_eq!(
        names_of(&tree, ROOT_INO, false)?,
        [".", "..", "laptop", "server", "latest", ".pid"]
    );
    let laptop = tree.lookup(ROOT_INO, b"laptop")?;
    assert_eq!(laptop.attr.meta.kind, crate::meta::FileKind::Dir);
    assert_eq!(
        laptop.attr.meta.mtime,
        crate::meta::Timestamp::new(2, 0),
        "a group is as new as its newest"
    );
    assert_eq!(
        names_of(&tree, laptop.attr.ino, true)?,
        [".", "..", "2026-01-01", "2026-01-02"]
    );
    let generation = tree.lookup(laptop.attr.ino, b"2026-01-02")?;
    assert_eq!(generation.attr.meta.kind, crate::meta::FileKind::Dir);
    assert_eq!(
        tree.readlink(tree.lookup(ROOT_INO, b"latest")?.attr.ino)?,
        b"laptop/2026-01-02"
    );
    assert_eq!(
        tree.lookup(laptop.attr.ino, b"nope"),
        Err(VfsError::NOT_FOUND)
    );
    assert_eq!(
        tree.lookup(ROOT_INO, b"laptop/2026-01-01"),
        Err(VfsError::NOT_FOUND)
    );
    assert_eq!(tree.statfs(ROOT_INO)?.files, 30);
    Ok(())
}

#[test]
fn identical_generations_fold_into_symlinks() -> TestResult {
    let names = [
        "h/2026-01-01",
        "h/2026-01-02",
        "h/2026-01-03",
        "h/2026-01-04",
    ];
    let keys = vec![Some(7), Some(7), Some(7), Some(8)];
    let repo = NamedGenerations(names.iter().map(|s| s.to_string()).collect(), keys);
    let options = LayoutOptions {
        fold_identical: true,
        ..Default::default()
    };
    let tree = Layout::new(repo, options)?;
    let group = tree.lookup(ROOT_INO, b"h")?.attr.ino;
    let second = tree.lookup(group, b"2026-01-02")?;
    assert_eq!(second.attr.meta.kind, crate::meta::FileKind::Symlink);
    assert_eq!(tree.readlink(second.attr.ino)?, b"2026-01-01");
    assert_eq!(
        tree.readlink(tree.lookup(group, b"2026-01-03")?.attr.ino)?,
        b"2026-01-01"
    );
    assert_eq!(
        tree.lookup(group, b"2026-01-04")?.attr.meta.kind,
        crate::meta::FileKind::Dir
    );
    assert_eq!(
        tree.lookup(group, b"2026-01-01")?.attr.meta.kind,
        crate::meta::FileKind::Dir
    );
    let dir = tree.opendir(group)?;
    let mut kinds = Vec::new();
    tree.readdir(group, dir.fh, 0, true, &mut |entry, _| {
        kinds.push((
            String::from_utf8_lossy(&entry.name).into_owned(),
            entry.kind,
        ));
        true
    })?;
    assert!(
        kinds.contains(&("2026-01-02".to_string(), crate::meta::FileKind::Symlink)),
        "{kinds:?}"
    );
    Ok(())
}

#[test]
fn versions_view_merges_generations_and_folds_identical_versions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (g1, g2) = (dir.path().join("g1"), dir.path().join("g2"));
    std::fs::create_dir_all(g1.join("docs"))?;
    std::fs::create_dir_all(g2.join("docs"))?;
    std::fs::create_dir_all(g2.join("clash"))?;
    std::fs::write(g1.join("docs/report.txt"), b"first draft")?;
    std::fs::write(g2.join("docs/report.txt"), b"second draft")?;
    std::fs::write(g1.join("clash"), b"a file, later a directory")?;
    std::fs::write(g1.join("old"), b"gone in g2")?;
    // rsnapshot keeps an unchanged file as a hardlink: one version, shown under g1.
    std::fs::write(g1.join("same"), b"unchanged")?;
    std::fs::hard_link(g1.join("same"), g2.join("same"))?;
    let options = LayoutOptions {
        view: View::Versions,
        ..Default::default()
    };
    let tree = layout(dir.path(), options)?;
    assert_eq!(
        names_of(&tree, ROOT_INO, true)?,
        [".", "..", "clash", "clash~versions", "docs", "old", "same"]
    );
    let report = walk(&tree, &["docs", "report.txt"])?;
    assert_eq!(report.attr.meta.kind, crate::meta::FileKind::Dir);
    assert_eq!(
        names_of(&tree, report.attr.ino, false)?,
        [".", "..", "g1.txt", "g2.txt"]
    );
    let first = walk(&tree, &["docs", "report.txt", "g1.txt"])?;
    assert_eq!(read_all(&tree, first.attr.ino)?, b"first draft");
    let second = walk(&tree, &["docs", "report.txt", "g2.txt"])?;
    assert_eq!(read_all(&tree, second.attr.ino)?, b"second draft");
    let same = walk(&tree, &["same"])?.attr.ino;
    assert_eq!(names_of(&tree, same, false)?, [".", "..", "g1"]);
    let clash = walk(&tree, &["clash~versions", "g1"])?;
    assert_eq!(
        read_all(&tree, clash.attr.ino)?,
        b"a file, later a directory"
    );
    assert_eq!(
        walk(&tree, &["clash"])?.attr.meta.kind,
        crate::meta::FileKind::Dir
    );
    assert_eq!(
        tree.open(report.attr.ino, OpenMode::default()),
        Err(VfsError::IS_DIR)
    );
    assert_eq!(
        tree.mutate(Mutation::MakeDir {
            parent: report.attr.ino,
            name: b"x"
        }),
        Err(VfsError::READ_ONLY)
    );

    std::fs::create_dir_all(dir.path().join("g3/docs"))?;
    std::fs::write(dir.path().join("g3/docs/report.txt"), b"final")?;
    tree.refresh()?;
    let report = walk(&tree, &["docs", "report.txt"])?;
    assert_eq!(
        names_of(&tree, report.attr.ino, false)?,
        [".", "..", "g1.txt", "g2.txt", "g3.txt"]
    );
    Ok(())
}

#[test]
fn versions_view_looks_names_up_in_the_listing_it_kept_until_a_refresh() -> TestResult {
    let dir = tempfile::tempdir()?;
    for generation in ["g1", "g2"] {
        std::fs::create_dir_all(dir.path().join(generation).join("docs"))?;
        std::fs::write(dir.path().join(generation).join("docs/a.txt"), generation)?;
    }
    let options = LayoutOptions {
        view: View::Versions,
        ..Default::default()
    };
    let tree = layout(dir.path(), options)?;
    assert_eq!(
        names_of(&tree, walk(&tree, &["docs"])?.attr.ino, false)?,
        [".", "..", "a.txt"]
    );
    // Generations never change, so a name that appears behind genmount's back is not looked for
    // again in every generation: the merged listing kept from before answers.
    std::fs::write(dir.path().join("g2/docs/late.txt"), b"late")?;
    assert_eq!(
        walk(&tree, &["docs", "late.txt"]).map(|_| ()),
        Err(VfsError::NOT_FOUND)
    );
    tree.refresh()?;
    let late = walk(&tree, &["docs", "late.txt", "g2.txt"])?;
    assert_eq!(read_all(&tree, late.attr.ino)?, b"late");
    Ok(())
}
