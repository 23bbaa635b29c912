//! Hostile restic repositories written byte by byte (`common/restic_writer.rs`) through real FUSE:
//! impossible names, symlink loops, absurd sizes, 10,000-deep trees, missing blobs, chmod 000.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/restic_writer.rs"]
mod restic_writer;

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use restic_writer::{RepoWriter, TreeBuilder, blob_id};

const PASSWORD: &str = "hostile horse";

/// An initialised repository whose blobs, trees and snapshots the tests write byte by byte.
struct Fixture(ResticDir);

impl std::ops::Deref for Fixture {
    type Target = ResticDir;
    fn deref(&self) -> &ResticDir {
        &self.0
    }
}

impl Fixture {
    fn new() -> Result<Fixture, Box<dyn std::error::Error>> {
        Ok(Fixture(ResticDir::init(PASSWORD)?))
    }
    fn writer(&self) -> Result<RepoWriter, Box<dyn std::error::Error>> {
        RepoWriter::open(&self.repo(), PASSWORD)
    }
    fn mount(&self) -> Mount {
        let [repo, mnt, password, cache] = self.paths();
        Mount::start(
            &restic_args(repo.as_os_str(), &mnt, &password, &cache),
            &mnt,
        )
    }
    /// The directory of the repository's one generation (through `latest`).
    fn generation(&self) -> Result<PathBuf, Box<dyn std::error::Error>> {
        Ok(self
            .mnt()
            .join(std::fs::read_link(self.mnt().join("latest"))?))
    }
}

