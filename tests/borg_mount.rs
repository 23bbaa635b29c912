//! Borg repositories made by the real `borg` (Debian's 1.2), mounted through the real kernel FUSE:
//! every encryption mode and compression, every entry compared with its source, checkpoints
//! hidden, refresh, the committed index or a scan of the segments, a damaged chunk, exit codes.
// They mount through Linux's FUSE: on other OSes they compile to nothing.
#![cfg(target_os = "linux")]

#[path = "common/borg_fixture.rs"]
mod borg_fixture;
mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use borg_fixture::*;
use common::*;

#[test]
fn mode_none_uncompressed() {
    check_both_archives(&two_archives_and_a_checkpoint("none", "none"));
}

#[test]
fn repokey_lz4() {
    check_both_archives(&two_archives_and_a_checkpoint("repokey", "lz4"));
}

#[test]
fn keyfile_zstd_key_found_in_the_keys_directory() {
    check_both_archives(&two_archives_and_a_checkpoint("keyfile", "zstd,3"));
}

#[test]
fn repokey_blake2_zlib() {
    check_both_archives(&two_archives_and_a_checkpoint("repokey-blake2", "zlib,6"));
}

#[test]
fn keyfile_blake2_obfuscated_lz4() {
    check_both_archives(&two_archives_and_a_checkpoint(
        "keyfile-blake2",
        "obfuscate,3,lz4",
    ));
}

#[test]
fn authenticated_lzma() {
    check_both_archives(&two_archives_and_a_checkpoint("authenticated", "lzma,1"));
}

#[test]
fn authenticated_blake2_auto_zstd() {
    check_both_archives(&two_archives_and_a_checkpoint(
        "authenticated-blake2",
        "auto,zstd",
    ));
}

#[test]
fn wrong_missing_and_absent_passphrases_and_a_missing_repository_exit_with_their_codes() {
    let fixture = two_archives_and_a_checkpoint("repokey", "lz4");
    let mnt = fixture.mnt();
    let status = |passphrase: Option<&str>, repo: &Path| {
        fixture.exit_of(
            passphrase,
            &[OsStr::new("mount"), repo.as_os_str(), mnt.as_os_str()],
        )
    };
    let (code, stderr) = status(Some("battery staple"), &fixture.repo());
    assert_eq!(code, Some(12), "wrong passphrase: {stderr}");
    assert!(!stderr.contains("battery staple"), "{stderr}");
    let (code, stderr) = status(None, &fixture.repo());
    assert_eq!(code, Some(5), "no passphrase and no terminal: {stderr}");
    let missing = fixture.dir.path().join("nowhere");
    let (code, stderr) = status(Some(PASSPHRASE), &missing);
    assert_eq!(code, Some(10), "missing repository: {stderr}");
    let forced = format!("borg:{}", missing.display());
    let (code, stderr) = status(Some(PASSPHRASE), Path::new(&forced));
    assert_eq!(code, Some(10), "missing repository: {stderr}");
}

#[test]
fn a_new_archive_appears_at_refresh_and_borg_repo_names_the_repository() -> std::io::Result<()> {
    let mut fixture = two_archives_and_a_checkpoint("repokey", "lz4");
    let mut command = fixture.genmount(Some(PASSPHRASE));
    // Without the lock: `borg create` needs borg's exclusive lock, which waits for a locked mount
    // to end (as it waits for `borg mount`).
    command
        .env("BORG_REPO", fixture.repo())
        .arg("mount")
        .arg(fixture.mnt())
        .arg("--no-lock");
    let _mount = Mount::spawn(command, &fixture.mnt());
    assert_eq!(generation_names(&fixture.mnt()), ["first", "second"]);
    std::fs::write(fixture.src().join("variant"), [2])?;
    fixture.backup("fourth");
    std::fs::read(fixture.mnt().join(".pid"))?;
    assert_eq!(
        generation_names(&fixture.mnt()),
        ["first", "fourth", "second"]
    );
    assert_eq!(std::fs::read(fixture.mnt().join("latest/variant"))?, [2]);
    compare(&fixture.captured[2], &fixture.mnt().join("fourth"), BORG);
    Ok(())
}

#[test]
fn without_an_index_the_segments_are_scanned_and_uncommitted_data_is_ignored() {
    let fixture = two_archives_and_a_checkpoint("repokey-blake2", "zstd,3");
    for entry in std::fs::read_dir(fixture.repo()).expect("read repo") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
        if name.starts_with("index.") || name.starts_with("hints.") {
            std::fs::remove_file(&path).expect("remove index");
        }
    }
    // An uncommitted transaction that deletes the manifest: borg ignores it, and so must genmount.
    let last = segments(&fixture.repo()).pop().expect("a segment");
    let number: u64 = last
        .file_name()
        .and_then(OsStr::to_str)
        .and_then(|n| n.parse().ok())
        .expect("numbered segment");
    let mut body = 41u32.to_le_bytes().to_vec();
    body.push(1); // DELETE
    body.extend([0u8; 32]);
    let mut segment = b"BORG_SEG".to_vec();
    segment.extend(crc32(&body).to_le_bytes());
    segment.extend(body);
    let dir = last.parent().expect("segment dir");
    std::fs::write(dir.join((number + 1).to_string()), segment).expect("write segment");
    let mut mount = fixture.mount(&[]);
    assert_eq!(generation_names(&fixture.mnt()), ["first", "second"]);
    compare(&fixture.captured[1], &fixture.mnt().join("second"), BORG);
    let log = mount.stop_for_log();
    assert!(log.contains("scanning the segments"), "{log}");
}

