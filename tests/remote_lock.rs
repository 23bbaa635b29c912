//! The restic lock held on remote repositories: a REST server (`rclone serve restic`) and an
//! `rclone:` location, read back by the real `restic` while mounted and after unmounting.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `rclone serve restic` on 127.0.0.1 at a free port, with a user and password; killed when dropped.
struct RestServer {
    child: Child,
    port: u16,
}

impl RestServer {
    fn serve(dir: &Path) -> Result<RestServer, Box<dyn std::error::Error>> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        drop(listener);
        let child = Command::new("rclone")
            .args(["serve", "restic", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--user", "mounter", "--pass", "s3cret"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = RestServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rclone serve restic did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn location(&self) -> String {
        format!("rest:http://mounter:s3cret@127.0.0.1:{}/repo/", self.port)
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A repository made by the real `restic` with one snapshot of a small tree.
fn repository() -> Result<ResticDir, Box<dyn std::error::Error>> {
    let restic_dir = ResticDir::init("correct horse")?;
    let src = restic_dir.dir.path().join("src");
    std::fs::create_dir(&src)?;
    std::fs::write(src.join("file"), b"backed up\n")?;
    restic(
        &restic_dir.repo(),
        &restic_dir.password(),
        &src,
        &["backup", "."],
    );
    Ok(restic_dir)
}

/// The real `restic` run on `location` (any backend), its stdout on success.
fn restic_at(location: &str, password: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("restic")
        .args(["-r", location, "--no-cache", "-q"])
        .args(args)
        .env("RESTIC_PASSWORD_FILE", password)
        .output()
        .map_err(|err| format!("restic runs: {err}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The ids restic lists under `locks/`.
fn locks(location: &str, password: &Path) -> Vec<String> {
    let listed = restic_at(location, password, &["list", "locks"]).expect("restic list locks");
    listed.lines().map(str::to_string).collect()
}

/// Mounts `location` with `extra` arguments; the mount's password file and cache are `restic_dir`'s.
fn mount(restic_dir: &ResticDir, location: &str, extra: &[&str]) -> Mount {
    let (mnt, password, cache) = (
        restic_dir.mnt(),
        restic_dir.password(),
        restic_dir.dir.path().join("cache"),
    );
    let mut args = restic_args(OsStr::new(location), &mnt, &password, &cache).to_vec();
    args.extend(extra.iter().map(OsStr::new));
    Mount::start(&args, &mnt)
}

/// While mounted, restic sees one lock of ours, which it decrypts as its own non-exclusive lock
/// and which keeps `restic prune` out; after unmounting the lock is gone.
fn holds_a_lock_while_mounted(restic_dir: &ResticDir, location: &str, seen_by_restic: &str) {
    let password = restic_dir.password();
    assert_eq!(locks(seen_by_restic, &password), Vec::<String>::new());
    let mut mounted = mount(restic_dir, location, &[]);
    let held = locks(seen_by_restic, &password);
    assert_eq!(held.len(), 1, "one lock while mounted: {held:?}");
    let text = restic_at(
        seen_by_restic,
        &password,
        &["--no-lock", "cat", "lock", &held[0]],
    )
    .expect("restic cat lock");
    let lock: serde_json::Value = serde_json::from_str(&text).expect("the lock is JSON");
    assert_eq!(lock["exclusive"], serde_json::Value::Bool(false), "{text}");
    assert_eq!(lock["pid"], serde_json::json!(mounted.pid()), "{text}");
    let refused = restic_at(seen_by_restic, &password, &["prune"]);
    assert!(
        refused.as_ref().is_err_and(|err| err.contains("locked")),
        "prune ran under a mount: {refused:?}"
    );
    assert!(mounted.stop_with(libc::SIGTERM).success());
    assert_eq!(
        locks(seen_by_restic, &password),
        Vec::<String>::new(),
        "no lock left behind"
    );
}

#[test]
fn a_rest_repository_is_locked_while_mounted() -> TestResult {
    let restic_dir = repository()?;
    let server = RestServer::serve(restic_dir.dir.path())?;
    holds_a_lock_while_mounted(&restic_dir, &server.location(), &server.location());
    Ok(())
}

#[test]
fn no_lock_is_written_to_a_rest_repository_with_no_lock() -> TestResult {
    let restic_dir = repository()?;
    let server = RestServer::serve(restic_dir.dir.path())?;
    let password = restic_dir.password();
    let _mounted = mount(&restic_dir, &server.location(), &["--no-lock"]);
    assert_eq!(locks(&server.location(), &password), Vec::<String>::new());
    Ok(())
}

#[test]
fn an_rclone_repository_is_locked_while_mounted() -> TestResult {
    let restic_dir = repository()?;
    let repo = restic_dir.repo();
    let seen_by_restic = repo.to_str().ok_or("temporary path is not UTF-8")?;
    let location = format!("rclone:{seen_by_restic}");
    holds_a_lock_while_mounted(&restic_dir, &location, seen_by_restic);
    Ok(())
}

/// The `rclone serve restic` that rustic starts for an `rclone:` location ends with the mount
/// (it outlived every mount before genmount closed the backend at unmount).
#[test]
fn the_rclone_server_ends_with_the_mount() -> TestResult {
    let restic_dir = repository()?;
    let repo = restic_dir.repo();
    let path = repo.to_str().ok_or("temporary path is not UTF-8")?;
    let mut mounted = mount(&restic_dir, &format!("rclone:{path}"), &["--no-lock"]);
    assert_eq!(
        std::fs::read(restic_dir.mnt().join("latest/file"))?,
        b"backed up\n"
    );
    assert_eq!(rclone_servers(path).len(), 1, "one server while mounted");
    assert!(mounted.stop_with(libc::SIGTERM).success());
    // SIGKILL is delivered at once, but the process table may show it for a moment longer.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rclone_servers(path).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        rclone_servers(path),
        Vec::<u32>::new(),
        "a server outlived the mount"
    );
    Ok(())
}

/// The live processes running `rclone serve … path`.
fn rclone_servers(path: &str) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
            args.contains(&&b"serve"[..]) && args.contains(&path.as_bytes())
        })
        .collect()
}

/// A server that cannot store the lock fails the mount as a local repository does: one line,
/// exit code 10, no credentials; `--no-lock` mounts it. Over REST and over rclone.
#[test]
fn a_lock_the_repository_cannot_store_fails_the_mount() -> TestResult {
    let restic_dir = repository()?;
    let locks = restic_dir.repo().join("locks");
    if locks.exists() {
        std::fs::remove_dir_all(&locks)?;
    }
    std::fs::write(&locks, b"not a directory")?;
    let server = RestServer::serve(restic_dir.dir.path())?;
    let rclone = format!("rclone:{}", restic_dir.repo().display());
    for location in [server.location(), rclone] {
        refuses_to_mount_unlocked(&restic_dir, &location)?;
        let mounted = mount(&restic_dir, &location, &["--no-lock"]);
        assert_eq!(
            std::fs::read(restic_dir.mnt().join("latest/file"))?,
            b"backed up\n"
        );
        drop(mounted);
    }
    Ok(())
}

fn refuses_to_mount_unlocked(restic_dir: &ResticDir, location: &str) -> TestResult {
    let (mnt, password, cache) = (
        restic_dir.mnt(),
        restic_dir.password(),
        restic_dir.dir.path().join("cache"),
    );
    let args = restic_args(OsStr::new(location), &mnt, &password, &cache);
    let mut child = Command::new(BIN)
        .arg("mount")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Were it to mount anyway, it would stay: a mount is a failure here, not a wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait()?.is_none() {
        if is_mounted(&mnt) || Instant::now() > deadline {
            let mut mounted = Mount {
                child: Some(child),
                mountpoint: mnt.clone(),
            };
            mounted.stop_with(libc::SIGTERM);
            panic!("{location} mounted (or hung) although its lock cannot be stored");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{location}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot lock the repository"), "{stderr}");
    assert!(stderr.contains("--no-lock"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
    assert!(!is_mounted(&mnt));
    Ok(())
}
