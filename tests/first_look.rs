//! What a user sees first on a new mount, through real FUSE and the real CLI: generation times of
//! date-named folders, `df` on a restic repository, and what `--allow-damaged` served as zeros.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/restic_writer.rs"]
mod restic_writer;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::*;
use restic_writer::{RepoWriter, TreeBuilder, blob_id, hex};

/// A zone nine hours east of UTC with no DST, as a POSIX rule: no time zone database needed.
const TZ_EAST_9: &str = "JST-9";
/// 2026-11-01T00:00:00Z: the moment `2026-11-01_09-00-00` names at nine hours east of UTC.
const NOV_1_0900_EAST_9: i64 = 1_793_491_200;

/// Two date-named generations whose own mtimes are now, as a fresh clone or a copy leaves them.
fn date_named_folders(root: &Path) -> TestResult {
    for name in ["2026-10-31_09-00-00", "2026-11-01_09-00-00"] {
        std::fs::create_dir_all(root.join(name).join("etc"))?;
        std::fs::write(root.join(name).join("etc/hosts"), name)?;
    }
    Ok(())
}

#[test]
fn generations_of_date_named_folders_carry_the_names_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    date_named_folders(dir.path())?;
    let out = Command::new(BIN)
        .arg("generations")
        .arg(format!("dir:{}", dir.path().display()))
        .env("TZ", TZ_EAST_9)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let time_of = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
    };
    assert_eq!(
        time_of("2026-11-01_09-00-00").as_deref(),
        Some("2026-11-01T00:00:00Z"),
        "{stdout}"
    );
    assert_eq!(
        time_of("2026-10-31_09-00-00").as_deref(),
        Some("2026-10-31T00:00:00Z"),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn date_named_generation_directories_have_the_names_time_as_mtime() -> TestResult {
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt)?;
    date_named_folders(&repo)?;
    let mut command = Command::new(BIN);
    command
        .arg("mount")
        .arg(&repo)
        .arg(&mnt)
        .env("TZ", TZ_EAST_9);
    let _mount = Mount::spawn(command, &mnt);
    let md = std::fs::metadata(mnt.join("2026-11-01_09-00-00"))?;
    assert_eq!(md.mtime(), NOV_1_0900_EAST_9);
    assert_eq!(
        std::fs::metadata(mnt.join("2026-10-31_09-00-00"))?.mtime(),
        NOV_1_0900_EAST_9 - 86_400
    );
    // What is inside keeps its own times: only the generation is dated by its name.
    let inside = std::fs::metadata(mnt.join("2026-11-01_09-00-00/etc/hosts"))?;
    let source = std::fs::metadata(repo.join("2026-11-01_09-00-00/etc/hosts"))?;
    assert_eq!(inside.mtime(), source.mtime());
    Ok(())
}

/// Bytes of the regular files below `root`.
fn file_bytes(root: &Path) -> u64 {
    walk(root)
        .iter()
        .filter_map(|rel| std::fs::symlink_metadata(root.join(rel)).ok())
        .filter(|md| md.is_file())
        .map(|md| md.len())
        .sum()
}

#[test]
fn the_first_df_of_a_restic_mount_without_summaries_is_not_zero() -> TestResult {
    let fixture = ResticDir::init("first look")?;
    let source = fixture.dir.path().join("src");
    std::fs::create_dir_all(source.join("docs"))?;
    std::fs::write(source.join("docs/big"), pseudo_random(3 << 20, 7))?;
    // Enough directories that measuring takes longer than answering a statfs at once would.
    for i in 0..300 {
        let dir = source.join(format!("d{i:03}"));
        std::fs::create_dir(&dir)?;
        std::fs::write(dir.join("small"), format!("small file {i}\n"))?;
    }
    // restic before 0.17 (the 0.14 here) writes snapshots without a summary of their size.
    restic(
        &fixture.repo(),
        &fixture.password(),
        fixture.dir.path(),
        &["backup", "src"],
    );
    let [repo, mnt, password, cache] = fixture.paths();
    let _mount = Mount::start(
        &restic_args(repo.as_os_str(), &mnt, &password, &cache),
        &mnt,
    );
    let first = statvfs(&mnt);
    let shown = first.f_blocks * first.f_frsize;
    assert!(first.f_blocks > 0, "the first statfs says 0 blocks");
    assert!(
        shown >= file_bytes(&source),
        "the first statfs says {shown} bytes for {} bytes of files",
        file_bytes(&source)
    );
    Ok(())
}

