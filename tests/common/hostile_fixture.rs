//! The hostile repository tests' fixture: a repository made by `restic init` that the tests write
//! byte by byte with `restic_writer`, mounted; that the daemon still answers; the names a directory
//! of the mount lists.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::common::*;
use crate::restic_writer::RepoWriter;

pub const PASSWORD: &str = "hostile horse";

/// An initialised repository whose blobs, trees and snapshots the tests write byte by byte.
pub struct Fixture(ResticDir);

impl std::ops::Deref for Fixture {
    type Target = ResticDir;
    fn deref(&self) -> &ResticDir {
        &self.0
    }
}

impl Fixture {
    pub fn new() -> Result<Fixture, Box<dyn std::error::Error>> {
        Ok(Fixture(ResticDir::init(PASSWORD)?))
    }
    pub fn writer(&self) -> Result<RepoWriter, Box<dyn std::error::Error>> {
        RepoWriter::open(&self.repo(), PASSWORD)
    }
    pub fn mount(&self) -> Mount {
        let [repo, mnt, password, cache] = self.paths();
        Mount::start(
            &restic_args(repo.as_os_str(), &mnt, &password, &cache),
            &mnt,
        )
    }
    /// The directory of the repository's one generation (through `latest`).
    pub fn generation(&self) -> Result<PathBuf, Box<dyn std::error::Error>> {
        Ok(self
            .mnt()
            .join(std::fs::read_link(self.mnt().join("latest"))?))
    }
}

/// The daemon has not exited and still answers: `.pid` reads its process id.
pub fn assert_alive(mount: &mut Mount) {
    let pid = mount.pid();
    let exited = mount.child.as_mut().map(|c| c.try_wait());
    assert!(
        matches!(exited, Some(Ok(None))),
        "the daemon exited: {exited:?}"
    );
    let answered = std::fs::read_to_string(mount.mountpoint.join(".pid"));
    assert_eq!(
        answered.ok().map(|text| text.trim().to_string()),
        Some(pid.to_string()),
        "the mount no longer answers"
    );
}

/// Every name in a directory of the mount, sorted.
pub fn names_in(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}
