//! `genmount serve` against curl on 127.0.0.1: PROPFIND, GET, Range, every write method,
//! traversal attempts, folder redirects, basic auth, `.pid` showing a new backup, exit codes,
//! `--daemon` and HTTPS. Every byte is compared with the source tree the real restic backed up.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/webdav_fixture.rs"]
mod webdav_fixture;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use webdav_fixture::*;

/// A relative path as a URL path, every byte of every name percent-encoded.
fn url_path(rel: &Path) -> String {
    let mut out = String::new();
    for part in rel.components() {
        out.push('/');
        for b in part.as_os_str().as_bytes() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
fn propfind_and_get_serve_every_file_byte_exact() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&["--view", "single", "--generation", "latest~1"]));
    let src = repo.src("edge");
    let files = regular_files(&src);
    assert!(files.len() > 15, "{files:?}");
    for rel in &files {
        let (status, body) = curl(&format!("{}{}", served.url, url_path(rel)), &[]);
        assert_eq!(status, 200, "{}", rel.display());
        assert!(
            body == std::fs::read(src.join(rel))?,
            "{} differs",
            rel.display()
        );
    }
    let (status, body) = curl(
        &format!("{}/", served.url),
        &["-X", "PROPFIND", "-H", "Depth: 1"],
    );
    assert_eq!(status, 207);
    let xml = String::from_utf8(body)?;
    for name in [
        "size-4097",
        "dir/",
        "link-relative",
        "with%20space",
        "setgid-dir/",
    ] {
        assert!(
            xml.contains(&format!("<D:href>/{name}</D:href>")),
            "{name} in {xml}"
        );
    }
    // Not servable over WebDAV: links out of the backup and special files are left out.
    for name in ["link-absolute", "fifo", "chardev", "socket"] {
        assert!(!xml.contains(&format!("/{name}<")), "{name} listed");
    }
    let (status, body) = curl(
        &format!("{}/size-4097", served.url),
        &["-X", "PROPFIND", "-H", "Depth: 0"],
    );
    assert_eq!(status, 207);
    let xml = String::from_utf8(body)?;
    assert!(
        xml.contains("<D:getcontentlength>4097</D:getcontentlength>"),
        "{xml}"
    );
    let (status, _) = curl(&format!("{}/", served.url), &["-X", "PROPFIND"]);
    assert_eq!(status, 403, "Depth: infinity is refused");
    Ok(())
}

#[test]
fn range_requests_return_the_bytes_asked_for() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&[]));
    let data = std::fs::read(repo.src("plain").join("docs/file-4"))?;
    let url = format!("{}/latest/docs/file-4", served.url);
    for (range, expected) in [
        ("1000-1999", &data[1000..2000]),
        ("2499000-", &data[2_499_000..]),
        ("-73", &data[data.len() - 73..]),
    ] {
        let (status, body) = curl(&url, &["-r", range]);
        assert_eq!(status, 206, "{range}");
        assert!(body == expected, "range {range}");
    }
    // Numbers that overflow, and thousands of ranges, are refused before any read.
    let many = vec!["0-1"; 2000].join(",");
    for range in ["1-18446744073709551615", many.as_str()] {
        let (status, body) = curl(&url, &["-r", range]);
        assert_eq!(status, 416, "{} bytes of body", body.len());
    }
    Ok(())
}

#[test]
fn a_share_without_a_password_answers_to_loopback_names_only() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&[]));
    let url = format!("{}/latest/old.txt", served.url);
    for host in ["localhost", "127.0.0.1:80", "[::1]"] {
        assert_eq!(
            curl(&url, &["-H", &format!("Host: {host}")]).0,
            200,
            "{host}"
        );
    }
    // A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) reads nothing.
    let (status, body) = curl(&url, &["-H", "Host: attacker.example"]);
    assert_eq!(status, 403);
    assert!(!body.starts_with(b"from 1969"));
    Ok(())
}

/// Every file of a repository and its bytes.
fn repository_files(repo: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    regular_files(repo)
        .into_iter()
        .map(|rel| {
            let data = std::fs::read(repo.join(&rel)).expect("read");
            (rel, data)
        })
        .collect()
}