/// CRC-32 (IEEE), as borg's segment entries carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An unencrypted, uncompressed archive `only` of the edge tree and a 300,000-byte `victim` (one
/// chunk), with one byte of the victim's data flipped in its segment.
fn flipped_victim() -> std::io::Result<Fixture> {
    let mut fixture = Fixture::init("none", "none");
    build_edge_tree(&fixture.src(), 0);
    without_what_borg_drops(&fixture.src());
    let victim = pseudo_random(300_000, 4242);
    std::fs::write(fixture.src().join("victim"), &victim)?;
    fixture.backup("only");
    // Unencrypted and uncompressed, the victim's bytes lie in a segment as they are.
    let needle = &victim[150_000..150_064];
    let mut flipped = false;
    for segment in segments(&fixture.repo()) {
        let mut bytes = std::fs::read(&segment)?;
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at + 10] ^= 0x40;
            std::fs::write(&segment, bytes)?;
            flipped = true;
        }
    }
    assert!(flipped, "the victim's data was not found in a segment");
    Ok(fixture)
}

#[test]
fn a_flipped_byte_gives_eio_for_that_file_only() -> std::io::Result<()> {
    let fixture = flipped_victim()?;
    let mut mount = fixture.mount(&[]);
    let mnt = fixture.mnt().join("only");
    for _ in 0..2 {
        assert_eq!(errno_of(std::fs::read(mnt.join("victim"))), Some(libc::EIO));
    }
    assert_eq!(std::fs::read(mnt.join("one"))?, b"x");
    assert_eq!(
        std::fs::read(mnt.join("size-131073"))?,
        std::fs::read(fixture.src().join("size-131073"))?
    );
    let log = mount.stop_for_log();
    assert_eq!(
        log.lines().filter(|l| l.contains("victim")).count(),
        1,
        "one warning naming the file: {log}"
    );
    Ok(())
}

#[test]
fn with_allow_damaged_a_lost_chunk_reads_as_zeros_listed_and_logged_once() -> std::io::Result<()> {
    let fixture = flipped_victim()?;
    let mut mount = fixture.mount(&["--allow-damaged"]);
    let mnt = fixture.mnt();
    assert_eq!(std::fs::read(mnt.join(".damaged"))?, b"");
    for _ in 0..2 {
        let served = std::fs::read(mnt.join("only/victim"))?;
        assert_eq!(served.len(), 300_000, "the whole length is served");
        assert!(served.iter().all(|&b| b == 0), "a lost chunk is zeros");
    }
    assert_eq!(
        std::fs::read(mnt.join("only/size-131073"))?,
        std::fs::read(fixture.src().join("size-131073"))?
    );
    assert_eq!(
        std::fs::read_to_string(mnt.join(".damaged"))?,
        "only/victim\t0\t300000\n"
    );
    let log = mount.stop_for_log();
    let lost: Vec<&str> = log.lines().filter(|l| l.contains("chunk lost")).collect();
    assert_eq!(lost.len(), 1, "one warning for one lost chunk: {log}");
    assert!(lost[0].contains("victim"), "{log}");
    Ok(())
}

#[test]
fn a_segment_deleted_under_the_mount_gives_eio_for_its_files_only() -> std::io::Result<()> {
    let mut fixture = Fixture::init("none", "none");
    build_edge_tree(&fixture.src(), 0);
    without_what_borg_drops(&fixture.src());
    fixture.backup("before");
    // Small segments: the victim's only chunk fills a segment of its own in the next archive.
    fixture.use_small_segments()?;
    let victim = pseudo_random(300_000, 77);
    std::fs::write(fixture.src().join("victim"), &victim)?;
    fixture.backup("after");
    let needle = &victim[100_000..100_064];
    let holding: Vec<PathBuf> = segments(&fixture.repo())
        .into_iter()
        .filter(|s| std::fs::read(s).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .collect();
    assert_eq!(holding.len(), 1, "one segment holds the victim");
    let mut mount = fixture.mount(&[]);
    let mnt = fixture.mnt().join("after");
    assert!(mnt.join("victim").exists());
    std::fs::remove_file(&holding[0])?;
    assert_eq!(errno_of(std::fs::read(mnt.join("victim"))), Some(libc::EIO));
    assert_eq!(
        std::fs::read(mnt.join("size-131073"))?,
        std::fs::read(fixture.src().join("size-131073"))?
    );
    assert_eq!(generation_names(&fixture.mnt()), ["after", "before"]);
    let log = mount.stop_for_log();
    assert!(log.contains("victim"), "the log names the file: {log}");
    Ok(())
}

#[test]
fn generations_show_each_archive_host_file_count_and_size() {
    let fixture = two_archives_and_a_checkpoint("authenticated", "lz4");
    let listed = fixture.generations_json();
    let names: Vec<&str> = listed.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["first", "second"], "checkpoints are not listed");
    for generation in &listed {
        assert!(generation.1 > Some(300), "{generation:?}");
        assert!(generation.2 > Some(8 << 20), "{generation:?}");
    }
}

