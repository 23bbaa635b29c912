//! Shared helpers of the integration tests: a genmount daemon mounted through the real kernel FUSE,
//! a source tree full of edge cases, and a field-by-field comparison of two trees.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const BIN: &str = env!("CARGO_BIN_EXE_genmount");

/// Fails loudly when the machine cannot run FUSE tests: they must never pass by skipping.
pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: these tests need FUSE"
    );
}

/// Whether `path` is a mountpoint right now, according to the kernel.
pub fn is_mounted(path: &Path) -> bool {
    let wanted = path.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mounts")
        .map(|text| {
            text.lines()
                .any(|line| line.split(' ').nth(1) == Some(wanted.as_str()))
        })
        .unwrap_or(false)
}

/// A running `genmount mount`; unmounts (SIGTERM) when dropped.
pub struct Mount {
    pub child: Option<Child>,
    pub mountpoint: PathBuf,
}

impl Mount {
    /// Starts genmount with `args` and waits until the mount is live.
    pub fn start(args: &[&OsStr], mountpoint: &Path) -> Mount {
        let mut command = Command::new(BIN);
        command.arg("mount").args(args);
        Mount::spawn(command, mountpoint)
    }

    /// Runs `command` (genmount, or a wrapper that runs it) and waits until the mount is live.
    pub fn spawn(mut command: Command, mountpoint: &Path) -> Mount {
        require_fuse();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("genmount starts");
        let mut mount = Mount {
            child: Some(child),
            mountpoint: mountpoint.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !is_mounted(mountpoint) {
            if let Some(child) = mount.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let err = read_stderr(child);
                panic!("genmount exited ({status}) before mounting: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "genmount did not mount within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        mount
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Unmounts with SIGTERM and returns what the daemon logged.
    pub fn stop_for_log(&mut self) -> String {
        let mut child = self.child.take().expect("the daemon is still owned");
        // SAFETY: kill with a valid pid and signal number has no memory effects.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let log = read_stderr(&mut child);
        let _ = child.wait();
        log
    }

    /// Sends `signal` and waits for the daemon to exit; returns its status.
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon is still owned");
        // SAFETY: kill with a valid pid and signal number has no memory effects.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "genmount did not exit within 20 s of signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop_with(libc::SIGTERM);
        }
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

fn read_stderr(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

/// The errno of a failed call, if it failed.
pub fn errno_of<T>(result: std::io::Result<T>) -> Option<i32> {
    result.err().and_then(|e| e.raw_os_error())
}

/// A `kB` line of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in KiB; 0 when there is none.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs genmount to completion (for commands that fail or print); returns status, stdout, stderr.
pub fn run(args: &[&OsStr]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("genmount runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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

/// A second of wall-clock time from now, as (secs, nanos).
pub fn now_plus(secs: i64) -> (i64, i64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    (now.as_secs() as i64 + secs, 0)
}

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

/// The generations a mount's root shows, sorted: its entries without `latest` and `.pid`.
pub fn generation_names(mnt: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(mnt)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "latest" && n != ".pid")
        .collect();
    names.sort();
    names
}
