//! Restic repositories made by the real `restic`, mounted through the real kernel FUSE: every entry
//! compared with the source as it was at each backup, refresh, single view, errors, REST, the lock,
//! the environment, name templates and progress on a terminal.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/restic_fixture.rs"]
mod restic_fixture;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::*;
use restic_fixture::*;

/// Every file of the repository except locks, with its bytes.
fn repository_files(repo: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(repo)
        .into_iter()
        .filter(|rel| !rel.starts_with("locks"))
        .filter(|rel| repo.join(rel).is_file())
        .map(|rel| {
            let bytes = std::fs::read(repo.join(&rel)).expect("read repository file");
            (rel, bytes)
        })
        .collect()
}

#[test]
fn every_entry_of_both_snapshots_matches_its_source() -> TestResult {
    let fixture = two_snapshots(2000);
    let paths = fixture.paths();
    let before = repository_files(&fixture.repo());
    {
        let _mount = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
        let names = generation_names(&fixture.mnt());
        assert_eq!(names.len(), 2, "{names:?}");
        let mut total = 0;
        for (name, captured) in names.iter().zip(&fixture.captured) {
            total += compare(captured, &fixture.mnt().join(name), RESTIC);
        }
        assert!(total > 4000, "only {total} entries compared");
        assert_eq!(
            statfs_files(&fixture.mnt(), total as u64),
            total as u64,
            "statfs counts every entry of both snapshots"
        );
        assert_eq!(
            std::fs::read_link(fixture.mnt().join("latest"))?,
            Path::new(&names[1])
        );
        assert_eq!(std::fs::read(fixture.mnt().join("latest/variant"))?, [1]);
        assert_eq!(
            std::fs::read_dir(fixture.repo().join("locks"))?.count(),
            1,
            "a lock while mounted"
        );
    }
    assert_eq!(
        std::fs::read_dir(fixture.repo().join("locks"))?.count(),
        0,
        "the lock is removed at unmount"
    );
    assert!(
        before == repository_files(&fixture.repo()),
        "the repository changed outside locks/"
    );
    Ok(())
}

