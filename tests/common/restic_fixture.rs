//! The repositories the restic mount tests use: made by the real `restic` from a `src/` whose
//! states are captured at each backup, and the two snapshots of the edge-case tree most tests mount.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::common::*;

/// A repository that the real `restic` backs up `src/` into, with what `src/` held at each backup.
pub struct Fixture {
    restic: ResticDir,
    pub captured: Vec<BTreeMap<PathBuf, Captured>>,
}

impl std::ops::Deref for Fixture {
    type Target = ResticDir;
    fn deref(&self) -> &ResticDir {
        &self.restic
    }
}

impl Fixture {
    /// An initialised repository and an empty `src/`.
    pub fn init(password: &str) -> Result<Fixture, Box<dyn std::error::Error>> {
        let fixture = Fixture {
            restic: ResticDir::init(password)?,
            captured: Vec::new(),
        };
        std::fs::create_dir(fixture.src())?;
        Ok(fixture)
    }
    pub fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
    pub fn backup(&mut self) {
        // Generations are named by the second they were made in: keep snapshots a second apart so
        // that names sort as time does (a clash would append short ids, which sort at random).
        if !self.captured.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        self.captured.push(capture(&self.src()));
        restic(
            &self.repo(),
            &self.password(),
            &self.src(),
            &["backup", "."],
        );
    }
    /// Mount arguments: repository, mountpoint, password file and a private cache, then `extra`.
    pub fn args<'a>(&'a self, paths: &'a [PathBuf; 4], extra: &'a [&'a str]) -> Vec<&'a OsStr> {
        let mut args = restic_args(paths[0].as_os_str(), &paths[1], &paths[2], &paths[3]).to_vec();
        args.extend(extra.iter().map(OsStr::new));
        args
    }
}

/// Two snapshots of an edge-case tree that differ, with `bulk` small files besides.
pub fn two_snapshots(bulk: usize) -> Fixture {
    let mut fixture = Fixture::init("correct horse").expect("repository");
    build_edge_tree(&fixture.src(), 0);
    // restic does not back up sockets.
    std::fs::remove_file(fixture.src().join("socket")).expect("remove socket");
    add_big_files(&fixture.src());
    if bulk > 0 {
        add_bulk(&fixture.src(), 20, bulk);
    }
    add_nested_counts(&fixture.src());
    fixture.backup();
    std::fs::write(fixture.src().join("variant"), [1]).expect("write");
    std::fs::write(
        fixture.src().join("added-later"),
        b"new in the second snapshot\n",
    )
    .expect("write");
    std::fs::remove_file(fixture.src().join("size-4095")).expect("remove");
    fixture.backup();
    fixture
}

/// 40 directories holding 0-3 directories each: restic stores no link counts for directories,
/// and genmount counts the subdirectories of many such siblings on several threads at once.
fn add_nested_counts(src: &Path) {
    for i in 0..40 {
        for j in 0..i % 4 {
            std::fs::create_dir_all(src.join(format!("nest/n{i:02}/sub{j}"))).expect("mkdir");
        }
        std::fs::create_dir_all(src.join(format!("nest/n{i:02}"))).expect("mkdir");
    }
}