/// The daemon has not exited and still answers: `.pid` reads its process id.
fn assert_alive(mount: &mut Mount) {
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
fn names_in(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// What an entry of the hostile root tree is.
enum Entry {
    File(Vec<u8>),
    /// A directory holding one file, `escaped`, with these bytes.
    Dir(Vec<u8>),
}

#[test]
fn impossible_names_are_dropped_replaced_shortened_or_suffixed() -> TestResult {
    require_fuse();
    let fixture = Fixture::new()?;
    let long_one = "L".repeat(300);
    let long_two = format!("{}M", "L".repeat(299));
    // Each name as stored in the tree's JSON, the bytes it means, and the entry: restic stores
    // names Go-quoted (`\x2f` is `/`), and a name that does not unquote is taken as it is.
    let file = |stored: &str, meant: &[u8], bytes: &[u8]| {
        (
            stored.to_string(),
            meant.to_vec(),
            Entry::File(bytes.to_vec()),
        )
    };
    let dir = |stored: &str, meant: &[u8], bytes: &[u8]| {
        (
            stored.to_string(),
            meant.to_vec(),
            Entry::Dir(bytes.to_vec()),
        )
    };
    let entries: Vec<(String, Vec<u8>, Entry)> = vec![
        file("", b"", b"the empty name"),
        file(".", b".", b"a file called dot"),
        dir("..", b"..", b"escaped through dot-dot"),
        dir(r"\x2e\x2e", b"..", b"escaped through quoted dot-dot"),
        file("a/b", b"a/b", b"slash inside"),
        file("a\0b", b"a\0b", b"nul inside"),
        file(r"a\x2fb", b"a/b", b"quoted slash inside"),
        file(r"a\x00b", b"a\0b", b"quoted nul inside"),
        file(
            "../../etc/passwd",
            b"../../etc/passwd",
            b"root:x:0:0:not really",
        ),
        file(r"\xff\xfe", b"\xff\xfe", b"not UTF-8"),
        file(r"bad\q", br"bad\q", b"an escape Go does not know"),
        file(&long_one, long_one.as_bytes(), b"long one"),
        file(&long_two, long_two.as_bytes(), b"long two"),
        file("same", b"same", b"first of two"),
        file("same", b"same", b"second of two"),
        file("plain.txt", b"plain.txt", &pseudo_random(70_000, 1)),
        dir("sub", b"sub", b"an ordinary subdirectory"),
    ];
    let mut writer = fixture.writer()?;
    let mut root = TreeBuilder::new();
    for (stored, _, entry) in &entries {
        root = match entry {
            Entry::File(bytes) => root.file(stored, &writer.content(bytes)?, bytes.len() as u64),
            Entry::Dir(bytes) => {
                let inner =
                    TreeBuilder::new().file("escaped", &writer.content(bytes)?, bytes.len() as u64);
                root.dir(stored, &writer.tree(&inner)?)
            }
        };
    }
    let tree = writer.tree(&root)?;
    writer.snapshot(&tree)?;

    // What src/names.rs promises for this listing, and the same by hand where it can be.
    let raw: Vec<(Vec<u8>, &Entry)> = entries
        .iter()
        .map(|(_, name, entry)| (name.clone(), entry))
        .collect();
    let promised = genmount::names::safe_listing(raw, "test");
    let mut expected: Vec<Vec<u8>> = promised.iter().map(|(name, _)| name.clone()).collect();
    expected.sort();
    let shortened = |name: &str| genmount::names::safe_name(name.as_bytes()).unwrap_or_default();
    let mut by_hand: Vec<Vec<u8>> = [
        &b"a_b"[..],
        b"a_b~2",
        b"a_b~3",
        b"a_b~4",
        b".._.._etc_passwd",
        b"\xff\xfe",
        br"bad\q",
        b"same",
        b"same~2",
        b"plain.txt",
        b"sub",
        &shortened(&long_one),
        &shortened(&long_two),
    ]
    .iter()
    .map(|n| n.to_vec())
    .collect();
    by_hand.sort();
    assert_eq!(expected, by_hand, "names.rs and this test disagree");
    for long in [shortened(&long_one), shortened(&long_two)] {
        assert_eq!(long.len(), 255);
        assert!(
            long.starts_with(&[b'L'; 238]) && long[238] == b'~',
            "{long:?}"
        );
    }
    assert_ne!(shortened(&long_one), shortened(&long_two));

    let mut mount = fixture.mount();
    let generation = fixture.generation()?;
    assert_eq!(
        names_in(&generation)?,
        expected,
        "the mount lists other names"
    );
    for (name, entry) in &promised {
        let path = generation.join(OsStr::from_bytes(name));
        match entry {
            Entry::File(bytes) => {
                assert!(
                    std::fs::symlink_metadata(&path)?.is_file(),
                    "{}",
                    shown(name)
                );
                assert_eq!(&std::fs::read(&path)?, bytes, "contents of {}", shown(name));
            }
            Entry::Dir(bytes) => {
                assert_eq!(names_in(&path)?, vec![b"escaped".to_vec()]);
                assert_eq!(&std::fs::read(path.join("escaped"))?, bytes);
            }
        }
    }
    // `a/b` is one file, not a directory `a`; `..` is the kernel's parent, never the entry `..`.
    assert_eq!(
        errno_of(std::fs::symlink_metadata(generation.join("a"))),
        Some(libc::ENOENT)
    );
    let parent = std::fs::metadata(generation.join(".."))?;
    assert_eq!(parent.ino(), std::fs::metadata(fixture.mnt())?.ino());
    assert_eq!(
        errno_of(std::fs::metadata(generation.join("../escaped"))),
        Some(libc::ENOENT)
    );
    assert_eq!(
        std::fs::read(generation.join(".").join("plain.txt"))?,
        pseudo_random(70_000, 1)
    );
    // No file anywhere in the generation holds the bytes of the entry `..`, which was dropped.
    for rel in walk(&generation) {
        let path = generation.join(&rel);
        if std::fs::symlink_metadata(&path)?.is_file() {
            let bytes = std::fs::read(&path)?;
            assert!(!bytes.starts_with(b"escaped through"), "{}", rel.display());
        }
    }
    assert_alive(&mut mount);
    Ok(())
}

/// Opens `name` below the directory `dir` (no path longer than PATH_MAX is ever formed).
fn open_at(dir: &OwnedFd, name: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let name = CString::new(name)?;
    // SAFETY: a valid directory descriptor and C string; the result is checked before use.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[test]
fn symlink_loops_give_eloop_and_targets_read_as_stored() -> TestResult {
    require_fuse();
    let fixture = Fixture::new()?;
    let mut writer = fixture.writer()?;
    let links = [
        ("loop", "loop".to_string()),
        ("a", "b".to_string()),
        ("b", "a".to_string()),
        ("self-dir", ".".to_string()),
        ("absolute", "/genmount-hostile/nowhere/at/all".to_string()),
        ("upward", "../".repeat(64)),
        ("longest", "t".repeat(4095)),
    ];
    // Longer than any symlink target the kernel accepts (PATH_MAX - 1 bytes).
    let too_long = "T".repeat(5000);
    let mut root = TreeBuilder::new().symlink("too-long", &too_long);
    for (name, target) in &links {
        root = root.symlink(name, target);
    }
    let text = b"next to the loops\n";
    root = root.file("file", &writer.content(text)?, text.len() as u64);
    let tree = writer.tree(&root)?;
    writer.snapshot(&tree)?;

    let mut mount = fixture.mount();
    let generation = fixture.generation()?;
    for (name, target) in &links {
        let path = generation.join(name);
        assert_eq!(
            std::fs::read_link(&path)?,
            Path::new(target),
            "target of {name}"
        );
        let md = std::fs::symlink_metadata(&path)?;
        assert!(md.file_type().is_symlink(), "{name}");
        assert_eq!(md.len(), target.len() as u64, "size of {name}");
    }
    for name in ["loop", "a", "b"] {
        let started = Instant::now();
        assert_eq!(
            errno_of(std::fs::File::open(generation.join(name))),
            Some(libc::ELOOP),
            "{name}"
        );
        assert_eq!(
            errno_of(std::fs::metadata(generation.join(name))),
            Some(libc::ELOOP),
            "{name}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} took too long"
        );
    }
    // A loop through a directory: each `self-dir` is one more symlink, beyond the kernel's 40.
    let deep = generation.join("self-dir/".repeat(41)).join("file");
    assert_eq!(errno_of(std::fs::read(&deep)), Some(libc::ELOOP));
    let shallow = generation.join("self-dir/".repeat(5)).join("file");
    assert_eq!(std::fs::read(&shallow)?, text);
    // A target no kernel can hold: ENAMETOOLONG for readlink (never a truncated target), not a hang.
    let started = Instant::now();
    let refused = errno_of(std::fs::read_link(generation.join("too-long")));
    assert_eq!(
        refused,
        Some(libc::ENAMETOOLONG),
        "readlink of a 5000-byte target"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        std::fs::symlink_metadata(generation.join("too-long"))?.len(),
        too_long.len() as u64
    );
    assert_alive(&mut mount);
    Ok(())
}

/// Reads a whole file with plain `read(2)` calls, without trusting its size for a buffer; fails
/// when it yields more than `limit` bytes or takes longer than `time`.
fn read_bounded(path: &Path, limit: usize, time: Duration) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let started = Instant::now();
    let mut file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        assert!(
            out.len() <= limit,
            "{} yields more than {limit} bytes",
            path.display()
        );
        assert!(started.elapsed() < time, "{} reads forever", path.display());
    }
}

#[test]
fn absurd_sizes_never_hang_nor_invent_bytes() -> TestResult {
    require_fuse();
    let fixture = Fixture::new()?;
    let mut writer = fixture.writer()?;
    let ten = pseudo_random(10, 3);
    let content = writer.content(&ten)?;
    // Far offsets are read each from a file of its own: after one short read the kernel takes the
    // file's size to end there and would answer later reads without asking genmount.
    let far = [4096, 1 << 40, (1 << 62) - 1];
    let mut root = TreeBuilder::new()
        .file("huge", &content, 1 << 62)
        .file("short", &content, 5)
        .file("zero", &content, 0)
        .file("exact", &content, 10);
    for offset in far {
        root = root.file(&format!("far-{offset}"), &content, 1 << 62);
    }
    let tree = writer.tree(&root)?;
    writer.snapshot(&tree)?;

    let mut mount = fixture.mount();
    let generation = fixture.generation()?;
    let limit = Duration::from_secs(10);
    assert_eq!(
        std::fs::metadata(generation.join("huge"))?.len(),
        1 << 62,
        "the size as stored"
    );
    // A size beyond the content: the content, then end of file; far offsets give nothing.
    assert_eq!(read_bounded(&generation.join("huge"), 1 << 20, limit)?, ten);
    for offset in far {
        let file = std::fs::File::open(generation.join(format!("far-{offset}")))?;
        let mut buf = vec![0u8; 4096];
        let started = Instant::now();
        let n = file.read_at(&mut buf, offset)?;
        assert_eq!(n, 0, "{n} bytes at offset {offset} that no blob holds");
        assert!(started.elapsed() < limit);
        assert_eq!(file.read_at(&mut buf, 0)?, 10, "the content at offset 0");
        assert_eq!(buf[..10], ten);
    }
    // A size short of the content: the file is what its size says, a prefix of the content.
    assert_eq!(
        read_bounded(&generation.join("short"), 1 << 20, limit)?,
        &ten[..5]
    );
    assert_eq!(read_bounded(&generation.join("zero"), 1 << 20, limit)?, b"");
    assert_eq!(
        read_bounded(&generation.join("exact"), 1 << 20, limit)?,
        ten
    );
    assert_alive(&mut mount);
    Ok(())
}

#[test]
fn sizes_beyond_the_kernels_range_still_list_and_read() -> TestResult {
    require_fuse();
    let fixture = Fixture::new()?;
    let mut writer = fixture.writer()?;
    let ten = pseudo_random(10, 4);
    let content = writer.content(&ten)?;
    // The kernel takes file sizes as signed 64-bit numbers: these two do not fit.
    let root = TreeBuilder::new()
        .file("max", &content, u64::MAX)
        .file("over", &content, 1 << 63)
        .file("ok", &content, 10);
    let tree = writer.tree(&root)?;
    writer.snapshot(&tree)?;

    let mut mount = fixture.mount();
    let generation = fixture.generation()?;
    assert_eq!(names_in(&generation)?, [&b"max"[..], b"ok", b"over"]);
    let limit = Duration::from_secs(10);
    for name in ["max", "over", "ok"] {
        let path = generation.join(name);
        let md = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("stat {name} (stored size beyond i64::MAX): {e}"))?;
        assert!(md.is_file() && md.len() >= 10, "{name}: size {}", md.len());
        let bytes = read_bounded(&path, 1 << 20, limit).map_err(|e| format!("read {name}: {e}"))?;
        assert_eq!(bytes, ten, "{name}");
    }
    assert_alive(&mut mount);
    Ok(())
}

