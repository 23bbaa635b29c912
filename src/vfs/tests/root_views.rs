//! The root of a layout: which generations it lists, `latest` and `.pid` (refresh and cache
//! invalidation), single view, ROOT, group directories from slashes in names, and folding.

use super::*;
use crate::repo::Repository;

#[test]
fn root_lists_finished_generations_latest_and_pid() -> TestResult {
    let dir = make_repo(&["2026-01-01", "2026-01-02", "2026-01-03.partial", ".hidden"])?;
    let tree = layout(dir.path(), LayoutOptions::default())?;
    let names = names_of(&tree, ROOT_INO, Plus::Names)?;
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
    tree.set_kernel_cache(Box::new(Recorder(log.clone())));
    std::fs::create_dir(dir.path().join("2026-01-03"))?;
    std::fs::remove_dir_all(dir.path().join("2026-01-01"))?;
    assert_eq!(
        names_of(&tree, ROOT_INO, Plus::Names)?.len(),
        6,
        "no refresh before .pid is read"
    );
    let pid = tree.lookup(ROOT_INO, b".pid")?;
    // A read from the start refreshes by itself: Linux never sends the FLUSH of its close.
    tree.read(pid.attr.ino, NO_HANDLE, 0, 4096)?;
    assert_eq!(
        names_of(&tree, ROOT_INO, Plus::Names)?,
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
        names_of(&tree, ROOT_INO, Plus::Names)?,
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
        names_of(&tree, ROOT_INO, Plus::Names)?,
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
        names_of(&tree, ROOT_INO, Plus::Names)?,
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
        names_of(&tree, laptop.attr.ino, Plus::Attrs)?,
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
    tree.readdir(group, dir.fh, 0, Plus::Attrs, &mut |entry, _| {
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
