//! The source trees the tests back up: an edge-case tree with every node type, bulk and big files,
//! deterministic contents and the libc calls (times, nodes, owners, statvfs) that make them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes that look random and are the same every run.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn c_path(path: &Path) -> std::ffi::CString {
    std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in test paths")
}

/// Sets atime and mtime of `path` without following a symlink.
pub fn set_times(path: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let times = [
        libc::timespec {
            tv_sec: atime.0,
            tv_nsec: atime.1,
        },
        libc::timespec {
            tv_sec: mtime.0,
            tv_nsec: mtime.1,
        },
    ];
    let p = c_path(path);
    // SAFETY: valid C string and a two-element timespec array, as utimensat requires.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check_rc(rc, "utimensat", path);
}

/// Fails the test with the OS error when a libc call returned non-zero.
fn check_rc(rc: i32, call: &str, path: &Path) {
    assert_eq!(
        rc,
        0,
        "{call} {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// statvfs of a path, as `df` asks for it.
pub fn statvfs(path: &Path) -> libc::statvfs {
    let p = c_path(path);
    // SAFETY: statvfs is plain data; zeroed is a valid initial value.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a valid out pointer.
    let rc = unsafe { libc::statvfs(p.as_ptr(), &mut stats) };
    check_rc(rc, "statvfs", path);
    stats
}

fn mknod(path: &Path, mode: u32, dev: u64) {
    let p = c_path(path);
    // SAFETY: valid C string; mknod only creates a node.
    let rc = unsafe { libc::mknod(p.as_ptr(), mode, dev) };
    check_rc(rc, "mknod", path);
}

fn chown(path: &Path, uid: u32, gid: u32) {
    let p = c_path(path);
    // SAFETY: valid C string.
    let rc = unsafe { libc::lchown(p.as_ptr(), uid, gid) };
    check_rc(rc, "lchown", path);
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A tree with every node type and edge case genmount must serve exactly. `variant` changes a
/// few contents so that generations differ.
pub fn build_edge_tree(root: &Path, variant: u8) {
    let w = |rel: &str, data: &[u8]| std::fs::write(root.join(rel), data).expect("write");
    std::fs::create_dir_all(root.join("dir/nested/deeper")).expect("mkdir");
    w("empty", b"");
    w("one", b"x");
    for (i, size) in [4095usize, 4096, 4097, 131_073, 3 * 1024 * 1024 + 7]
        .into_iter()
        .enumerate()
    {
        w(
            &format!("size-{size}"),
            &pseudo_random(size, i as u64 + u64::from(variant)),
        );
    }
    w(
        "dir/nested/deeper/leaf.txt",
        format!("leaf of variant {variant}\n").as_bytes(),
    );
    w("variant", &[variant]);
    std::os::unix::fs::symlink("size-4096", root.join("link-relative")).expect("symlink");
    std::os::unix::fs::symlink("/etc/passwd", root.join("link-absolute")).expect("symlink");
    std::os::unix::fs::symlink("../nowhere/at/all", root.join("dir/link-dangling"))
        .expect("symlink");
    w("hard-a", b"shared by two names\n");
    std::fs::hard_link(root.join("hard-a"), root.join("dir/hard-b")).expect("hardlink");
    for name in [
        &b"with space"[..],
        b"new\nline",
        b"\xff\xfe-not-utf8",
        b"-dash",
        "ünïcödé".as_bytes(),
    ] {
        std::fs::write(root.join(OsStr::from_bytes(name)), name).expect("odd name");
    }
    w(&"n".repeat(255), b"longest name");
    xattr::set(root.join("one"), "user.colour", b"blue").expect("user xattrs are needed");
    xattr::set(root.join("dir"), "user.empty", b"").expect("xattr");
    w("setuid", b"#!/bin/sh\n");
    chmod(&root.join("setuid"), 0o4755);
    std::fs::create_dir(root.join("setgid-dir")).expect("mkdir");
    chmod(&root.join("setgid-dir"), 0o2755);
    std::fs::create_dir(root.join("sticky-dir")).expect("mkdir");
    chmod(&root.join("sticky-dir"), 0o1777);
    w("private", b"secret\n");
    chmod(&root.join("private"), 0o600);
    w("no-perms", b"none\n");
    chmod(&root.join("no-perms"), 0o000);
    w("foreign", b"owned by someone else\n");
    chown(&root.join("foreign"), 1234, 5678);
    mknod(&root.join("fifo"), libc::S_IFIFO | 0o644, 0);
    mknod(
        &root.join("chardev"),
        libc::S_IFCHR | 0o600,
        libc::makedev(1, 3),
    );
    drop(std::os::unix::net::UnixListener::bind(root.join("socket")).expect("socket"));
    set_times(
        &root.join("one"),
        (-315_619_200, 123_456_789),
        (-1, 999_999_999),
    );
    set_times(
        &root.join("link-relative"),
        (1_000_000_000, 5),
        (1_000_000_001, 6),
    );
    set_times(
        &root.join("dir/nested"),
        (-86_400, 1),
        (-172_800, 987_654_321),
    );
}

/// Adds `count` small files spread over `dirs` folders.
pub fn add_bulk(root: &Path, dirs: usize, count: usize) {
    for i in 0..count {
        let dir = root.join(format!("bulk/d{:03}", i % dirs));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join(format!("f{i:05}")),
            pseudo_random(i % 3000, i as u64),
        )
        .expect("write");
    }
}

/// Lists the relative paths below `root`, sorted, without following symlinks.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(&rel))
            .unwrap_or_else(|e| panic!("read_dir {}: {e}", root.join(&rel).display()))
            .map(|e| rel.join(e.expect("entry").file_name()))
            .collect();
        entries.sort();
        for entry in entries {
            if root
                .join(&entry)
                .symlink_metadata()
                .is_ok_and(|m| m.is_dir())
            {
                stack.push(entry.clone());
            }
            out.push(entry);
        }
    }
    out.sort();
    out
}

/// A second of wall-clock time from now, as (secs, nanos).
pub fn now_plus(secs: i64) -> (i64, i64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    (now.as_secs() as i64 + secs, 0)
}

/// A sparse file (a hole, then data) and a file of one block repeated, as backups meet them.
pub fn add_big_files(root: &Path) {
    let sparse = std::fs::File::create(root.join("sparse")).expect("create");
    sparse.set_len(8 * 1024 * 1024).expect("set_len");
    use std::os::unix::fs::FileExt;
    sparse
        .write_all_at(b"the end of a sparse file", 8 * 1024 * 1024 - 24)
        .expect("write");
    let block = pseudo_random(65_536, 99);
    std::fs::write(root.join("repeated"), block.repeat(64)).expect("write");
}
