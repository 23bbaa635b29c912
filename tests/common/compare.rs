//! A field-by-field comparison of two trees: each entry captured (lstat, link target, xattrs, a
//! digest of its bytes) and compared under the rules of what a backend keeps.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::tree::walk;

fn xattrs_of(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<_> = xattr::list(path)
        .unwrap_or_else(|e| panic!("listxattr {}: {e}", path.display()))
        .map(|name| {
            let value = xattr::get(path, &name).ok().flatten().unwrap_or_default();
            (name.as_bytes().to_vec(), value)
        })
        .collect();
    out.sort();
    out
}

/// What one entry of a tree was: its lstat, symlink target, xattrs and a digest of its bytes.
pub struct Captured {
    pub md: std::fs::Metadata,
    pub target: Option<PathBuf>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub digest: Option<Vec<u8>>,
}

/// Everything below a root, by relative path, as it is now. Stats are taken before any file is
/// read, so reading cannot move an atime that is then compared.
pub fn capture(root: &Path) -> std::collections::BTreeMap<PathBuf, Captured> {
    use sha2::Digest;
    let mut out = std::collections::BTreeMap::new();
    for rel in walk(root) {
        let path = root.join(&rel);
        let md = path
            .symlink_metadata()
            .unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
        let ft = md.file_type();
        let target = ft
            .is_symlink()
            .then(|| std::fs::read_link(&path).expect("readlink"));
        let xattrs = if ft.is_dir() || ft.is_file() {
            xattrs_of(&path)
        } else {
            Vec::new()
        };
        out.insert(
            rel,
            Captured {
                md,
                target,
                xattrs,
                digest: None,
            },
        );
    }
    for (rel, entry) in out.iter_mut() {
        if entry.md.file_type().is_file() {
            let bytes = read_noatime(&root.join(rel))
                .unwrap_or_else(|e| panic!("read {}: {e}", rel.display()));
            entry.digest = Some(sha2::Sha256::digest(&bytes).to_vec());
        }
    }
    out
}

/// Reads a file without moving its atime (the tests run as root, which may always ask for that).
fn read_noatime(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Which fields a backend cannot keep: restic stores no directory sizes and no block counts. Nor is
/// the source's atime a reference for restic: restic reads what it backs up, which moves atimes it
/// has already recorded (relatime), and reuses its parent snapshot's nodes for unchanged files.
/// genmount serves restic's atime through the same conversion as mtime and ctime, which are compared.
#[derive(Clone, Copy)]
pub struct Rules {
    pub dir_sizes: bool,
    pub blocks: bool,
    pub atimes: bool,
    /// Directories show their true link count; otherwise a directory may show 1 instead (restic
    /// records none, and genmount counts subdirectories only of trees it has read, as btrfs does).
    pub dir_links: bool,
}

pub const EXACT: Rules = Rules {
    dir_sizes: true,
    blocks: true,
    atimes: true,
    dir_links: true,
};
pub const RESTIC: Rules = Rules {
    dir_sizes: false,
    blocks: false,
    atimes: false,
    dir_links: false,
};

/// Compares every entry of `expected` with the mount: names, type, mode, owner, size, times,
/// nlink, rdev, symlink targets, xattrs, contents, and that hardlinks share one inode.
pub fn compare(
    expected: &std::collections::BTreeMap<PathBuf, Captured>,
    mounted: &Path,
    rules: Rules,
) -> usize {
    let got = capture(mounted);
    let names: Vec<&PathBuf> = expected.keys().collect();
    assert_eq!(
        names,
        got.keys().collect::<Vec<_>>(),
        "the mount at {} lists other names",
        mounted.display()
    );
    let mut inodes: HashMap<u64, u64> = HashMap::new();
    let mut seen_mount_inodes: HashMap<u64, u64> = HashMap::new();
    for (rel, a) in expected {
        let b = &got[rel];
        let (sa, sb) = (&a.md, &b.md);
        let what = rel.display();
        assert_eq!(sa.mode(), sb.mode(), "mode of {what}");
        assert_eq!(
            (sa.uid(), sa.gid()),
            (sb.uid(), sb.gid()),
            "owner of {what}"
        );
        if rules.dir_sizes || !sa.is_dir() {
            assert_eq!(sa.size(), sb.size(), "size of {what}");
        }
        assert_eq!(
            (sa.mtime(), sa.mtime_nsec()),
            (sb.mtime(), sb.mtime_nsec()),
            "mtime of {what}"
        );
        assert_eq!(
            (sa.ctime(), sa.ctime_nsec()),
            (sb.ctime(), sb.ctime_nsec()),
            "ctime of {what}"
        );
        if rules.atimes {
            assert_eq!(
                (sa.atime(), sa.atime_nsec()),
                (sb.atime(), sb.atime_nsec()),
                "atime of {what}"
            );
        }
        if rules.dir_links || !sa.is_dir() || sb.nlink() != 1 {
            assert_eq!(sa.nlink(), sb.nlink(), "nlink of {what}");
        }
        assert_eq!(sa.rdev(), sb.rdev(), "rdev of {what}");
        if rules.blocks {
            assert_eq!(sa.blocks(), sb.blocks(), "blocks of {what}");
        }
        if !sa.is_dir() {
            if let Some(previous) = inodes.insert(sa.ino(), sb.ino()) {
                assert_eq!(
                    previous,
                    sb.ino(),
                    "hardlinks of {what} must share an inode"
                );
            }
            if let Some(previous) = seen_mount_inodes.insert(sb.ino(), sa.ino()) {
                assert_eq!(
                    previous,
                    sa.ino(),
                    "{what} shares an inode with an unrelated entry"
                );
            }
        }
        assert_eq!(a.target, b.target, "target of {what}");
        assert_eq!(a.xattrs, b.xattrs, "xattrs of {what}");
        assert!(a.digest == b.digest, "contents of {what} differ");
    }
    expected.len()
}

/// Compares a source tree as it is now with the mount, field by field. Reading a symlink moves its
/// atime once (relatime) and no more, so every symlink is read once before anything is captured.
pub fn compare_trees(src: &Path, mounted: &Path) -> usize {
    for rel in walk(src) {
        let _ = std::fs::read_link(src.join(rel));
    }
    compare(&capture(src), mounted, EXACT)
}