#[test]
fn ten_thousand_nested_directories_are_walked_to_the_bottom() -> TestResult {
    require_fuse();
    const DEPTH: usize = 10_000;
    let fixture = Fixture::new()?;
    let mut writer = fixture.writer()?;
    let bottom_bytes = b"the bottom of a very deep tree\n";
    let bottom = TreeBuilder::new().file(
        "bottom.txt",
        &writer.content(bottom_bytes)?,
        bottom_bytes.len() as u64,
    );
    let mut tree = writer.tree(&bottom)?;
    for level in (0..DEPTH).rev() {
        let marker = format!("level {level}\n");
        let node = TreeBuilder::new().dir("d", &tree).file(
            "level",
            &writer.content(marker.as_bytes())?,
            marker.len() as u64,
        );
        tree = writer.tree(&node)?;
    }
    writer.snapshot(&tree)?;

    let started = Instant::now();
    let mut mount = fixture.mount();
    let generation = fixture.generation()?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    let root = CString::new(generation.as_os_str().as_bytes())?;
    // SAFETY: a valid C string; the result is checked before use.
    let fd = unsafe { libc::open(root.as_ptr(), flags | libc::O_CLOEXEC) };
    assert!(fd >= 0, "open {}", generation.display());
    // SAFETY: fd was just opened and is owned by nothing else.
    let mut dir = unsafe { OwnedFd::from_raw_fd(fd) };
    for level in 0..DEPTH {
        if level % 1000 == 0 {
            let file = std::fs::File::from(open_at(&dir, "level", libc::O_RDONLY)?);
            let mut buf = [0u8; 64];
            let n = file.read_at(&mut buf, 0)?;
            assert_eq!(&buf[..n], format!("level {level}\n").as_bytes());
        }
        dir = open_at(&dir, "d", flags).map_err(|e| format!("level {level}: {e}"))?;
    }
    let file = std::fs::File::from(open_at(&dir, "bottom.txt", libc::O_RDONLY)?);
    let mut buf = [0u8; 64];
    let n = file.read_at(&mut buf, 0)?;
    assert_eq!(&buf[..n], bottom_bytes);
    assert_eq!(
        errno_of(open_at(&dir, "d", flags)),
        Some(libc::ENOENT),
        "the chain ends"
    );
    drop(dir);
    assert_alive(&mut mount);
    let peak = proc_status_kib(mount.pid(), "VmHWM:");
    assert!(peak > 0 && peak < 256 * 1024, "daemon peak RSS {peak} KiB");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the walk took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn missing_blobs_and_trees_give_eio_for_their_entries_only() -> TestResult {
    require_fuse();
    let fixture = Fixture::new()?;
    let mut writer = fixture.writer()?;
    let good = pseudo_random(100_000, 5);
    let inner = b"inside a healthy directory\n";
    let missing_blob = blob_id(b"a blob that was never written");
    let missing_tree = blob_id(b"{\"nodes\":[]} but never written\n");
    let good_content = writer.content(&good)?;
    let mut partly = good_content.clone();
    partly.push(missing_blob.clone());
    let healthy = TreeBuilder::new().file("inner", &writer.content(inner)?, inner.len() as u64);
    let root = TreeBuilder::new()
        .file("good", &good_content, good.len() as u64)
        .file("lost", std::slice::from_ref(&missing_blob), 1000)
        .file("partly", &partly, good.len() as u64 + 1000)
        .dir("gone", &missing_tree)
        .dir("healthy", &writer.tree(&healthy)?);
    let tree = writer.tree(&root)?;
    writer.snapshot(&tree)?;

    let mut mount = fixture.mount();
    let generation = fixture.generation()?;
    assert_eq!(
        names_in(&generation)?,
        [&b"gone"[..], b"good", b"healthy", b"lost", b"partly"]
    );
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(
            errno_of(std::fs::read(generation.join("lost"))),
            Some(libc::EIO)
        );
        assert_eq!(
            errno_of(std::fs::read(generation.join("partly"))),
            Some(libc::EIO)
        );
        assert!(std::fs::metadata(generation.join("gone"))?.is_dir());
        // Where the kernel lists without OPENDIR, opening succeeds and the listing fails.
        let listed: std::io::Result<Vec<_>> =
            std::fs::read_dir(generation.join("gone")).and_then(|entries| entries.collect());
        assert_eq!(errno_of(listed), Some(libc::EIO));
        assert_eq!(
            errno_of(std::fs::metadata(generation.join("gone/anything"))),
            Some(libc::EIO)
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "EIO must come quickly"
        );
        assert_eq!(std::fs::read(generation.join("good"))?, good);
        assert_eq!(std::fs::read(generation.join("healthy/inner"))?, inner);
        assert_eq!(std::fs::metadata(generation.join("lost"))?.len(), 1000);
    }
    assert_alive(&mut mount);
    Ok(())
}

