//! The real `restic` for the tests: run on a repository, a temporary repository made by
//! `restic init` with its password file, mountpoint and cache, and the mount arguments for it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the real restic on `repo` with the password in `password_file`; panics when it fails.
pub fn restic(repo: &Path, password_file: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(["--no-cache", "-q"])
        .args(args)
        .env("RESTIC_PASSWORD_FILE", password_file)
        .current_dir(cwd)
        .output()
        .expect("restic runs (apt-get install restic)");
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository made by the real `restic init`, its password file, a mountpoint and a cache, in
/// one temporary folder.
pub struct ResticDir {
    pub dir: tempfile::TempDir,
}

impl ResticDir {
    pub fn init(password: &str) -> Result<ResticDir, Box<dyn std::error::Error>> {
        let restic_dir = ResticDir {
            dir: tempfile::tempdir()?,
        };
        std::fs::write(restic_dir.password(), format!("{password}\n"))?;
        std::fs::create_dir(restic_dir.mnt())?;
        restic(
            &restic_dir.repo(),
            &restic_dir.password(),
            restic_dir.dir.path(),
            &["init"],
        );
        Ok(restic_dir)
    }
    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    pub fn password(&self) -> PathBuf {
        self.dir.path().join("password")
    }
    pub fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    /// Repository, mountpoint, password file and cache, in the order `restic_args` takes them.
    pub fn paths(&self) -> [PathBuf; 4] {
        [self.repo(), self.mnt(), self.password(), self.cache()]
    }
}

/// Mount arguments for a restic repository: location, mountpoint, password file, a private cache.
pub fn restic_args<'a>(
    repo: &'a OsStr,
    mnt: &'a Path,
    password: &'a Path,
    cache: &'a Path,
) -> [&'a OsStr; 6] {
    [
        repo,
        mnt.as_os_str(),
        OsStr::new("--password-file"),
        password.as_os_str(),
        OsStr::new("--cache-dir"),
        cache.as_os_str(),
    ]
}
