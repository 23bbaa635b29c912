//! The snapshot-folder backend: a directory whose subdirectories are generations (rsnapshot's
//! `daily.0`, btrfs/ZFS snapshot directories, date-named copies), read in place and never written.

use bytes::Bytes;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::datename::{NameDate, date_in_name, name_time};
use super::localfs;
use super::{Generation, Listing, Repository, Xattrs};
use crate::error::{OpenError, RepoError};
use crate::meta::{Node, Timestamp};
use crate::names;

/// Suffixes of directories that tools leave while a copy is still being made.
const UNFINISHED_SUFFIXES: [&str; 3] = [".partial", ".inProgress", ".tmp"];

/// A folder of generations.
pub struct FolderRepo {
    root: PathBuf,
    generations: RwLock<Arc<[Generation]>>,
}

impl FolderRepo {
    /// Opens a folder of generations; it must exist and be a readable directory.
    pub fn open(root: &Path) -> Result<FolderRepo, OpenError> {
        let md = std::fs::metadata(root).map_err(|err| {
            OpenError::Repository(format!(
                "repository {} cannot be read: {err}",
                root.display()
            ))
        })?;
        if !md.is_dir() {
            return Err(OpenError::Repository(format!(
                "repository {} is not a directory",
                root.display()
            )));
        }
        let generations = scan(root).map_err(|err| {
            OpenError::Repository(format!(
                "repository {} cannot be listed: {err}",
                root.display()
            ))
        })?;
        Ok(FolderRepo {
            root: root.to_path_buf(),
            generations: RwLock::new(generations.into()),
        })
    }
}

/// Whether a generation directory's name marks it as unfinished (or hidden, as a dot-file).
pub fn is_unfinished(name: &str) -> bool {
    name.starts_with('.')
        || UNFINISHED_SUFFIXES
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// The generations in `root`, oldest first: by the dates their names carry when every finished one
/// carries one, and then dated by them too (a copied or restored folder's mtime is the day of the
/// copy), otherwise by the directories' mtimes.
fn scan(root: &Path) -> io::Result<Vec<Generation>> {
    let mut found: Vec<(Generation, Option<NameDate>)> = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(name = ?entry.file_name(), "generation directory with a non-UTF-8 name skipped");
            continue;
        };
        let path = entry.path();
        let md = match path.symlink_metadata() {
            Ok(md) if md.is_dir() => md,
            _ => continue,
        };
        let meta = localfs::meta_of(&path, &md);
        let generation = Generation {
            id: format!("{name}@{}", localfs::identity(&path, &md)),
            checkpoint: is_unfinished(&name),
            end: meta.mtime,
            size: None,
            files: None,
            host: None,
            paths: Vec::new(),
            tags: Vec::new(),
            name: name.clone(),
        };
        found.push((generation, date_in_name(&name)));
    }
    let by_name_date = found.iter().all(|(g, date)| g.checkpoint || date.is_some());
    if by_name_date {
        for (generation, date) in &mut found {
            if let Some(time) = date.and_then(name_time) {
                generation.end = time;
            }
        }
    }
    found.sort_by(|(a, da), (b, db)| {
        let key_a: (Option<NameDate>, Timestamp) = if by_name_date {
            (*da, Timestamp::EPOCH)
        } else {
            (None, a.end)
        };
        let key_b: (Option<NameDate>, Timestamp) = if by_name_date {
            (*db, Timestamp::EPOCH)
        } else {
            (None, b.end)
        };
        key_a.cmp(&key_b).then_with(|| a.name.cmp(&b.name))
    });
    Ok(found.into_iter().map(|(g, _)| g).collect())
}

fn io_error(path: &Path, err: io::Error) -> RepoError {
    match err.kind() {
        io::ErrorKind::NotFound => RepoError::NotFound,
        io::ErrorKind::NotADirectory => RepoError::NotDir,
        _ => RepoError::io(path.display(), err),
    }
}

fn node_at(path: PathBuf) -> Result<Node<Arc<Path>>, RepoError> {
    let md = path
        .symlink_metadata()
        .map_err(|err| io_error(&path, err))?;
    Ok(Node {
        meta: localfs::meta_of(&path, &md),
        handle: path.into(),
    })
}