#[test]
fn every_write_method_is_refused_and_nothing_is_written() -> TestResult {
    let repo = Repo::new()?;
    let before = repository_files(&repo.restic.repo());
    let served = Served::start(&repo.args(&[]));
    let file = format!("{}/latest/old.txt", served.url);
    let dest = format!("Destination: {}/latest/copy.txt", served.url);
    for args in [
        vec!["-X", "PUT", "--data-binary", "overwritten"],
        vec!["-X", "DELETE"],
        vec!["-X", "MKCOL"],
        vec!["-X", "MOVE", "-H", &dest],
        vec!["-X", "COPY", "-H", &dest],
        vec!["-X", "PROPPATCH", "--data-binary", "<x/>"],
        vec!["-X", "LOCK", "--data-binary", "<x/>"],
        vec!["-X", "UNLOCK"],
        vec!["-X", "PATCH", "--data-binary", "x"],
        vec!["-X", "POST", "--data-binary", "x"],
    ] {
        let (status, _) = curl(&file, &args);
        assert!(status == 403 || status == 405, "{args:?}: {status}");
    }
    let (status, _) = curl(&format!("{}/latest/new-dir", served.url), &["-X", "MKCOL"]);
    assert!(status == 403 || status == 405, "MKCOL: {status}");
    let (status, body) = curl(&file, &[]);
    assert_eq!((status, body), (200, b"from 1969\n".to_vec()));
    drop(served);
    assert!(
        before == repository_files(&repo.restic.repo()),
        "the repository changed"
    );
    Ok(())
}

#[test]
fn traversal_attempts_never_leave_the_tree() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&["--view", "single", "--generation", "latest~1"]));
    let passwd = std::fs::read("/etc/passwd")?;
    let marker = &passwd[..passwd.len().min(12)];
    for attempt in [
        "/../../../../etc/passwd",
        "/dir/../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/dir/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/dir/..%5c..%5c..%5cetc%5cpasswd",
        "/dir/..\\..\\..\\etc\\passwd",
        "/dir/a%00b",
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        // A link in the backup that points to /etc/passwd on the machine that was backed up.
        "/link-absolute",
        "/dir/link-dangling",
    ] {
        for suffix in ["", "?download=tar"] {
            let (status, body) = curl(&format!("{}{attempt}{suffix}", served.url), &[]);
            assert!(
                matches!(status, 400 | 403 | 404),
                "{attempt}{suffix}: {status}"
            );
            assert!(
                !body.windows(marker.len()).any(|w| w == marker),
                "{attempt} leaked"
            );
        }
    }
    Ok(())
}

#[test]
fn a_folder_without_its_slash_redirects_within_the_share() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&["--view", "single", "--generation", "latest~1"]));
    for (path, expected) in [
        ("/dir", "/dir/"),
        ("//dir", "/dir/"),
        ("/dir?download=tar", "/dir/?download=tar"),
    ] {
        let out = Command::new("curl")
            .args([
                "-s",
                "--path-as-is",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %header{location}",
            ])
            .arg(format!("{}{path}", served.url))
            .output()?;
        assert_eq!(
            String::from_utf8(out.stdout)?,
            format!("308 {expected}"),
            "{path}"
        );
    }
    Ok(())
}

