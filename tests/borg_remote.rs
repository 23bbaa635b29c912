//! Borg repositories reached as `ssh://user@host/path` and `user@host:path` through the real
//! `borg serve` (Debian's 1.2), with no network: `BORG_RSH` names a script that stands in for ssh,
//! as sshd would on the server (it drops ssh's options and the destination, and runs the remote
//! command here). Mounted through the real kernel FUSE: every entry compared with its source, the
//! exit codes, damaged and missing chunks, borg's lock held by the server, refresh, and no ssh
//! process left behind.
// They mount through Linux's FUSE: on other OSes they compile to nothing.
#![cfg(target_os = "linux")]

#[path = "common/borg_fixture.rs"]
mod borg_fixture;
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use borg_fixture::*;
use common::*;

/// The stand-in for ssh. It logs its arguments and the pid of what it runs (the `exec`ed
/// `borg serve` keeps the script's pid).
const FAKE_SSH: &str = r#"#!/bin/sh
dir=$(dirname "$0")
printf '%s\n' "$*" >> "$dir/ssh-args"
while [ $# -gt 0 ]; do
    case "$1" in
        -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
        -*) shift ;;
        *) shift; break ;;
    esac
done
echo $$ >> "$dir/ssh-pids"
exec "$@"
"#;

/// Writes the fake ssh into the fixture and returns its path.
fn fake_ssh(fixture: &Fixture) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = fixture.dir.path().join("fake-ssh");
    if !path.exists() {
        std::fs::write(&path, FAKE_SSH).expect("write the fake ssh");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the fake ssh");
    }
    path
}

/// `ssh://fakeuser@localhost/<the fixture's repository>`.
fn ssh_url(fixture: &Fixture) -> String {
    format!("ssh://fakeuser@localhost{}", fixture.repo().display())
}

/// genmount with the fixture's environment and the fake ssh as `BORG_RSH`.
fn genmount(fixture: &Fixture, passphrase: Option<&str>) -> Command {
    let mut command = fixture.genmount(passphrase);
    command.env("BORG_RSH", fake_ssh(fixture));
    command
}

fn mount_remote(fixture: &Fixture, location: &str, extra: &[&str]) -> Mount {
    let mut command = genmount(fixture, Some(PASSPHRASE));
    command
        .arg("mount")
        .arg(location)
        .arg(fixture.mnt())
        .args(extra);
    Mount::spawn(command, &fixture.mnt())
}

