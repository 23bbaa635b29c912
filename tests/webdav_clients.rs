//! `genmount serve` against real clients on 127.0.0.1: tar downloads unpacked by tar, rclone's
//! webdav remote, a davfs2 mount, and headless Chromium rendering a page of hostile names. Every
//! byte is compared with the source tree the real restic backed up.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/webdav_fixture.rs"]
mod webdav_fixture;

use std::ffi::OsStr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::{Command, Stdio};

use common::*;
use webdav_fixture::*;

#[test]
fn a_folder_downloads_as_a_tar_that_unpacks_to_the_source() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&["--view", "single", "--generation", "latest~1"]));
    let out = tempfile::tempdir()?;
    let archive = out.path().join("all.tar");
    let (status, _) = curl(
        &format!("{}/?download=tar", served.url),
        &["-o", archive.to_str().ok_or("path")?],
    );
    assert_eq!(status, 200);
    let unpacked = out.path().join("x");
    std::fs::create_dir(&unpacked)?;
    let tar = Command::new("tar")
        .args(["-x", "-p", "--numeric-owner", "-f"])
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .status()?;
    assert!(tar.success());
    let src = repo.src("edge");
    let got = unpacked.join("genmount");
    for rel in walk(&src) {
        let (a, b) = (std::fs::symlink_metadata(src.join(&rel))?, got.join(&rel));
        if a.file_type().is_socket() {
            continue; // tar has no sockets: they come back as fifos.
        }
        let b_md = std::fs::symlink_metadata(&b).map_err(|e| format!("{}: {e}", rel.display()))?;
        assert_eq!(a.mode(), b_md.mode(), "{}", rel.display());
        assert_eq!(
            (a.uid(), a.gid()),
            (b_md.uid(), b_md.gid()),
            "{}",
            rel.display()
        );
        if a.file_type().is_file() {
            assert!(
                std::fs::read(src.join(&rel))? == std::fs::read(&b)?,
                "{}",
                rel.display()
            );
        }
        if a.file_type().is_symlink() {
            assert_eq!(std::fs::read_link(src.join(&rel))?, std::fs::read_link(&b)?);
        } else if a.mtime() >= 0 && !a.file_type().is_dir() {
            assert_eq!(a.mtime(), b_md.mtime(), "{}", rel.display());
        }
    }
    Ok(())
}

#[test]
fn rclone_copies_the_latest_generation_with_bytes_and_times() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&[]));
    let dest = tempfile::tempdir()?;
    let copied = Command::new("rclone")
        .args(["copy", "--config", "/dev/null", "--webdav-url"])
        .arg(format!("{}/latest", served.url))
        .arg(":webdav:")
        .arg(dest.path())
        .status()?;
    assert!(copied.success());
    let src = repo.src("plain");
    let files = regular_files(&src);
    assert_eq!(files, regular_files(dest.path()));
    for rel in files {
        let (a, b) = (src.join(&rel), dest.path().join(&rel));
        assert!(
            std::fs::read(&a)? == std::fs::read(&b)?,
            "{}",
            rel.display()
        );
        let (ma, mb) = (
            std::fs::metadata(&a)?.mtime(),
            std::fs::metadata(&b)?.mtime(),
        );
        // HTTP dates start in 1970: earlier times arrive as the epoch.
        assert_eq!(ma.max(0), mb, "mtime of {}", rel.display());
    }
    Ok(())
}

#[test]
fn davfs2_mounts_the_share_and_reads_files() -> TestResult {
    require_fuse();
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&[]));
    let dir = tempfile::tempdir()?;
    let (mnt, conf) = (dir.path().join("mnt"), dir.path().join("davfs2.conf"));
    std::fs::create_dir(&mnt)?;
    // No password to ask for, and the share has no locks (it is read-only).
    std::fs::write(&conf, "ask_auth 0\nuse_locks 0\n")?;
    let mounted = Command::new("mount")
        .args(["-t", "davfs", "-o"])
        .arg(format!("ro,conf={}", conf.display()))
        .arg(format!("{}/", served.url))
        .arg(&mnt)
        .stdin(Stdio::null())
        .status()?;
    assert!(mounted.success());
    let src = repo.src("plain");
    let result = (|| -> TestResult {
        for rel in regular_files(&src) {
            let through = mnt.join("latest").join(&rel);
            assert!(
                std::fs::read(src.join(&rel))? == std::fs::read(&through)?,
                "{}",
                rel.display()
            );
        }
        Ok(())
    })();
    let unmounted = Command::new("umount").arg(&mnt).status()?;
    result?;
    assert!(unmounted.success());
    Ok(())
}

#[test]
fn chromium_renders_a_page_of_hostile_names_as_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    let generation = dir.path().join("repo/2026-11-01_10-00-00");
    std::fs::create_dir_all(&generation)?;
    let hostile = "<img src=x onerror=document.title='owned'>.txt";
    std::fs::write(generation.join(hostile), b"x")?;
    std::fs::write(generation.join("<b>bold</b>"), b"y").ok();
    std::fs::write(generation.join("a&amp;b\"'"), b"z")?;
    std::fs::create_dir(generation.join("sub folder ü&"))?;
    std::fs::write(generation.join("sub folder ü&/inside.txt"), b"inside")?;
    let repo = format!("dir:{}", dir.path().join("repo").display());
    let served = Served::start(&[OsStr::new(&repo)]);
    // A folder whose name must be percent-encoded: its page, and its tar download.
    let sub = format!("{}/latest/sub%20folder%20%C3%BC%26/", served.url);
    let (status, body) = curl(&sub, &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8(body)?.contains(">inside.txt<"));
    let (status, body) = curl(&format!("{sub}?download=tar"), &[]);
    assert_eq!(status, 200);
    let mut archive = tar::Archive::new(&body[..]);
    let names: Vec<String> = archive
        .entries()?
        .map(|e| Ok(e?.path()?.to_string_lossy().into_owned()))
        .collect::<Result<_, std::io::Error>>()?;
    assert_eq!(names, ["sub folder ü&", "sub folder ü&/inside.txt"]);
    let page = format!("{}/latest/", served.url);
    let chromium = |extra: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1000,600",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(extra)
            .arg(&page)
            .output()
            .expect("chromium runs (apt-get install chromium)")
    };
    let dom = String::from_utf8(chromium(&["--dump-dom"]).stdout)?;
    assert!(
        dom.contains("&lt;img src=x onerror=document.title='owned'&gt;.txt"),
        "{dom}"
    );
    assert!(!dom.contains("<title>owned"), "a name ran as script");
    assert!(!dom.contains("<img"), "a name became markup");
    assert!(dom.contains("a&amp;amp;b\"'"), "{dom}");
    let shot = dir.path().join("page.png");
    let made = chromium(&[&format!("--screenshot={}", shot.display())]);
    assert!(made.status.success());
    let png = std::fs::read(&shot)?;
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );
    Ok(())
}
