//! FUSE passthrough of snapshot folders through the real kernel FUSE: big and small files read
//! byte-exact while the kernel reads them itself (the daemon serves no READ), and the fallbacks
//! through genmount: `--no-passthrough`, a kernel that refuses the backing files, and a folder
//! whose filesystem records access times (the kernel's reads would write them into the backup).
// Passthrough is Linux's (6.9 or later, as root): these tests run as root, as CI does.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const GENERATION: &str = "2026-11-01_10-00-00";
const BIG: usize = (8 << 20) + 12_345;
const SMALL: usize = 200;

/// A folder of one generation: a big file and small files of 0 to 8 KiB, with their bytes.
fn folder(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let generation = root.join(GENERATION);
    std::fs::create_dir_all(generation.join("small")).expect("generation");
    let mut files = vec![(PathBuf::from("big.bin"), pseudo_random(BIG, 1))];
    for i in 0..SMALL {
        let size = i * 8192 / (SMALL - 1);
        let name = PathBuf::from(format!("small/{i:03}"));
        files.push((name, pseudo_random(size, i as u64 + 2)));
    }
    for (name, bytes) in &files {
        std::fs::write(generation.join(name), bytes).expect("source file");
    }
    files
}

/// `dir` bind-mounted read-only at `at` (unmounted when dropped): a folder whose files no read can
/// give a new access time, which passthrough requires.
struct ReadOnlyBind(PathBuf);

