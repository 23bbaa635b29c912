//! Restic repositories made by the real `restic`, mounted through the real kernel FUSE: every entry
//! compared with the source as it was at each backup, refresh, single view, errors, REST, the lock.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::*;

/// A repository that the real `restic` backs up `src/` into, with what `src/` held at each backup.
struct Fixture {
    restic: ResticDir,
    captured: Vec<BTreeMap<PathBuf, Captured>>,
}

impl std::ops::Deref for Fixture {
    type Target = ResticDir;
    fn deref(&self) -> &ResticDir {
        &self.restic
    }
}

impl Fixture {
    /// An initialised repository and an empty `src/`.
    fn init(password: &str) -> Result<Fixture, Box<dyn std::error::Error>> {
        let fixture = Fixture {
            restic: ResticDir::init(password)?,
            captured: Vec::new(),
        };
        std::fs::create_dir(fixture.src())?;
        Ok(fixture)
    }
    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
    fn backup(&mut self) {
        // Generations are named by the second they were made in: keep snapshots a second apart so
        // that names sort as time does (a clash would append short ids, which sort at random).
        if !self.captured.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        self.captured.push(capture(&self.src()));
        restic(
            &self.repo(),
            &self.password(),
            &self.src(),
            &["backup", "."],
        );
    }
    /// Mount arguments: repository, mountpoint, password file and a private cache, then `extra`.
    fn args<'a>(&'a self, paths: &'a [PathBuf; 4], extra: &'a [&'a str]) -> Vec<&'a OsStr> {
        let mut args = restic_args(paths[0].as_os_str(), &paths[1], &paths[2], &paths[3]).to_vec();
        args.extend(extra.iter().map(OsStr::new));
        args
    }
}

/// Two snapshots of an edge-case tree that differ, with `bulk` small files besides.
fn two_snapshots(bulk: usize) -> Fixture {
    let mut fixture = Fixture::init("correct horse").expect("repository");
    build_edge_tree(&fixture.src(), 0);
    // restic does not back up sockets.
    std::fs::remove_file(fixture.src().join("socket")).expect("remove socket");
    add_big_files(&fixture.src());
    if bulk > 0 {
        add_bulk(&fixture.src(), 20, bulk);
    }
    add_nested_counts(&fixture.src());
    fixture.backup();
    std::fs::write(fixture.src().join("variant"), [1]).expect("write");
    std::fs::write(
        fixture.src().join("added-later"),
        b"new in the second snapshot\n",
    )
    .expect("write");
    std::fs::remove_file(fixture.src().join("size-4095")).expect("remove");
    fixture.backup();
    fixture
}

/// 40 directories holding 0-3 directories each: restic stores no link counts for directories,
/// and genmount counts the subdirectories of many such siblings on several threads at once.
fn add_nested_counts(src: &Path) {
    for i in 0..40 {
        for j in 0..i % 4 {
            std::fs::create_dir_all(src.join(format!("nest/n{i:02}/sub{j}"))).expect("mkdir");
        }
        std::fs::create_dir_all(src.join(format!("nest/n{i:02}"))).expect("mkdir");
    }
}

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

#[test]
fn reading_pid_shows_a_new_backup_and_single_view_goes_back() -> TestResult {
    let mut fixture = two_snapshots(0);
    let paths = fixture.paths();
    {
        let _mount = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
        assert_eq!(generation_names(&fixture.mnt()).len(), 2);
        std::fs::write(fixture.src().join("variant"), [2])?;
        fixture.backup();
        std::fs::read(fixture.mnt().join(".pid"))?;
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
fn unchanged_backups_fold_into_symlinks_with_fold_identical() -> TestResult {
    let mut fixture = two_snapshots(0);
    // A third backup of an unchanged tree stores the same tree as the second.
    fixture.backup();
    let paths = fixture.paths();
    let _mount = Mount::start(&fixture.args(&paths, &["--fold-identical"]), &fixture.mnt());
    let names = generation_names(&fixture.mnt());
    assert_eq!(names.len(), 3, "{names:?}");
    let third = fixture.mnt().join(&names[2]);
    assert!(
        std::fs::symlink_metadata(&third)?.file_type().is_symlink(),
        "the repeat is a symlink"
    );
    assert_eq!(std::fs::read_link(&third)?, Path::new(&names[1]));
    assert!(std::fs::symlink_metadata(fixture.mnt().join(&names[1]))?.is_dir());
    assert_eq!(
        std::fs::read(fixture.mnt().join("latest/variant"))?,
        [1],
        "latest reads through the fold"
    );
    Ok(())
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

/// What a version is, to compare a mounted one with a captured one.
#[derive(Debug, PartialEq)]
enum Identity {
    File(Vec<u8>),
    Link(PathBuf),
    Other(u32),
}

fn identity_of(entry: &Captured) -> Identity {
    use std::os::unix::fs::MetadataExt;
    match (&entry.digest, &entry.target) {
        (Some(digest), _) => Identity::File(digest.clone()),
        (None, Some(target)) => Identity::Link(target.clone()),
        _ => Identity::Other(entry.md.mode() & libc::S_IFMT),
    }
}

fn identity_on_mount(path: &Path) -> std::io::Result<Identity> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    let md = path.symlink_metadata()?;
    Ok(if md.is_file() {
        Identity::File(sha2::Sha256::digest(std::fs::read(path)?).to_vec())
    } else if md.file_type().is_symlink() {
        Identity::Link(std::fs::read_link(path)?)
    } else {
        Identity::Other(md.mode() & libc::S_IFMT)
    })
}

#[test]
fn versions_view_shows_every_distinct_version_once() -> TestResult {
    let mut fixture = two_snapshots(0);
    // The first snapshot's byte comes back: it must fold into the first generation's version.
    std::fs::write(fixture.src().join("variant"), [0])?;
    fixture.backup();
    let paths = fixture.paths();
    let generations = {
        let _plain = Mount::start(&fixture.args(&paths, &[]), &fixture.mnt());
        generation_names(&fixture.mnt())
    };
    assert_eq!(generations.len(), 3, "{generations:?}");
    // The smallest blob cache: every version still reads exactly.
    let versions = ["--view", "versions", "--cache-size", "8M"];
    let _mount = Mount::start(&fixture.args(&paths, &versions), &fixture.mnt());
    let mnt = fixture.mnt();
    let every_path: std::collections::BTreeSet<&PathBuf> =
        fixture.captured.iter().flat_map(|c| c.keys()).collect();
    let mut files_checked = 0;
    for rel in every_path {
        let states: Vec<(usize, &Captured)> = (0..3)
            .filter_map(|i| fixture.captured[i].get(rel).map(|entry| (i, entry)))
            .collect();
        let a_dir_somewhere = states.iter().any(|(_, entry)| entry.md.is_dir());
        if a_dir_somewhere {
            assert!(mnt.join(rel).is_dir(), "{} is a directory", rel.display());
        }
        let mut expected: Vec<(&str, Identity)> = Vec::new();
        for (i, entry) in states.iter().filter(|(_, entry)| !entry.md.is_dir()) {
            let identity = identity_of(entry);
            if !expected.iter().any(|(_, seen)| *seen == identity) {
                expected.push((&generations[*i], identity));
            }
        }
        if expected.is_empty() {
            continue;
        }
        let mut versions_dir = mnt.join(rel).into_os_string();
        if a_dir_somewhere {
            versions_dir.push("~versions");
        }
        let versions_dir = PathBuf::from(versions_dir);
        let mut shown: Vec<String> = std::fs::read_dir(&versions_dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        shown.sort();
        assert_eq!(shown.len(), expected.len(), "{}: {shown:?}", rel.display());
        for ((generation, identity), name) in expected.iter().zip(&shown) {
            assert!(
                name.starts_with(generation),
                "{name} is named by {generation}"
            );
            assert_eq!(
                identity_on_mount(&versions_dir.join(name))?,
                *identity,
                "{name}"
            );
        }
        files_checked += 1;
    }
    assert!(files_checked > 20, "only {files_checked} files checked");
    let variant: Vec<_> = std::fs::read_dir(mnt.join("variant"))?.collect();
    assert_eq!(variant.len(), 2, "three backups, two distinct contents");
    assert!(std::fs::create_dir(mnt.join("variant/new")).is_err());
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
