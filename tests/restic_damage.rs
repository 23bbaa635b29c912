//! Damaged restic repositories mounted through the real kernel FUSE: a flipped byte in a pack, a
//! pack deleted under a running mount, and `--allow-damaged` serving zeros for lost blobs.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/restic_fixture.rs"]
mod restic_fixture;

use std::path::{Path, PathBuf};

use common::*;
use restic_fixture::*;

fn pack_files(repo: &Path) -> std::collections::BTreeSet<PathBuf> {
    walk(&repo.join("data"))
        .into_iter()
        .filter(|p| repo.join("data").join(p).is_file())
        .collect()
}

/// Two snapshots: `healthy` in the first, `doomed` added in the second; returns the data pack that
/// holds only `doomed`'s blobs.
fn doomed_fixture() -> Result<(Fixture, PathBuf), Box<dyn std::error::Error>> {
    let mut fixture = Fixture::init("pw")?;
    std::fs::write(fixture.src().join("healthy"), pseudo_random(2 << 20, 1))?;
    fixture.backup();
    let before = pack_files(&fixture.repo());
    std::fs::write(fixture.src().join("doomed"), pseudo_random(2 << 20, 2))?;
    fixture.backup();
    // The second backup wrote a tree pack and a data pack; the data pack is the large one.
    let data = fixture.repo().join("data");
    let pack = pack_files(&fixture.repo())
        .difference(&before)
        .map(|p| data.join(p))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .ok_or("no new pack")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pack, std::fs::Permissions::from_mode(0o644))?;
    Ok((fixture, pack))
}

#[test]
fn a_damaged_pack_gives_eio_for_its_file_only() -> TestResult {
    let (fixture, pack) = doomed_fixture()?;
    let mut bytes = std::fs::read(&pack)?;
    bytes[100] ^= 0x55;
    std::fs::write(&pack, &bytes)?;
    let paths = fixture.paths();
    let _mount = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
    assert_eq!(
        errno_of(std::fs::read(fixture.mnt().join("latest/doomed"))),
        Some(libc::EIO),
        "a damaged blob must not be served"
    );
    assert_eq!(
        std::fs::read(fixture.mnt().join("latest/healthy"))?,
        pseudo_random(2 << 20, 1)
    );
    assert!(
        std::fs::metadata(fixture.mnt().join("latest/doomed")).is_ok(),
        "the daemon still answers"
    );
    Ok(())
}

#[test]
fn damage_under_a_running_mount_is_reported_and_survived() -> TestResult {
    let (fixture, pack) = doomed_fixture()?;
    let paths = fixture.paths();
    let mnt = fixture.mnt();
    let mut mount = Mount::start(&fixture.args(&paths, &[]), &mnt);
    assert_eq!(generation_names(&mnt).len(), 2);
    // A pack deleted while mounted: its file fails with EIO, quickly; the rest reads.
    std::fs::remove_file(&pack)?;
    let started = std::time::Instant::now();
    assert_eq!(
        errno_of(std::fs::read(mnt.join("latest/doomed"))),
        Some(libc::EIO)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "a missing pack must not hang"
    );
    assert_eq!(
        std::fs::read(mnt.join("latest/healthy"))?,
        pseudo_random(2 << 20, 1)
    );
    // A snapshot file removed: the next refresh drops its generation.
    let snapshots = fixture.repo().join("snapshots");
    let newest = walk(&snapshots)
        .into_iter()
        .max_by_key(|p| {
            std::fs::metadata(snapshots.join(p))
                .and_then(|m| m.modified())
                .ok()
        })
        .ok_or("no snapshot")?;
    std::fs::remove_file(snapshots.join(newest))?;
    std::fs::read(mnt.join(".pid"))?;
    assert_eq!(generation_names(&mnt).len(), 1);
    // A damaged index file appears (as a truncated upload would leave it): re-reading the index
    // fails and is logged, reading .pid still gives the pid (scripts use it to find the daemon),
    // and the mount keeps serving what it had.
    std::fs::write(
        fixture.repo().join("index").join("ab".repeat(32)),
        b"truncated",
    )?;
    assert_eq!(
        std::fs::read(mnt.join(".pid"))?,
        format!("{}\n", mount.pid()).into_bytes()
    );
    assert_eq!(generation_names(&mnt).len(), 1, "the old view stays");
    assert_eq!(
        std::fs::read(mnt.join("latest/healthy"))?,
        pseudo_random(2 << 20, 1)
    );
    let log = mount.stop_for_log();
    assert!(
        log.contains("re-reading the repository failed"),
        "a failed refresh is logged: {log}"
    );
    Ok(())
}

#[test]
fn allow_damaged_serves_zeros_for_lost_blobs_and_logs_them() -> TestResult {
    let (fixture, pack) = doomed_fixture()?;
    let mut bytes = std::fs::read(&pack)?;
    bytes[100] ^= 0x55;
    std::fs::write(&pack, &bytes)?;
    let paths = fixture.paths();
    let mut mount = Mount::start(&fixture.args(&paths, &["--allow-damaged"]), &fixture.mnt());
    let source = pseudo_random(2 << 20, 2);
    let served = std::fs::read(fixture.mnt().join("latest/doomed"))?;
    assert_eq!(served.len(), source.len(), "the whole length is served");
    let wrong: Vec<u8> = served
        .iter()
        .zip(&source)
        .filter(|(s, o)| s != o)
        .map(|(s, _)| *s)
        .collect();
    assert!(
        wrong.len() > 4096,
        "the damaged blob is not served as it was"
    );
    assert!(
        wrong.iter().all(|&b| b == 0),
        "a lost blob is zeros, never other bytes"
    );
    assert_eq!(
        std::fs::read(fixture.mnt().join("latest/healthy"))?,
        pseudo_random(2 << 20, 1)
    );
    let log = mount.stop_for_log();
    let lost: Vec<&str> = log.lines().filter(|l| l.contains("blob lost")).collect();
    assert_eq!(lost.len(), 1, "one warning for one lost blob: {log}");
    assert!(lost[0].contains("doomed"), "{log}");
    Ok(())
}