impl ReadOnlyBind {
    fn new(dir: &Path, at: &Path) -> ReadOnlyBind {
        std::fs::create_dir(at).expect("mkdir");
        let bound = ReadOnlyBind(at.to_owned());
        for args in [&["--bind"][..], &["-o", "remount,ro,bind"][..]] {
            let status = std::process::Command::new("mount")
                .args(args)
                .args(if args.len() == 1 {
                    vec![dir, at]
                } else {
                    vec![at]
                })
                .status()
                .expect("mount(8)");
            assert!(status.success(), "mount {args:?} failed");
        }
        bound
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A temporary directory holding a folder repository `repo/` (its files returned), an empty `mnt/`,
/// and the path of the daemon's log.
#[allow(clippy::type_complexity)]
fn setup() -> std::io::Result<(
    tempfile::TempDir,
    PathBuf,
    PathBuf,
    PathBuf,
    Vec<(PathBuf, Vec<u8>)>,
)> {
    let dir = tempfile::tempdir()?;
    let (repo, mnt, log) = (
        dir.path().join("repo"),
        dir.path().join("mnt"),
        dir.path().join("log"),
    );
    std::fs::create_dir(&mnt)?;
    let files = folder(&repo);
    Ok((dir, repo, mnt, log, files))
}

/// Reads every file under `generation` and compares it with its source bytes.
fn read_and_compare(generation: &Path, files: &[(PathBuf, Vec<u8>)]) {
    for (name, bytes) in files {
        let read = std::fs::read(generation.join(name)).expect("read through the mount");
        assert!(read == *bytes, "{} differs from its source", name.display());
    }
}

/// Starts genmount at -v with `extra` arguments; its log is kept in `log`.
fn start(repo: &Path, mnt: &Path, log: &Path, extra: &[&str]) -> Mount {
    let mut command = std::process::Command::new(BIN);
    command.args(["mount", "-v"]).arg(repo).arg(mnt).args(extra);
    let child = command
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("genmount starts");
    let mut mount = Mount {
        child: Some(child),
        mountpoint: mnt.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_mounted(mnt) {
        let exited = mount.child.as_mut().map(|c| c.try_wait());
        assert!(
            Instant::now() < deadline && matches!(exited, Some(Ok(None))),
            "the mount did not come up ({exited:?}): {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    mount
}

/// The counts the daemon logs at unmount: files the kernel read directly, and reads it served.
fn counts(log: &str) -> (u64, u64) {
    let field = |name: &str| {
        let at = log
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("no {name} in: {log}"));
        let digits: String = log[at + name.len() + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{name} in: {log}"))
    };
    (field("direct_opens"), field("reads"))
}

/// The bytes of `path` read through a shared read-only mapping, as a program that maps it would.
fn mapped(path: &Path) -> std::io::Result<Vec<u8>> {
    // SAFETY: the mapping is `len` bytes long and stays mapped while the slice is copied.
    with_mapping(path, |at, len| unsafe {
        std::slice::from_raw_parts(at as *const u8, len).to_vec()
    })
}

fn stop(mut mount: Mount, log: &Path) -> String {
    mount.stop_with(libc::SIGTERM);
    std::fs::read_to_string(log).expect("the daemon's log")
}

/// Small files are read through genmount, which pushes the next ones into the page cache ahead of
/// a reader (an OPEN and a disk read per file would cost more): only big.bin is passed through.
#[test]
fn the_kernel_reads_big_folder_files_itself_and_small_ones_come_through_genmount() -> TestResult {
    let (dir, repo, mnt, log, files) = setup()?;
    let read_only = ReadOnlyBind::new(&repo, &dir.path().join("ro"));
    let mount = start(&read_only.0, &mnt, &log, &[]);
    let generation = mnt.join(GENERATION);
    read_and_compare(&generation, &files);

    // Two opens of one file at once share its backing file; closing one leaves the other reading,
    // and an open after the last close registers it anew.
    let big = &files[0].1;
    let first = std::fs::File::open(generation.join("big.bin"))?;
    let second = std::fs::File::open(generation.join("big.bin"))?;
    let mut buf = vec![0; 4096];
    first.read_exact_at(&mut buf, 1 << 20)?;
    assert_eq!(buf, big[1 << 20..(1 << 20) + 4096]);
    drop(first);
    second.read_exact_at(&mut buf, BIG as u64 - 4096)?;
    assert_eq!(buf, big[BIG - 4096..]);
    drop(second);
    let mut again = Vec::new();
    std::fs::File::open(generation.join("big.bin"))?.read_to_end(&mut again)?;
    assert!(again == *big, "big.bin differs when opened again");

    assert_eq!(mapped(&generation.join("big.bin"))?, *big, "big.bin mapped");
    let write = std::fs::OpenOptions::new()
        .append(true)
        .open(generation.join("big.bin"));
    assert_eq!(errno_of(write), Some(libc::EROFS));

    let log = stop(mount, &log);
    assert!(log.contains("FUSE passthrough in use"), "{log}");
    let (direct, reads) = counts(&log);
    // big.bin was registered at most once per open above that found it unregistered.
    assert!(
        (1..=4).contains(&direct),
        "{direct} files passed through: {log}"
    );
    // A small file takes one read at most; big.bin through genmount would add 8 MiB of them.
    assert!(
        (1..=SMALL as u64).contains(&reads),
        "{reads} reads served: {log}"
    );
    Ok(())
}

#[test]
fn no_passthrough_reads_through_genmount() -> TestResult {
    let (dir, repo, mnt, log, files) = setup()?;
    let read_only = ReadOnlyBind::new(&repo, &dir.path().join("ro"));
    let mount = start(&read_only.0, &mnt, &log, &["--no-passthrough"]);
    read_and_compare(&mnt.join(GENERATION), &files);
    let log = stop(mount, &log);
    assert!(log.contains("FUSE passthrough turned off"), "{log}");
    let (direct, reads) = counts(&log);
    assert_eq!(direct, 0, "{log}");
    assert!(
        reads >= (BIG >> 20) as u64,
        "only {reads} reads served: {log}"
    );
    Ok(())
}

/// A folder on a FUSE mount is one stacking level deep already: the kernel refuses its files as
/// backing files (ELOOP), and each is read through genmount instead, byte for byte.
#[test]
fn backing_files_the_kernel_refuses_are_read_through_genmount() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (repo, lower) = (dir.path().join("repo"), dir.path().join("lower"));
    let (upper, log) = (dir.path().join("upper"), dir.path().join("upper.log"));
    std::fs::create_dir(&lower)?;
    std::fs::create_dir(&upper)?;
    let files = folder(&repo);
    let read_only = ReadOnlyBind::new(&repo, &dir.path().join("ro"));
    let lower_log = dir.path().join("lower.log");
    let lower_mount = start(&read_only.0, &lower, &lower_log, &[]);
    let mount = start(&lower, &upper, &log, &[]);
    read_and_compare(&upper.join(GENERATION), &files);
    let log = stop(mount, &log);
    assert!(
        log.contains("FUSE passthrough refused by the kernel"),
        "{log}"
    );
    let (direct, reads) = counts(&log);
    assert_eq!(direct, 0, "{log}");
    assert!(
        reads >= (BIG >> 20) as u64,
        "only {reads} reads served: {log}"
    );
    let lower_log = stop(lower_mount, &lower_log);
    let (lower_direct, lower_reads) = counts(&lower_log);
    assert!(
        lower_direct >= 1 && lower_reads <= SMALL as u64,
        "the lower mount passes big.bin through: {lower_log}"
    );
    Ok(())
}

/// On a filesystem that records access times (relatime here), the kernel's own reads of a backing
/// file would give the backed-up file a new atime: such files are read through genmount, whose
/// reads leave atimes alone (O_NOATIME), and the source's atimes stay as they were.
#[test]
fn files_whose_reads_would_change_atimes_are_not_passed_through() -> TestResult {
    let (_dir, repo, mnt, log, files) = setup()?;
    let generation = repo.join(GENERATION);
    // Older than a day: relatime would update it at the next read.
    let status = std::process::Command::new("touch")
        .args(["-a", "-d", "2001-02-03 04:05:06"])
        .args(files.iter().map(|(name, _)| generation.join(name)))
        .status()?;
    assert!(status.success(), "touch -a");
    let atimes = |files: &[(PathBuf, Vec<u8>)]| -> Vec<i64> {
        let atime = |name: &PathBuf| std::fs::metadata(generation.join(name)).map(|m| m.atime());
        files
            .iter()
            .map(|(name, _)| atime(name).unwrap_or(-1))
            .collect()
    };
    let before = atimes(&files);
    let mount = start(&repo, &mnt, &log, &[]);
    read_and_compare(&mnt.join(GENERATION), &files);
    let log = stop(mount, &log);
    assert!(log.contains("passthrough not used"), "{log}");
    assert!(!log.contains("FUSE passthrough in use"), "{log}");
    assert_eq!(
        atimes(&files),
        before,
        "reads changed the source's access times"
    );
    Ok(())
}