/// Reads `path` on another thread; `None` when that takes longer than `time` (a hang).
fn read_within(path: &Path, time: Duration) -> Option<std::io::Result<Vec<u8>>> {
    let (done, wait) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = done.send(std::fs::read(path));
    });
    wait.recv_timeout(time).ok()
}

#[test]
fn an_unreadable_repository_gives_eio_and_reads_again_once_readable() -> TestResult {
    require_fuse();
    let fixture = Fixture::new()?;
    let mut writer = fixture.writer()?;
    let files: Vec<(&str, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                ["first", "second", "third"][i],
                pseudo_random(200_000 + i, i as u64 + 7),
            )
        })
        .collect();
    let mut root = TreeBuilder::new();
    for (name, bytes) in &files {
        root = root.file(name, &writer.content(bytes)?, bytes.len() as u64);
    }
    let tree = writer.tree(&root)?;
    writer.snapshot(&tree)?;

    // Root bypasses permission bits, so genmount runs as root without CAP_DAC_OVERRIDE and
    // CAP_DAC_READ_SEARCH: the repository's modes bind it as they bind any user. (Not as nobody:
    // where /dev/fuse is 0600, fuser's direct mount fails for users and never tries fusermount3.)
    let [repo, mnt, password, cache] = fixture.paths();
    let log = fixture.dir.path().join("genmount.log");
    let no_bypass = "-dac_override,-dac_read_search";
    let child = std::process::Command::new("setpriv")
        .arg(format!("--bounding-set={no_bypass}"))
        .arg(format!("--inh-caps={no_bypass}"))
        .arg(BIN)
        .arg("mount")
        .args(restic_args(repo.as_os_str(), &mnt, &password, &cache))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let mut mount = Mount {
        child: Some(child),
        mountpoint: mnt.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_mounted(&mnt) {
        let exited = mount.child.as_mut().map(|c| c.try_wait());
        assert!(
            Instant::now() < deadline && matches!(exited, Some(Ok(None))),
            "the mount did not come up ({exited:?}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let generation = fixture.generation()?;
    let time = Duration::from_secs(15);
    let read = |name: &str| {
        read_within(&generation.join(name), time).unwrap_or_else(|| panic!("reading {name} hung"))
    };
    assert_eq!(names_in(&generation)?, [&b"first"[..], b"second", b"third"]);
    assert_eq!(read("first")?, files[0].1);

    // The packs' folder unreadable, then the whole repository: a file not read yet fails with
    // EIO, quickly; the daemon answers; once readable again, the file reads whole.
    for (unreadable, (name, bytes)) in [repo.join("data"), repo.clone()].iter().zip(&files[1..]) {
        let mode = std::fs::metadata(unreadable)?.permissions();
        std::fs::set_permissions(unreadable, std::fs::Permissions::from_mode(0o000))?;
        let started = Instant::now();
        let denied = read(name);
        std::fs::set_permissions(unreadable, mode.clone())?;
        assert_eq!(
            errno_of(denied),
            Some(libc::EIO),
            "{name} under an unreadable {}",
            unreadable.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "EIO took {:?}",
            started.elapsed()
        );
        std::fs::set_permissions(unreadable, std::fs::Permissions::from_mode(0o000))?;
        let answered = read_within(&mnt.join(".pid"), time);
        std::fs::set_permissions(unreadable, mode)?;
        assert_eq!(
            answered.and_then(Result::ok),
            Some(format!("{}\n", mount.pid()).into_bytes()),
            "the daemon answers while the repository is unreadable"
        );
        assert_eq!(&read(name)?, bytes, "{name} once readable again");
    }
    assert_alive(&mut mount);
    Ok(())
}

#[test]
fn the_writer_writes_what_restic_itself_reads() -> TestResult {
    let fixture = Fixture::new()?;
    let mut writer = fixture.writer()?;
    let text = b"written byte by byte\n";
    let random = pseudo_random(50_000, 9);
    let inner = TreeBuilder::new().file("inner.txt", &writer.content(text)?, text.len() as u64);
    let root = TreeBuilder::new()
        .dir("dir", &writer.tree(&inner)?)
        .symlink("link", "dir/inner.txt")
        .file("random", &writer.content(&random)?, random.len() as u64);
    let tree = writer.tree(&root)?;
    let snapshot = writer.snapshot(&tree)?;
    let (repo, password, dir) = (fixture.repo(), fixture.password(), fixture.dir.path());
    // restic verifies every pack, blob, index entry and tree, and reads the content back.
    restic(&repo, &password, dir, &["check", "--read-data"]);
    let listed = restic(&repo, &password, dir, &["ls", &snapshot]);
    let paths: Vec<&str> = listed.lines().filter(|l| l.starts_with('/')).collect();
    assert_eq!(paths, ["/dir", "/dir/inner.txt", "/link", "/random"]);
    let dumped = restic(
        &repo,
        &password,
        dir,
        &["dump", &snapshot, "/dir/inner.txt"],
    );
    assert_eq!(dumped.as_bytes(), text);
    Ok(())
}