const HOSTILE_PASSWORD: &str = "zeros for the lost";
/// What the index claims a lost blob holds: nearly 4 GB, where restic never writes more than 8 MiB.
const CLAIMED_LENGTH: u64 = 4_000_000_000;
/// The size the file's node gives: what a read of it can serve.
const LOST_FILE_SIZE: u64 = 3 << 20;

/// Adds an index file listing `blob` as a data blob of length `claimed` in a pack that does not exist.
fn index_with_claim(repo: &Path, blob: &str, claimed: u64) -> TestResult {
    use sha2::Digest;
    let backends = rustic_backend::BackendOptions::default()
        .repository(format!("local:{}", repo.display()))
        .to_backends()?;
    let key = rustic_core::Repository::new(&rustic_core::RepositoryOptions::default(), &backends)?
        .open(&rustic_core::Credentials::password(HOSTILE_PASSWORD))?
        .key();
    let cipher = genmount::repo::restic::crypto::cipher(&key).ok_or("key of another shape")?;
    let index = serde_json::json!({ "packs": [{
        "id": blob_id(b"a pack that was never written"),
        "blobs": [{ "id": blob, "type": "data", "offset": 0, "length": 64,
                    "uncompressed_length": claimed }],
    }]});
    let sealed = genmount::repo::restic::crypto::encrypt(&cipher, &serde_json::to_vec(&index)?)
        .ok_or("encryption failed")?;
    std::fs::write(
        repo.join("index").join(hex(&sha2::Sha256::digest(&sealed))),
        sealed,
    )?;
    Ok(())
}

/// A repository of one snapshot: `healthy` and `lost/file`, whose one blob the index claims is
/// nearly 4 GB long in a pack that is missing.
fn lost_blob_repository() -> Result<ResticDir, Box<dyn std::error::Error>> {
    let fixture = ResticDir::init(HOSTILE_PASSWORD)?;
    let mut writer = RepoWriter::open(&fixture.repo(), HOSTILE_PASSWORD)?;
    let lost = blob_id(b"content nobody will see again");
    let healthy = writer.content(b"healthy content\n")?;
    let inner = writer.tree(&TreeBuilder::new().file(
        "file",
        std::slice::from_ref(&lost),
        LOST_FILE_SIZE,
    ))?;
    let root = TreeBuilder::new()
        .file("healthy", &healthy, 16)
        .dir("lost", &inner)
        .symlink("link", "lost/file");
    let root = writer.tree(&root)?;
    writer.snapshot(&root)?;
    index_with_claim(&fixture.repo(), &lost, CLAIMED_LENGTH)?;
    Ok(fixture)
}

fn mount_allowing_damage(fixture: &ResticDir) -> Mount {
    let [repo, mnt, password, cache] = fixture.paths();
    let mut args = restic_args(repo.as_os_str(), &mnt, &password, &cache).to_vec();
    args.push(std::ffi::OsStr::new("--allow-damaged"));
    Mount::start(&args, &mnt)
}