impl Repository for FolderRepo {
    type Handle = Arc<Path>;
    type Reader = std::fs::File;

    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn generations(&self) -> Arc<[Generation]> {
        match self.generations.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn refresh(&self) -> Result<(), RepoError> {
        let fresh: Arc<[Generation]> = scan(&self.root)
            .map_err(|err| io_error(&self.root, err))?
            .into();
        match self.generations.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    fn root(&self, generation: &Generation) -> Result<Node<Self::Handle>, RepoError> {
        node_at(self.root.join(&generation.name))
    }

    fn list(&self, dir: &Self::Handle) -> Result<Listing<Self::Handle>, RepoError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|err| io_error(dir, err))? {
            let entry = entry.map_err(|err| io_error(dir, err))?;
            match node_at(entry.path()) {
                Ok(node) => out.push((localfs::name_bytes(&entry.file_name()), node)),
                // Deleted between readdir and lstat: the folder is live, not a snapshot.
                Err(RepoError::NotFound) => continue,
                Err(err) => return Err(err),
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(names::safe_listing(out, &dir.to_string_lossy()).into())
    }

    fn lookup(&self, dir: &Self::Handle, name: &[u8]) -> Result<Node<Self::Handle>, RepoError> {
        let os_name = localfs::name_from_bytes(name).filter(|_| names::is_plain(name));
        let Some(os_name) = os_name else {
            return Err(RepoError::NotFound);
        };
        node_at(dir.join(os_name))
    }

    fn readlink(&self, link: &Self::Handle) -> Result<Vec<u8>, RepoError> {
        let target = std::fs::read_link(link).map_err(|err| io_error(link, err))?;
        Ok(localfs::name_bytes(target.as_os_str()))
    }

    fn xattrs(&self, node: &Self::Handle) -> Result<Xattrs, RepoError> {
        match localfs::xattrs(node) {
            Ok(list) => Ok(list),
            Err(err) if err.kind() == io::ErrorKind::Unsupported => Ok(Vec::new()),
            Err(err) => Err(io_error(node, err)),
        }
    }

    fn open(&self, file: &Node<Self::Handle>) -> Result<Self::Reader, RepoError> {
        regular_file(&file.handle)?.ok_or_else(|| not_regular(&file.handle))
    }

    /// Only where reads of the folder's files cannot record access times (see `backing_file`):
    /// elsewhere the kernel keeps sending no OPEN for them, one round trip less per file.
    fn has_backing_files(&self) -> bool {
        let quiet =
            std::fs::File::open(&self.root).is_ok_and(|f| localfs::reads_leave_no_trace(&f));
        if !quiet {
            report_atime_once();
        }
        quiet
    }

    /// Opened as `open` opens (read-only, no symlink followed at the end of a path built from the
    /// root by plain names only, never waiting), and handed out only where the kernel's own reads
    /// of it cannot change its access time (see `localfs::reads_leave_no_trace`).
    fn backing_file(&self, file: &Node<Self::Handle>) -> Result<Option<std::fs::File>, RepoError> {
        let opened = regular_file(&file.handle)?;
        Ok(opened.filter(|f| {
            let quiet = localfs::reads_leave_no_trace(f);
            if !quiet {
                report_atime_once();
            }
            quiet
        }))
    }

    fn read(&self, file: &Self::Reader, offset: u64, size: u32) -> Result<Bytes, RepoError> {
        let mut buf = vec![0; size as usize];
        let n = localfs::read_full_at(file, &mut buf, offset)
            .map_err(|err| RepoError::io("read", err))?;
        buf.truncate(n);
        Ok(Bytes::from(buf))
    }
}

/// The regular file at `path`, opened for reading (`None` if something else took its place).
fn regular_file(path: &Path) -> Result<Option<std::fs::File>, RepoError> {
    localfs::open_regular(path).map_err(|err| io_error(path, err))
}

fn not_regular(path: &Path) -> RepoError {
    RepoError::Damaged(format!("{}: no longer a regular file", path.display()))
}

/// Says once per mount why files are read through genmount rather than passed through.
fn report_atime_once() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::info!(
            "passthrough not used: the folder's filesystem records access times (not read-only, \
             not noatime), and the kernel's reads would change them"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_names() {
        for name in [".sync", "daily.0.partial", "x.inProgress", "2026-01-01.tmp"] {
            assert!(is_unfinished(name), "{name}");
        }
        for name in ["daily.0", "2026-01-01", "tmp", "partial"] {
            assert!(!is_unfinished(name), "{name}");
        }
    }

    #[test]
    fn date_named_generations_sort_by_name_date() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for name in [
            "2026-01-02",
            "2025-12-31",
            "2026-01-01",
            "2026-01-03.partial",
        ] {
            std::fs::create_dir(dir.path().join(name))?;
        }
        let repo = FolderRepo::open(dir.path())?;
        let names: Vec<String> = repo.generations().iter().map(|g| g.name.clone()).collect();
        assert_eq!(
            names,
            [
                "2025-12-31",
                "2026-01-01",
                "2026-01-02",
                "2026-01-03.partial"
            ]
        );
        Ok(())
    }

    /// A directory opened so that its times can be set (Windows opens directories only with
    /// FILE_FLAG_BACKUP_SEMANTICS, and setting times needs write access).
    fn open_dir_for_times(path: &Path) -> std::io::Result<std::fs::File> {
        #[cfg(windows)]
        {
            use std::os::windows::fs::OpenOptionsExt;
            const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
                .open(path)
        }
        #[cfg(not(windows))]
        std::fs::File::open(path)
    }

    #[test]
    fn date_named_generations_are_dated_by_their_names() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for name in ["2026-11-01_09-00-00", "2026-11-02"] {
            std::fs::create_dir(dir.path().join(name))?;
        }
        let repo = FolderRepo::open(dir.path())?;
        let ends: Vec<Option<Timestamp>> = repo.generations().iter().map(|g| Some(g.end)).collect();
        let expected = [
            name_time((2026, 11, 1, 9, 0, 0)),
            name_time((2026, 11, 2, 0, 0, 0)),
        ];
        assert_eq!(ends, expected);
        Ok(())
    }

    #[test]
    fn undated_generations_sort_by_mtime() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for (name, secs) in [("daily.0", 300), ("daily.1", 200), ("daily.2", 100)] {
            let path = dir.path().join(name);
            std::fs::create_dir(&path)?;
            let time = Timestamp::new(1_700_000_000 + secs, 0).to_system_time();
            open_dir_for_times(&path)?.set_modified(time)?;
        }
        let repo = FolderRepo::open(dir.path())?;
        let names: Vec<String> = repo.generations().iter().map(|g| g.name.clone()).collect();
        assert_eq!(names, ["daily.2", "daily.1", "daily.0"]);
        Ok(())
    }

    #[test]
    fn missing_repository_is_a_repository_error() {
        let err = FolderRepo::open(Path::new("/nonexistent/genmount-test")).err();
        assert!(matches!(err, Some(OpenError::Repository(_))));
    }
}