#[test]
fn a_key_file_named_by_borg_key_file_with_a_passcommand_or_a_passphrase_fd() -> std::io::Result<()>
{
    let mut fixture = Fixture::init("keyfile-blake2", "lz4");
    std::fs::write(fixture.src().join("file"), b"in a keyfile repository\n")?;
    fixture.backup("only");
    // The key moves out of borg's keys directory: only BORG_KEY_FILE can name it now.
    let keys = fixture.base().join(".config/borg/keys");
    let key = std::fs::read_dir(&keys)?
        .next()
        .expect("borg wrote a key file")?
        .path();
    let moved = fixture.dir.path().join("the-key");
    std::fs::rename(&key, &moved)?;
    let run = |key_file: Option<&Path>| {
        let mut command = fixture.genmount(None);
        command
            .env("BORG_PASSCOMMAND", format!("printf '%s\\n' '{PASSPHRASE}'"))
            .arg("generations")
            .arg(fixture.repo())
            .stdin(std::process::Stdio::null());
        if let Some(file) = key_file {
            command.env("BORG_KEY_FILE", file);
        }
        command.output().expect("genmount runs")
    };
    let without = run(None);
    assert_eq!(
        without.status.code(),
        Some(5),
        "no key file: {}",
        String::from_utf8_lossy(&without.stderr)
    );
    let with = run(Some(&moved));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert!(String::from_utf8_lossy(&with.stdout).contains("only"));
    // BORG_PASSPHRASE_FD: a descriptor the caller opened, here by a shell, onto a file.
    let passphrase_file = fixture.dir.path().join("passphrase");
    std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n"))?;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"exec 3<"$1"; exec "$2" generations "$3""#)
        .arg("sh")
        .arg(&passphrase_file)
        .arg(BIN)
        .arg(fixture.repo())
        .env("BORG_BASE_DIR", fixture.base())
        .env("BORG_KEY_FILE", &moved)
        .env("BORG_PASSPHRASE_FD", "3")
        .env_remove("BORG_PASSPHRASE")
        .env_remove("BORG_PASSCOMMAND")
        .stdin(std::process::Stdio::null());
    let by_fd = command.output()?;
    assert!(
        by_fd.status.success(),
        "{}",
        String::from_utf8_lossy(&by_fd.stderr)
    );
    assert!(String::from_utf8_lossy(&by_fd.stdout).contains("only"));
    Ok(())
}

#[test]
fn a_mount_holds_borgs_shared_lock_so_compact_waits() {
    let mut fixture = Fixture::init("repokey", "lz4");
    std::fs::write(fixture.src().join("file"), b"locked in\n").expect("write");
    fixture.backup("only");
    let before = repository_files(&fixture.repo());
    for extra in [&[][..], &["--daemon"][..]] {
        let mut mount = fixture.mount(extra);
        assert_eq!(generation_names(&fixture.mnt()), ["only"]);
        // Readers share the lock; a writer waits for them, then gives up.
        let (listed, err) = borg_status(&fixture, &["list", "--lock-wait", "1"]);
        assert_eq!(listed, 0, "borg list beside a mount: {err}");
        let (compacted, err) = borg_status(&fixture, &["compact", "--lock-wait", "1"]);
        assert_ne!(compacted, 0, "borg compact ran under a mount ({extra:?})");
        assert!(err.contains("lock"), "{err}");
        if extra.is_empty() {
            mount.stop_with(libc::SIGTERM);
        } else {
            // The daemon holds the lock, not the parent that took it and exited.
            let pid: i32 = std::fs::read_to_string(fixture.mnt().join(".pid"))
                .expect(".pid")
                .trim()
                .parse()
                .expect("a pid");
            let roster =
                std::fs::read_to_string(fixture.repo().join("lock.roster")).expect("roster");
            assert!(roster.contains(&format!(", {pid}, 0]")), "{roster}");
            // SAFETY: kill has no memory preconditions; the pid is the daemon this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            // Gone, not only unmounted: the lock is given back after the unmount.
            // SAFETY: signal 0 only asks whether the process exists.
            while unsafe { libc::kill(pid, 0) } == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the daemon did not stop"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        drop(mount);
        assert!(
            before == repository_files(&fixture.repo()),
            "lock files left behind ({extra:?})"
        );
    }
    let (compacted, err) = borg_status(&fixture, &["compact", "--lock-wait", "1"]);
    assert_eq!(compacted, 0, "borg compact after unmount: {err}");
    // --no-lock writes nothing at all, even while mounted.
    let before = repository_files(&fixture.repo());
    let _mount = fixture.mount(&["--no-lock"]);
    assert_eq!(generation_names(&fixture.mnt()), ["only"]);
    assert!(
        before == repository_files(&fixture.repo()),
        "--no-lock wrote"
    );
}
