//! Repositories made by borg 1.1 and borg 1.4 (beside Debian's 1.2 of tests/borg_mount.rs), mounted
//! through the real kernel FUSE: two encryption modes and compressions per version, two archives of
//! the edge-case tree compared field by field with their sources, a checkpoint hidden, the
//! repository byte-identical after the session, and a wrong passphrase refused.
//!
//! Each borg is found at an environment variable, else where ci/test.sh installs it (a venv per
//! version under /opt/borg). A missing one fails the test: it is not skipped.
// They mount through Linux's FUSE: on other OSes they compile to nothing.
#![cfg(target_os = "linux")]

#[path = "common/borg_fixture.rs"]
mod borg_fixture;
mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use borg_fixture::*;
use common::*;

/// The borg of version `series` ("1.1", "1.4"): `$var`, else `/opt/borg/<series>/bin/borg`,
/// checked to be that series.
fn borg_of(series: &str, var: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("/opt/borg").join(series).join("bin/borg"));
    assert!(
        path.is_file(),
        "borg {series} not found at {} (set {var}, or install it as ci/test.sh does: a venv at \
         /opt/borg/{series} with pip install borgbackup=={series}.x)",
        path.display()
    );
    path
}

fn borg_1_1() -> PathBuf {
    borg_of("1.1", "GENMOUNT_BORG_1_1")
}

fn borg_1_4() -> PathBuf {
    borg_of("1.4", "GENMOUNT_BORG_1_4")
}

/// The repository of `mode` and `compression` made by the borg at `borg`, which must be of
/// `series`, mounted and compared.
fn check(borg: &Path, series: &str, mode: &str, compression: &'static str) -> Fixture {
    let fixture = two_archives_and_a_checkpoint_with(borg, mode, compression);
    assert!(
        fixture.borg_version.starts_with(&format!("borg {series}.")),
        "{} is {}, not borg {series}",
        borg.display(),
        fixture.borg_version
    );
    check_both_archives(&fixture);
    fixture
}

/// Borg 1.2 and later keep an archive's file count and size in its metadata, which genmount shows.
fn assert_counted(generation: &(String, Option<u64>, Option<u64>)) {
    assert!(generation.1 > Some(300), "{generation:?}");
    assert!(generation.2 > Some(8 << 20), "{generation:?}");
}

#[test]
fn borg_1_1_repokey_blake2_lz4_and_a_wrong_passphrase() {
    let fixture = check(&borg_1_1(), "1.1", "repokey-blake2", "lz4");
    let (code, stderr) = fixture.exit_of(
        Some("battery staple"),
        &[OsStr::new("generations"), fixture.repo().as_os_str()],
    );
    assert_eq!(code, Some(12), "wrong passphrase: {stderr}");
}

#[test]
fn borg_1_1_keyfile_zstd_with_its_index_and_with_the_segments_scanned() {
    let fixture = check(&borg_1_1(), "1.1", "keyfile", "zstd,3");
    let keys = fixture.base().join(".config/borg/keys");
    assert_eq!(
        std::fs::read_dir(keys).expect("borg 1.1 keys").count(),
        1,
        "borg 1.1 wrote its key file where genmount looks"
    );
    // Without borg 1.1's index (and hints, version 1 then), genmount reads the segments themselves.
    for entry in std::fs::read_dir(fixture.repo()).expect("read repo") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
        if name.starts_with("index.") || name.starts_with("hints.") {
            std::fs::remove_file(&path).expect("remove index");
        }
    }
    let mut mount = fixture.mount(&[]);
    assert_eq!(generation_names(&fixture.mnt()), ["first", "second"]);
    for (name, captured) in ["first", "second"].iter().zip(&fixture.captured) {
        compare(captured, &fixture.mnt().join(name), BORG);
    }
    let log = mount.stop_for_log();
    assert!(log.contains("scanning the segments"), "{log}");
}

#[test]
fn borg_1_1_none_zlib_has_no_counts_in_its_archives() {
    let fixture = check(&borg_1_1(), "1.1", "none", "zlib,6");
    // Borg 1.1 keeps no file count or size in an archive's metadata (1.2 added them): unknown.
    assert_eq!(
        fixture.generations_json(),
        [("first".into(), None, None), ("second".into(), None, None)]
    );
}

#[test]
fn a_repository_begun_by_borg_1_1_and_continued_by_borg_1_4() {
    let (old, new) = (borg_1_1(), borg_1_4());
    let fixture = two_archives_and_a_checkpoint_by(&old, &new, "keyfile-blake2", "lz4");
    assert!(fixture.borg_version.starts_with("borg 1.4."));
    check_both_archives(&fixture);
    let generations = fixture.generations_json();
    assert_eq!(generations[0], ("first".into(), None, None));
    assert_eq!(generations[1].0, "second");
    assert_counted(&generations[1]);
}

#[test]
fn borg_1_4_repokey_blake2_lz4_and_a_wrong_passphrase() {
    let fixture = check(&borg_1_4(), "1.4", "repokey-blake2", "lz4");
    let (code, stderr) = fixture.exit_of(
        Some("battery staple"),
        &[OsStr::new("generations"), fixture.repo().as_os_str()],
    );
    assert_eq!(code, Some(12), "wrong passphrase: {stderr}");
}

#[test]
fn borg_1_4_keyfile_zstd() {
    let fixture = check(&borg_1_4(), "1.4", "keyfile", "zstd,3");
    let generations = fixture.generations_json();
    assert_eq!(generations.len(), 2);
    generations.iter().for_each(assert_counted);
}

#[test]
fn borg_1_4_authenticated_auto_lzma() {
    check(&borg_1_4(), "1.4", "authenticated", "auto,lzma,1");
}