#[test]
fn basic_auth_guards_the_share_and_open_addresses_need_it() -> TestResult {
    let repo = Repo::new()?;
    let password = repo.restic.dir.path().join("web-password");
    std::fs::write(&password, "correct horse\n")?;
    let pw = password.to_str().ok_or("path")?;
    let served = Served::start(&repo.args(&["--user", "ann", "--user-password-file", pw]));
    let url = format!("{}/latest/old.txt", served.url);
    assert_eq!(curl(&url, &[]).0, 401);
    assert_eq!(curl(&url, &["-u", "ann:wrong"]).0, 401);
    assert_eq!(curl(&url, &["-u", "bob:correct horse"]).0, 401);
    assert_eq!(
        curl(&url, &["-u", "ann:correct horse"]),
        (200, b"from 1969\n".to_vec())
    );
    for extra in [
        vec!["0.0.0.0:4919"],
        vec!["--user", "ann", "--user-password-file", pw, "0.0.0.0:4919"],
    ] {
        let mut args = vec![OsStr::new("serve")];
        args.extend(repo.args(&[]));
        args.extend(extra.iter().map(OsStr::new));
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    Ok(())
}

#[test]
fn reading_pid_shows_a_new_backup() -> TestResult {
    let repo = Repo::new()?;
    let served = Served::start(&repo.args(&["--refresh-interval", "0"]));
    let count = || -> usize {
        let (_, body) = curl(
            &format!("{}/", served.url),
            &["-X", "PROPFIND", "-H", "Depth: 1"],
        );
        String::from_utf8_lossy(&body)
            .matches("<D:collection>")
            .count()
    };
    let before = count();
    std::thread::sleep(Duration::from_millis(1100));
    let src = repo.src("plain");
    restic(
        &repo.restic.repo(),
        &repo.restic.password(),
        &src,
        &["backup", "."],
    );
    let (status, pid) = curl(&format!("{}/.pid", served.url), &[]);
    assert_eq!(
        (status, pid),
        (200, format!("{}\n", served.child.id()).into_bytes())
    );
    assert_eq!(count(), before + 1);
    Ok(())
}

#[test]
fn a_missing_repository_and_a_busy_address_fail_with_their_codes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let password = dir.path().join("pw");
    std::fs::write(&password, "x\n")?;
    let missing = format!("restic:{}", dir.path().join("nothing-here").display());
    let (code, _, stderr) = run(&[
        OsStr::new("serve"),
        OsStr::new(&missing),
        OsStr::new("--password-file"),
        password.as_os_str(),
    ]);
    assert_eq!(code, 10, "{stderr}");
    let busy = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = busy.local_addr()?.to_string();
    std::fs::create_dir_all(dir.path().join("repo/2026-11-01_10-00-00"))?;
    let repo = format!("dir:{}", dir.path().join("repo").display());
    let (code, _, stderr) = run(&[OsStr::new("serve"), OsStr::new(&repo), OsStr::new(&addr)]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("cannot listen"), "{stderr}");
    Ok(())
}

#[test]
fn with_daemon_serve_returns_once_it_listens() -> TestResult {
    let repo = Repo::new()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec![OsStr::new("serve")];
    args.extend(repo.args(&["--daemon"]));
    args.push(OsStr::new(&addr));
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    // Listening already: no waiting loop here.
    let (status, pid) = curl(&format!("http://{addr}/.pid"), &[]);
    assert_eq!(status, 200);
    let pid: i32 = String::from_utf8(pid)?.trim().parse()?;
    // SAFETY: kill has no memory preconditions; the pid is the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn https_with_a_certificate_serves_and_refuses_a_bad_key() -> TestResult {
    let repo = Repo::new()?;
    let dir = repo.restic.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    assert!(made.status.success(), "openssl (apt-get install openssl)");
    let password = dir.join("web-password");
    std::fs::write(&password, "tls pw\n")?;
    let paths = [&cert, &key, &password].map(|p| p.to_str().unwrap_or_default().to_owned());
    let served = Served::start(&repo.args(&[
        "--tls-cert",
        &paths[0],
        "--tls-key",
        &paths[1],
        "--user",
        "ann",
        "--user-password-file",
        &paths[2],
    ]));
    let url = served.url.replace("http://", "https://") + "/latest/old.txt";
    let (status, body) = curl(&url, &["--cacert", &paths[0], "-u", "ann:tls pw"]);
    assert_eq!((status, body), (200, b"from 1969\n".to_vec()));
    assert_eq!(curl(&url, &["--cacert", &paths[0]]).0, 401);
    // Plain HTTP on the TLS port gets no answer that carries data.
    let (status, body) = curl(&served.url, &["-u", "ann:tls pw"]);
    assert_ne!(status, 200);
    assert!(!body.starts_with(b"from"));
    // A key file that holds no key is a usage error, before anything listens.
    let mut args = vec![OsStr::new("serve")];
    args.extend(repo.args(&["--tls-cert", &paths[0], "--tls-key", &paths[2]]));
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot use the key"), "{stderr}");
    Ok(())
}
