//! genmount's process over snapshot folders mounted through the real kernel FUSE: SIGTERM, SIGINT
//! and an external unmount end it cleanly; SIGKILL and a stale mount; `--daemon`; SIGHUP; other
//! users with and without `--allow-other`; `mount -t fuse`; a low open file limit.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/folder_fixture.rs"]
mod folder_fixture;

use std::ffi::OsStr;
use std::path::Path;

use common::*;
use folder_fixture::*;

#[test]
fn sigterm_and_sigint_unmount_and_exit_zero() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
        assert!(std::fs::metadata(mnt.join("latest/one")).is_ok());
        let status = mount.stop_with(signal);
        assert_eq!(status.code(), Some(0), "exit after signal {signal}");
        assert!(!is_mounted(&mnt), "still mounted after signal {signal}");
    }
    Ok(())
}

#[test]
fn external_unmount_ends_the_daemon() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let mut mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    let status = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg(&mnt)
        .status()?;
    assert!(status.success());
    let mut child = mount.child.take().ok_or("no daemon")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "daemon still running after fusermount3 -u"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    Ok(())
}

#[test]
fn after_sigkill_the_mountpoint_is_freed_and_unmount_clears_a_stale_one() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    // As root genmount mounts with auto_unmount: the kernel mount goes when the daemon dies.
    let mut mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    mount.stop_with(libc::SIGKILL);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while is_mounted(&mnt) {
        assert!(
            std::time::Instant::now() < deadline,
            "still mounted 20 s after SIGKILL"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // With the auto_unmount helper killed as well, a dead daemon leaves "transport endpoint is not connected".
    let mut mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    let pid = mount.pid();
    let fusermount: Vec<u32> = pids()
        .into_iter()
        .filter(|p| {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            status.contains("fusermount3") && status.contains(&format!("PPid:\t{pid}\n"))
        })
        .collect();
    for helper in &fusermount {
        // SAFETY: kill with a valid pid has no memory effects.
        unsafe { libc::kill(*helper as i32, libc::SIGKILL) };
    }
    assert!(
        !fusermount.is_empty(),
        "the auto_unmount helper runs beside the daemon"
    );
    mount.stop_with(libc::SIGKILL);
    {
        assert!(
            is_mounted(&mnt),
            "with its helper gone too, the dead mount stays"
        );
        let err = std::fs::read_dir(&mnt).err().and_then(|e| e.raw_os_error());
        assert_eq!(err, Some(libc::ENOTCONN), "a dead mount");
        let (status, _, stderr) = run(&[OsStr::new("mount"), os(&repo), os(&mnt)]);
        assert_eq!(status, 3, "a dead mountpoint is refused: {stderr}");
        assert!(stderr.contains("not connected"), "{stderr}");
        let (status, _, stderr) = run(&[OsStr::new("unmount"), os(&mnt)]);
        assert_eq!(status, 0, "{stderr}");
    }
    assert!(!is_mounted(&mnt));
    let _again = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    assert!(std::fs::metadata(mnt.join("latest/one")).is_ok());
    Ok(())
}

/// Runs `cmd` as user and group 65534 (nobody); returns whether it succeeded.
fn as_nobody(cmd: &[&OsStr]) -> bool {
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(cmd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn other_users_see_nothing_and_with_allow_other_only_what_modes_allow() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let public = mnt.join("latest/one");
    let private = mnt.join("latest/private");
    let cat = OsStr::new("cat");
    {
        let _mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
        assert!(
            std::fs::read(&private).is_ok(),
            "the owner reads everything"
        );
        assert!(
            !as_nobody(&[OsStr::new("ls"), os(&mnt)]),
            "another user must not see the mount"
        );
        assert!(!as_nobody(&[cat, os(&public)]));
    }
    let _mount = Mount::start(&[os(&repo), os(&mnt), OsStr::new("--allow-other")], &mnt);
    assert!(
        as_nobody(&[OsStr::new("ls"), os(&mnt)]),
        "--allow-other lets others in"
    );
    assert!(as_nobody(&[cat, os(&public)]), "a 0644 file is readable");
    assert!(
        !as_nobody(&[cat, os(&private)]),
        "a 0600 file of root's is not"
    );
    Ok(())
}

#[test]
fn daemon_mode_returns_once_the_mount_is_live_or_with_the_error() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let (status, _, stderr) = run(&[
        OsStr::new("mount"),
        OsStr::new("--daemon"),
        os(&repo),
        os(&mnt),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(is_mounted(&mnt), "mounted when --daemon returns");
    let pid: i32 = std::fs::read_to_string(mnt.join(".pid"))?.trim().parse()?;
    assert_eq!(std::fs::read(mnt.join("latest/variant"))?, [2]);
    let (status, _, stderr) = run(&[OsStr::new("unmount"), os(&mnt)]);
    assert_eq!(status, 0, "{stderr}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // SAFETY: signal 0 only checks that the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not exit after unmount"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let bad = [
        OsStr::new("mount"),
        OsStr::new("--daemon"),
        OsStr::new("--view"),
        OsStr::new("single"),
    ];
    let args = [
        &bad[..],
        &[
            OsStr::new("--generation"),
            OsStr::new("nope"),
            os(&repo),
            os(&mnt),
        ],
    ]
    .concat();
    let (status, _, stderr) = run(&args);
    assert_eq!(
        status, 4,
        "the daemon's error code reaches the caller: {stderr}"
    );
    assert!(!is_mounted(&mnt));
    Ok(())
}

#[test]
fn sighup_rereads_the_repository() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let mut mount = Mount::start(
        &[
            os(&repo),
            os(&mnt),
            OsStr::new("--refresh-interval"),
            OsStr::new("0"),
        ],
        &mnt,
    );
    std::fs::create_dir(repo.join("2026-11-06_10-00-00"))?;
    // SAFETY: kill with a valid pid and signal number has no memory effects.
    unsafe { libc::kill(mount.pid() as i32, libc::SIGHUP) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_link(mnt.join("latest"))? != Path::new("2026-11-06_10-00-00") {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not refresh the mount"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let alive = mount
        .child
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
    assert!(alive, "the daemon survives SIGHUP");
    Ok(())
}

#[test]
fn mount_t_fuse_runs_genmount_as_the_mount_helper() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    // mount.fuse3 runs "genmount REPO MNT -o OPTIONS" and waits for it, as for an fstab line.
    let source = format!("{BIN}#{}", repo.display());
    let status = std::process::Command::new("mount")
        .args(["-t", "fuse", &source])
        .arg(&mnt)
        .args([
            "-o",
            "ro,noatime,refresh_interval=0,view=multiple,x-systemd.automount",
        ])
        .status()?;
    assert!(status.success(), "mount -t fuse failed");
    assert!(is_mounted(&mnt), "mounted when mount(8) returns");
    assert_eq!(std::fs::read(mnt.join("latest/variant"))?, [2]);
    let status = std::process::Command::new("umount").arg(&mnt).status()?;
    assert!(status.success());
    assert!(!is_mounted(&mnt));
    Ok(())
}

#[test]
fn a_low_open_file_limit_does_not_fail_reads() -> TestResult {
    let dir = three_generations(1000)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    // Files are read without FUSE opens, by inode, and a snapshot folder's reader holds a descriptor
    // open: under a limit of 200 descriptors, reading 1,000 files must not run out of them.
    let mut limited = std::process::Command::new("prlimit");
    limited.arg("--nofile=200:200").arg(BIN).arg("mount");
    limited.args([os(&repo), os(&mnt)]);
    let _mount = Mount::spawn(limited, &mnt);
    let generation = "2026-11-02_10-00-00";
    let bulk = repo.join(generation).join("bulk");
    let mut read = 0;
    for rel in walk(&bulk) {
        let source = bulk.join(&rel);
        if source.is_file() {
            let mounted = mnt.join(generation).join("bulk").join(&rel);
            assert_eq!(
                std::fs::read(&mounted)?,
                std::fs::read(&source)?,
                "{}",
                rel.display()
            );
            read += 1;
        }
    }
    assert_eq!(read, 1000);
    Ok(())
}
