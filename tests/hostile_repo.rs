//! Hostile restic repositories written byte by byte (`common/restic_writer.rs`) through real FUSE:
//! impossible names, symlink loops and long targets, 10,000-deep trees.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/hostile_fixture.rs"]
mod hostile_fixture;
#[path = "common/restic_writer.rs"]
mod restic_writer;

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use hostile_fixture::*;
use restic_writer::TreeBuilder;

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
