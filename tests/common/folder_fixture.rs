//! The snapshot folders the folder tests mount: three generations of the edge-case tree (and bulk
//! files if asked) beside a partial one and an empty mountpoint; `os` for their paths as arguments.

use std::ffi::OsStr;
use std::path::Path;

use crate::common::*;

/// A repository of three generations that differ, and an empty mountpoint beside it.
pub fn three_generations(bulk: usize) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    for (i, name) in [
        "2026-11-01_10-00-00",
        "2026-11-02_10-00-00",
        "2026-11-03_10-00-00",
    ]
    .iter()
    .enumerate()
    {
        let generation = dir.path().join("repo").join(name);
        std::fs::create_dir_all(&generation)?;
        build_edge_tree(&generation, i as u8);
        if bulk > 0 {
            add_bulk(&generation, 30, bulk);
        }
    }
    std::fs::create_dir_all(dir.path().join("repo/2026-11-04_10-00-00.partial/x"))?;
    std::fs::create_dir(dir.path().join("mnt"))?;
    Ok(dir)
}

pub fn os(path: &Path) -> &OsStr {
    path.as_os_str()
}