/// How many files under `repo`'s `data/` the process `pid` holds open.
fn packs_held(pid: u32, repo: &Path) -> usize {
    let data = repo.join("data");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter(|target| target.starts_with(&data))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn reading_pid_shows_a_new_backup_and_single_view_goes_back() -> TestResult {
    let mut fixture = two_snapshots(0);
    let paths = fixture.paths();
    {
        let mount = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
        assert_eq!(generation_names(&fixture.mnt()).len(), 2);
        compare(&fixture.captured[1], &fixture.mnt().join("latest"), RESTIC);
        assert!(
            packs_held(mount.pid(), &fixture.repo()) > 0,
            "packs read are kept open"
        );
        std::fs::write(fixture.src().join("variant"), [2])?;
        fixture.backup();
        std::fs::read(fixture.mnt().join(".pid"))?;
        // A new index may mean a prune (under --no-lock): the packs held are closed.
        assert_eq!(packs_held(mount.pid(), &fixture.repo()), 0);
        let names = generation_names(&fixture.mnt());
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(
            std::fs::read_link(fixture.mnt().join("latest"))?,
            Path::new(&names[2])
        );
        assert_eq!(std::fs::read(fixture.mnt().join("latest/variant"))?, [2]);
        compare(&fixture.captured[2], &fixture.mnt().join("latest"), RESTIC);
    }
    let single = fixture.args(&paths, &["--view", "single", "--generation", "latest~1"]);
    let _mount = Mount::start(&single, &fixture.mnt());
    compare(&fixture.captured[1], &fixture.mnt(), RESTIC);
    Ok(())
}

#[test]
fn wrong_password_missing_repository_and_no_password_fail_with_their_codes() -> TestResult {
    let fixture = two_snapshots(0);
    let wrong = fixture.dir.path().join("wrong");
    std::fs::write(&wrong, b"battery staple\n")?;
    let (repo, mnt) = (fixture.repo(), fixture.mnt());
    let o = OsStr::new;
    let cases: [(Vec<&OsStr>, i32, &str); 4] = [
        (
            vec![
                o("mount"),
                repo.as_os_str(),
                mnt.as_os_str(),
                o("--password-file"),
                wrong.as_os_str(),
            ],
            12,
            "wrong password",
        ),
        (
            vec![
                o("mount"),
                o("restic:/nonexistent/repo"),
                mnt.as_os_str(),
                o("--password-file"),
                wrong.as_os_str(),
            ],
            10,
            "does not exist",
        ),
        (
            vec![o("mount"), repo.as_os_str(), mnt.as_os_str()],
            5,
            "no password",
        ),
        (
            vec![
                o("mount"),
                repo.as_os_str(),
                mnt.as_os_str(),
                o("--password-command"),
                o("false"),
            ],
            5,
            "password command",
        ),
    ];
    for (args, code, needle) in cases {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .env_remove("RESTIC_PASSWORD")
            .env_remove("RESTIC_PASSWORD_FILE")
            .env_remove("RESTIC_PASSWORD_COMMAND")
            .stdin(std::process::Stdio::null())
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr:?} should say {needle:?}");
        assert!(!is_mounted(&mnt));
        assert!(!stderr.contains("battery"), "the password leaked: {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(repo.join("locks"))?.count(),
        0,
        "no lock left behind"
    );
    Ok(())
}

#[test]
fn restic_prune_is_refused_while_mounted() -> TestResult {
    let fixture = two_snapshots(0);
    let paths = fixture.paths();
    let _mount = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
    let out = std::process::Command::new("restic")
        .arg("-r")
        .arg(fixture.repo())
        .args(["--no-cache", "prune"])
        .env("RESTIC_PASSWORD_FILE", fixture.password())
        .output()?;
    assert!(!out.status.success(), "prune ran under a mount");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("locked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn a_rest_repository_served_by_rclone_mounts_and_reads() -> TestResult {
    let fixture = two_snapshots(0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let mut server = std::process::Command::new("rclone")
        .args(["serve", "restic", "--addr", &format!("127.0.0.1:{port}")])
        .arg(fixture.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "rclone serve restic did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let location = format!("rest:http://127.0.0.1:{port}/repo/");
    let (mnt, password, cache) = (fixture.mnt(), fixture.password(), fixture.cache());
    let args = restic_args(OsStr::new(&location), &mnt, &password, &cache);
    let result = std::panic::catch_unwind(|| {
        let _mount = Mount::start(&args, &mnt);
        compare(&fixture.captured[1], &mnt.join("latest"), RESTIC);
    });
    let _ = server.kill();
    let _ = server.wait();
    assert!(result.is_ok(), "the REST mount failed");
    Ok(())
}

#[test]
fn the_bundled_restic_demo_mounts_with_the_readme_command() -> TestResult {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir()?;
    let (mnt, cache) = (dir.path().join("mnt"), dir.path().join("cache"));
    std::fs::create_dir(&mnt)?;
    let password = fixtures.join("restic-demo.password");
    let repo = fixtures.join("restic-demo");
    let args = restic_args(repo.as_os_str(), &mnt, &password, &cache);
    {
        let _mount = Mount::start(&args, &mnt);
        let names = generation_names(&mnt);
        assert_eq!(
            names,
            [
                "2026-11-01_09-00-00",
                "2026-11-08_09-00-00",
                "2026-11-15_09-00-00"
            ]
        );
        for name in &names {
            let source = fixtures.join("demo-snapshots").join(name);
            let paths = walk(&source);
            assert_eq!(paths, walk(&mnt.join(name)), "names in {name}");
            for rel in paths
                .iter()
                .filter(|p| source.join(p).symlink_metadata().is_ok_and(|m| m.is_file()))
            {
                assert_eq!(
                    std::fs::read(source.join(rel))?,
                    std::fs::read(mnt.join(name).join(rel))?,
                    "{name}/{}",
                    rel.display()
                );
            }
        }
        assert_eq!(
            std::fs::read_link(mnt.join("latest/notes-link"))?,
            Path::new("documents/notes.txt")
        );
    }
    assert_eq!(
        std::fs::read_dir(repo.join("locks"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    Ok(())
}

#[test]
fn restic_repository_and_password_come_from_the_environment() -> TestResult {
    let fixture = two_snapshots(0);
    let mnt = fixture.mnt();
    let mut child = std::process::Command::new(BIN)
        .args([
            OsStr::new("mount"),
            mnt.as_os_str(),
            OsStr::new("--no-cache"),
        ])
        .env("RESTIC_REPOSITORY", fixture.repo())
        .env("RESTIC_PASSWORD", "correct horse")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .stdin(std::process::Stdio::null())
        .spawn()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !is_mounted(&mnt) {
        assert!(
            child.try_wait()?.is_none(),
            "genmount exited before mounting"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "not mounted within 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mount = Mount {
        child: Some(child),
        mountpoint: mnt.clone(),
    };
    assert_eq!(std::fs::read(mnt.join("latest/variant"))?, [1]);
    drop(mount);
    assert!(!is_mounted(&mnt));
    Ok(())
}

#[test]
fn a_slash_in_the_name_template_groups_generations_by_host() -> TestResult {
    let fixture = two_snapshots(0);
    let paths = fixture.paths();
    let _mount = Mount::start(
        &fixture.args(&paths, &["--name-template", "{host}/{time}"]),
        &fixture.mnt(),
    );
    let host = gethostname();
    assert_eq!(
        generation_names(&fixture.mnt()),
        std::slice::from_ref(&host)
    );
    let inside = generation_names(&fixture.mnt().join(&host));
    assert_eq!(inside.len(), 2, "{inside:?}");
    let latest = std::fs::read_link(fixture.mnt().join("latest"))?;
    assert_eq!(latest, Path::new(&host).join(&inside[1]));
    assert_eq!(std::fs::read(fixture.mnt().join("latest/variant"))?, [1]);
    let generation = fixture.mnt().join(&host).join(&inside[1]);
    let get = |name: &str| {
        xattr::get(&generation, name)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    assert_eq!(get("user.genmount.host"), host.as_bytes());
    assert_eq!(get("user.genmount.id").len(), 64, "the full snapshot id");
    assert!(
        get("user.genmount.time").starts_with(b"20"),
        "an RFC 3339 time"
    );
    assert_eq!(
        get("user.genmount.paths"),
        fixture.src().as_os_str().as_encoded_bytes()
    );
    let names: Vec<String> = xattr::list(&generation)?
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"user.genmount.id".to_string()), "{names:?}");
    assert!(
        xattr::list(fixture.mnt().join("latest/variant"))?
            .next()
            .is_none(),
        "files carry none"
    );
    Ok(())
}

fn gethostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length; gethostname NUL-terminates within it.
    unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The entry count statfs reports once it reaches `expected` (genmount measures in the background),
/// or what it reports after 20 s.
fn statfs_files(path: &Path, expected: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let files = statvfs(path).f_files;
        if files == expected || std::time::Instant::now() > deadline {
            return files;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn loading_shows_progress_on_a_terminal_only() -> TestResult {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let command = |quiet: &str| {
        format!(
            "{BIN} {quiet} generations {} --password-file {} --no-cache",
            fixtures.join("restic-demo").display(),
            fixtures.join("restic-demo.password").display()
        )
    };
    // `script` gives the command a terminal, as a person at a shell has.
    let on_terminal = |quiet: &str| -> std::io::Result<String> {
        let out = std::process::Command::new("script")
            .args(["-qec", &command(quiet), "/dev/null"])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let shown = on_terminal("")?;
    assert!(shown.contains("reading index done"), "{shown:?}");
    assert!(shown.contains("getting snapshots done"), "{shown:?}");
    let quiet = on_terminal("-q")?;
    assert!(
        !quiet.contains("reading index"),
        "-q silences it: {quiet:?}"
    );
    assert!(quiet.contains("2026-11-15_09-00-00"));
    let (_, stdout, stderr) = run(&[
        OsStr::new("generations"),
        fixtures.join("restic-demo").as_os_str(),
        OsStr::new("--password-file"),
        fixtures.join("restic-demo.password").as_os_str(),
        OsStr::new("--no-cache"),
    ]);
    assert!(
        !stderr.contains("reading index") && !stdout.contains("reading index"),
        "not on a pipe"
    );
    Ok(())
}
