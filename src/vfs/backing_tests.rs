//! The backing files a layout hands out for FUSE passthrough, through `VfsTree` alone: a snapshot
//! folder's regular files, read-only and byte for byte, and nothing else.

use std::io::{Read, Write};

use super::*;
use crate::repo::folder::FolderRepo;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn folder() -> Result<(tempfile::TempDir, Layout<FolderRepo>), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let generation = dir.path().join("2026-01-01");
    std::fs::create_dir_all(generation.join("sub"))?;
    std::fs::write(generation.join("file"), b"the bytes")?;
    std::os::unix::fs::symlink("file", generation.join("link"))?;
    let layout = Layout::new(FolderRepo::open(dir.path())?, LayoutOptions::default())?;
    Ok((dir, layout))
}

fn ino_of<T: VfsTree>(tree: &T, path: &[&str]) -> VfsResult<Ino> {
    let mut ino = ROOT_INO;
    for part in path {
        ino = tree.lookup(ino, part.as_bytes())?.attr.ino;
    }
    Ok(ino)
}

/// A regular file is handed out only where reads cannot give it a new access time (a read-only or
/// `noatime` filesystem: the kernel's reads of it would not use `O_NOATIME`); then read-only, with
/// its bytes. A temporary directory is usually on a `relatime` filesystem: none is handed out.
#[test]
fn a_regular_file_is_handed_out_only_where_reads_leave_no_trace() -> TestResult {
    let (dir, layout) = folder()?;
    let source = std::fs::File::open(dir.path().join("2026-01-01/file"))?;
    let quiet = crate::repo::localfs::reads_leave_no_trace(&source);
    assert_eq!(layout.has_backing_files(), quiet);
    let ino = ino_of(&layout, &["2026-01-01", "file"])?;
    match layout.backing_file(ino)? {
        Some(mut file) => {
            assert!(
                quiet,
                "handed out on a filesystem that records access times"
            );
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            assert_eq!(bytes, b"the bytes");
            assert!(
                file.write_all(b"x").is_err(),
                "a backing file must be read-only"
            );
        }
        None => assert!(
            !quiet,
            "not handed out on a read-only or noatime filesystem"
        ),
    }
    Ok(())
}

#[test]
fn directories_links_and_the_roots_own_files_have_none() -> TestResult {
    let (_dir, layout) = folder()?;
    for path in [
        &["2026-01-01"][..],
        &["2026-01-01", "sub"],
        &["2026-01-01", "link"],
        &[".pid"],
        &["latest"],
    ] {
        let ino = ino_of(&layout, path)?;
        assert!(layout.backing_file(ino)?.is_none(), "{path:?}");
    }
    assert!(layout.backing_file(ROOT_INO)?.is_none());
    assert!(
        layout.backing_file(0xdead_beef).is_err(),
        "an unknown inode"
    );
    Ok(())
}

/// The folder is live: a file swapped for a FIFO after its lookup is neither waited on (opening a
/// FIFO blocks until a writer comes) nor handed out.
#[test]
fn a_file_swapped_for_a_fifo_is_not_handed_out() -> TestResult {
    let (dir, layout) = folder()?;
    let ino = ino_of(&layout, &["2026-01-01", "file"])?;
    let path = dir.path().join("2026-01-01/file");
    std::fs::remove_file(&path)?;
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: c_path is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    assert!(layout.backing_file(ino)?.is_none());
    Ok(())
}