#[test]
fn a_lost_blob_with_an_impossible_length_is_served_as_the_files_zeros() -> TestResult {
    let fixture = lost_blob_repository()?;
    let mount = mount_allowing_damage(&fixture);
    let generation = fixture
        .mnt()
        .join(std::fs::read_link(fixture.mnt().join("latest"))?);
    for _ in 0..3 {
        let served = std::fs::read(generation.join("lost/file"))?;
        assert_eq!(served.len() as u64, LOST_FILE_SIZE);
        assert!(served.iter().all(|&b| b == 0), "lost data is zeros");
    }
    assert_eq!(
        std::fs::read(generation.join("healthy"))?,
        b"healthy content\n"
    );
    let peak_rss = proc_status_kib(mount.pid(), "VmHWM:");
    let peak_virtual = proc_status_kib(mount.pid(), "VmPeak:");
    assert!(
        peak_rss > 0 && peak_rss < 1 << 20,
        "the daemon's RSS peaked at {peak_rss} KiB"
    );
    // The index's claim is never allocated, not even as untouched (lazily zeroed) memory.
    assert!(
        peak_virtual < CLAIMED_LENGTH / 1024,
        "the daemon's address space peaked at {peak_virtual} KiB"
    );
    Ok(())
}

fn latest(mnt: &Path) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    Ok(std::fs::read_link(mnt.join("latest"))?)
}

#[test]
fn damaged_lists_each_file_and_range_served_as_zeros() -> TestResult {
    let fixture = lost_blob_repository()?;
    let mut mount = mount_allowing_damage(&fixture);
    let mnt = fixture.mnt();
    let listed = mnt.join(".damaged");
    assert_eq!(
        std::fs::read(&listed)?,
        b"",
        "nothing was served as zeros yet"
    );
    let generation = latest(&mnt)?;
    assert_eq!(
        std::fs::read(mnt.join(&generation).join("healthy"))?,
        b"healthy content\n"
    );
    assert_eq!(std::fs::read(&listed)?, b"", "a healthy file is no damage");
    let served = std::fs::read(mnt.join(&generation).join("lost/file"))?;
    assert_eq!(served.len() as u64, LOST_FILE_SIZE);
    let expected = format!("{}/lost/file\t0\t{LOST_FILE_SIZE}\n", generation.display());
    assert_eq!(std::fs::read_to_string(&listed)?, expected);
    assert_eq!(std::fs::metadata(&listed)?.len(), expected.len() as u64);
    let erofs = Some(libc::EROFS);
    assert_eq!(
        errno_of(std::fs::OpenOptions::new().write(true).open(&listed)),
        erofs
    );
    assert_eq!(errno_of(std::fs::write(&listed, b"")), erofs);
    assert_eq!(errno_of(std::fs::remove_file(&listed)), erofs);
    let log = mount.stop_for_log();
    let summary: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("served with zeros"))
        .collect();
    assert_eq!(summary.len(), 1, "one summary at unmount: {log}");
    assert!(summary[0].contains("lost/file"), "{log}");
    Ok(())
}

#[test]
fn damaged_is_empty_on_an_undamaged_mount_and_absent_without_allow_damaged() -> TestResult {
    let fixture = ResticDir::init(HOSTILE_PASSWORD)?;
    let source = fixture.dir.path().join("src");
    std::fs::create_dir(&source)?;
    std::fs::write(source.join("whole"), pseudo_random(1 << 20, 3))?;
    restic(
        &fixture.repo(),
        &fixture.password(),
        fixture.dir.path(),
        &["backup", "src"],
    );
    let mnt = fixture.mnt();
    {
        let mut mount = mount_allowing_damage(&fixture);
        let generation = latest(&mnt)?;
        let whole = std::fs::read(mnt.join(&generation).join("src/whole"))?;
        assert_eq!(whole, pseudo_random(1 << 20, 3));
        assert_eq!(std::fs::read(mnt.join(".damaged"))?, b"");
        let log = mount.stop_for_log();
        assert!(!log.contains("served with zeros"), "{log}");
    }
    let [repo, _, password, cache] = fixture.paths();
    let _mount = Mount::start(
        &restic_args(repo.as_os_str(), &mnt, &password, &cache),
        &mnt,
    );
    let names: Vec<String> = std::fs::read_dir(&mnt)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert!(names.contains(&".pid".to_string()), "{names:?}");
    assert!(
        !names.contains(&".damaged".to_string()),
        "only --allow-damaged serves zeros: {names:?}"
    );
    Ok(())
}
