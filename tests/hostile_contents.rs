//! Hostile restic repositories written byte by byte (`common/restic_writer.rs`) through real FUSE:
//! absurd sizes, missing blobs and trees, a repository made unreadable (chmod 000) under the mount,
//! and the writer's format as the real restic reads it.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/hostile_fixture.rs"]
mod hostile_fixture;
#[path = "common/restic_writer.rs"]
mod restic_writer;

use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use hostile_fixture::*;
use restic_writer::{TreeBuilder, blob_id};

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
    // A pack each: genmount keeps a pack it has read open, so a file read from an open pack would
    // not meet the permissions changed below.
    for (name, bytes) in &files {
        root = root.file(name, &writer.content(bytes)?, bytes.len() as u64);
        writer.seal_data_pack()?;
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