/// What the fake ssh was given, one line per connection.
fn ssh_args(fixture: &Fixture) -> Vec<String> {
    std::fs::read_to_string(fixture.dir.path().join("ssh-args"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The pids of every `borg serve` started so far.
fn serve_pids(fixture: &Fixture) -> Vec<i32> {
    std::fs::read_to_string(fixture.dir.path().join("ssh-pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Whether `pid` has exited (a zombie that only waits for its reaper counts as exited).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with(['Z', 'X'])),
    }
}

/// Every `borg serve` that was started has exited (within a few seconds).
fn assert_no_serve_left(fixture: &Fixture) {
    let pids = serve_pids(fixture);
    assert!(!pids.is_empty(), "the fake ssh never ran");
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in pids {
        while !exited(pid) {
            assert!(
                Instant::now() < deadline,
                "borg serve (pid {pid}) is still running"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The repository's files without borg's lock files.
fn without_locks(files: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    files
        .into_iter()
        .filter(|(rel, _)| !rel.to_string_lossy().starts_with("lock."))
        .collect()
}

/// Mounts `location` and compares every archive with its source; the repository is unchanged
/// afterwards and its `borg serve` gone.
fn check_both_archives_at(fixture: &Fixture, location: &str) {
    let before = repository_files(&fixture.repo());
    {
        let _mount = mount_remote(fixture, location, &[]);
        assert_eq!(generation_names(&fixture.mnt()), ["first", "second"]);
        let mut total = 0;
        for (name, captured) in ["first", "second"].iter().zip(&fixture.captured) {
            total += compare(captured, &fixture.mnt().join(name), BORG);
        }
        assert!(total > 600, "only {total} entries compared");
        assert!(
            fixture.repo().join("lock.roster").exists(),
            "borg serve holds borg's lock while mounted"
        );
    }
    assert!(
        without_locks(before.clone()) == without_locks(repository_files(&fixture.repo())),
        "the repository changed"
    );
    assert!(
        before == repository_files(&fixture.repo()),
        "lock files were left behind"
    );
    assert_no_serve_left(fixture);
}

#[test]
fn repokey_over_an_ssh_url_and_the_scp_form() {
    let fixture = two_archives_and_a_checkpoint("repokey", "lz4");
    check_both_archives_at(&fixture, &ssh_url(&fixture));
    let scp = format!("fakeuser@localhost:{}", fixture.repo().display());
    check_both_archives_at(&fixture, &scp);
    assert_eq!(
        ssh_args(&fixture),
        [
            "fakeuser@localhost borg serve",
            "fakeuser@localhost borg serve"
        ],
        "ssh is run as borg runs it"
    );
}

#[test]
fn keyfile_blake2_over_ssh_with_the_key_found_locally() {
    let fixture = two_archives_and_a_checkpoint("keyfile-blake2", "zstd,3");
    check_both_archives_at(&fixture, &format!("borg:{}", ssh_url(&fixture)));
}

#[test]
fn a_port_the_remote_path_and_borg_rsh_options_reach_the_command_line() -> std::io::Result<()> {
    let mut fixture = Fixture::init("none", "none");
    std::fs::write(fixture.src().join("file"), b"over ssh\n")?;
    fixture.backup("only");
    // BORG_RSH is split as a shell splits words; BORG_REMOTE_PATH replaces `borg`.
    let rsh = format!("{} -o 'BatchMode yes'", fake_ssh(&fixture).display());
    let out = genmount(&fixture, None)
        .env("BORG_RSH", rsh)
        .env("BORG_REMOTE_PATH", "/usr/bin/borg")
        .arg("generations")
        .arg(format!(
            "ssh://fakeuser@localhost:2222{}",
            fixture.repo().display()
        ))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("only"));
    assert_eq!(
        ssh_args(&fixture),
        ["-o BatchMode yes -p 2222 fakeuser@localhost /usr/bin/borg serve"]
    );
    assert_no_serve_left(&fixture);
    Ok(())
}

#[test]
fn wrong_passphrase_missing_repository_locked_repository_and_no_borg_exit_with_their_codes() {
    let fixture = two_archives_and_a_checkpoint("repokey", "lz4");
    let run = |command: &mut Command| {
        let out = command
            .stdin(Stdio::null())
            .output()
            .expect("genmount runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let status = |passphrase: Option<&str>, location: &str| {
        run(genmount(&fixture, passphrase)
            .env("RUST_LOG", "off")
            .arg("generations")
            .arg(location))
    };
    let url = ssh_url(&fixture);
    let (code, stderr) = status(Some("battery staple"), &url);
    assert_eq!(code, Some(12), "wrong passphrase: {stderr}");
    let (code, stderr) = status(None, &url);
    assert_eq!(code, Some(5), "no passphrase and no terminal: {stderr}");
    let missing = format!(
        "ssh://fakeuser@localhost{}/nowhere",
        fixture.dir.path().display()
    );
    let (code, stderr) = status(Some(PASSPHRASE), &missing);
    assert_eq!(code, Some(10), "missing repository: {stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    let not_borg = format!("ssh://fakeuser@localhost{}", fixture.src().display());
    let (code, stderr) = status(Some(PASSPHRASE), &not_borg);
    assert_eq!(code, Some(10), "not a repository: {stderr}");
    // No borg on the "server": the remote shell's words end the one error line.
    let (code, stderr) = run(genmount(&fixture, Some(PASSPHRASE))
        .env("RUST_LOG", "off")
        .env("BORG_REMOTE_PATH", "/nonexistent/borg")
        .arg("generations")
        .arg(&url));
    assert_eq!(code, Some(10), "no borg on the server: {stderr}");
    assert!(stderr.contains("/nonexistent/borg"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let (code, stderr) = run(genmount(&fixture, Some(PASSPHRASE))
        .env("BORG_RSH", "ssh -o 'unclosed")
        .arg("generations")
        .arg(&url));
    assert_eq!(code, Some(2), "BORG_RSH that is no command line: {stderr}");
    // A writer holds borg's exclusive lock: the server waits a second for it, then gives up.
    let mut writer = Command::new("borg")
        .args(["with-lock", path_str(&fixture.repo()), "sleep", "30"])
        .env("BORG_BASE_DIR", fixture.base())
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .spawn()
        .expect("borg with-lock runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fixture.repo().join("lock.exclusive").exists() {
        assert!(Instant::now() < deadline, "borg with-lock took no lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A mount takes the lock (a listing takes none).
    let (code, stderr) = run(genmount(&fixture, Some(PASSPHRASE))
        .env("RUST_LOG", "off")
        .arg("mount")
        .arg(&url)
        .arg(fixture.mnt()));
    let _ = writer.kill();
    let _ = writer.wait();
    assert_eq!(code, Some(11), "locked: {stderr}");
    assert!(stderr.contains("locked"), "{stderr}");
    assert_no_serve_left(&fixture);
}

#[test]
fn a_corrupted_chunk_and_a_missing_segment_give_eio_for_their_files_only() -> std::io::Result<()> {
    let mut fixture = Fixture::init("none", "none");
    build_edge_tree(&fixture.src(), 0);
    fixture.backup("before");
    // Small segments: each victim's only chunk fills a segment of its own.
    fixture.use_small_segments()?;
    let flipped = pseudo_random(300_000, 4242);
    let deleted = pseudo_random(300_000, 77);
    std::fs::write(fixture.src().join("flipped"), &flipped)?;
    std::fs::write(fixture.src().join("deleted"), &deleted)?;
    fixture.backup("after");
    // Unencrypted and uncompressed, each victim's bytes lie in a segment as they are.
    let holding = |needle: &[u8]| -> Vec<PathBuf> {
        segments(&fixture.repo())
            .into_iter()
            .filter(|s| {
                std::fs::read(s).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            })
            .collect()
    };
    let flip_in = holding(&flipped[150_000..150_064]);
    let delete = holding(&deleted[100_000..100_064]);
    assert_eq!((flip_in.len(), delete.len()), (1, 1), "one segment each");
    let mut bytes = std::fs::read(&flip_in[0])?;
    let needle = &flipped[150_000..150_064];
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("found");
    bytes[at + 10] ^= 0x40;
    std::fs::write(&flip_in[0], bytes)?;
    let mut mount = mount_remote(&fixture, &ssh_url(&fixture), &[]);
    let mnt = fixture.mnt().join("after");
    assert!(mnt.join("deleted").exists());
    std::fs::remove_file(&delete[0])?;
    for _ in 0..2 {
        assert_eq!(
            errno_of(std::fs::read(mnt.join("flipped"))),
            Some(libc::EIO)
        );
        assert_eq!(
            errno_of(std::fs::read(mnt.join("deleted"))),
            Some(libc::EIO)
        );
    }
    assert_eq!(std::fs::read(mnt.join("one"))?, b"x");
    assert_eq!(
        std::fs::read(mnt.join("size-131073"))?,
        std::fs::read(fixture.src().join("size-131073"))?
    );
    assert_eq!(generation_names(&fixture.mnt()), ["after", "before"]);
    let log = mount.stop_for_log();
    for victim in ["flipped", "deleted"] {
        assert_eq!(
            log.lines().filter(|l| l.contains(victim)).count(),
            1,
            "one warning naming {victim}: {log}"
        );
    }
    assert_no_serve_left(&fixture);
    Ok(())
}

#[test]
fn borg_serve_holds_the_lock_so_compact_waits_and_without_it_refresh_sees_new_archives() {
    let mut fixture = Fixture::init("repokey", "lz4");
    std::fs::write(fixture.src().join("file"), b"locked in\n").expect("write");
    fixture.backup("only");
    let before = repository_files(&fixture.repo());
    for extra in [&[][..], &["--daemon"][..]] {
        let mut mount = mount_remote(&fixture, &ssh_url(&fixture), extra);
        assert_eq!(generation_names(&fixture.mnt()), ["only"]);
        let (listed, err) = borg_status(&fixture, &["list", "--lock-wait", "1"]);
        assert_eq!(listed, 0, "borg list beside a mount: {err}");
        let (compacted, err) = borg_status(&fixture, &["compact", "--lock-wait", "1"]);
        assert_ne!(compacted, 0, "borg compact ran under a mount ({extra:?})");
        assert!(err.contains("lock"), "{err}");
        // Reading .pid re-reads the manifest over the connection.
        let pid: i32 = std::fs::read_to_string(fixture.mnt().join(".pid"))
            .expect(".pid")
            .trim()
            .parse()
            .expect("a pid");
        assert_eq!(
            std::fs::read(fixture.mnt().join("only/file")).expect("read"),
            b"locked in\n"
        );
        if extra.is_empty() {
            mount.stop_with(libc::SIGTERM);
        } else {
            // The daemon talks to the borg serve its parent started before it forked.
            // SAFETY: kill has no memory preconditions; the pid is the daemon this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while !exited(pid) {
                assert!(Instant::now() < deadline, "the daemon did not stop");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        drop(mount);
        assert_no_serve_left(&fixture);
        assert!(
            before == repository_files(&fixture.repo()),
            "lock files left behind ({extra:?})"
        );
    }
    let (compacted, err) = borg_status(&fixture, &["compact", "--lock-wait", "1"]);
    assert_eq!(compacted, 0, "borg compact after unmount: {err}");
    // --no-lock: the server takes no lock, a backup runs meanwhile, and refresh finds it.
    let before = repository_files(&fixture.repo());
    let _mount = mount_remote(&fixture, &ssh_url(&fixture), &["--no-lock"]);
    assert_eq!(generation_names(&fixture.mnt()), ["only"]);
    assert!(
        before == repository_files(&fixture.repo()),
        "--no-lock wrote"
    );
    std::fs::write(fixture.src().join("file"), b"added while mounted\n").expect("write");
    fixture.backup("second");
    std::fs::read(fixture.mnt().join(".pid")).expect(".pid");
    assert_eq!(generation_names(&fixture.mnt()), ["only", "second"]);
    assert_eq!(
        std::fs::read(fixture.mnt().join("second/file")).expect("read"),
        b"added while mounted\n"
    );
    compare(&fixture.captured[1], &fixture.mnt().join("second"), BORG);
}

#[test]
fn a_big_file_reads_whole_over_the_pipe() -> std::io::Result<()> {
    let mut fixture = Fixture::init("repokey-blake2", "lz4");
    let big = pseudo_random(64 << 20, 9);
    std::fs::write(fixture.src().join("big"), &big)?;
    fixture.backup("only");
    let _mount = mount_remote(&fixture, &ssh_url(&fixture), &[]);
    let read = std::fs::read(fixture.mnt().join("only/big"))?;
    assert!(read == big, "the big file differs");
    // Concurrent readers share the connection; each gets its own bytes.
    let readers: Vec<_> = (0..4)
        .map(|n| {
            let path = fixture.mnt().join("only/big");
            std::thread::spawn(move || {
                use std::io::{Read, Seek, SeekFrom};
                let mut file = std::fs::File::open(path)?;
                let at = n * (15 << 20);
                file.seek(SeekFrom::Start(at))?;
                let mut buf = vec![0u8; 4 << 20];
                file.read_exact(&mut buf)?;
                Ok::<_, std::io::Error>((at as usize, buf))
            })
        })
        .collect();
    for reader in readers {
        let (at, buf) = reader.join().expect("reader thread")?;
        assert!(buf == big[at..at + buf.len()], "bytes at {at} differ");
    }
    Ok(())
}
