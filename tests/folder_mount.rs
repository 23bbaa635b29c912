//! Snapshot folders mounted through the real kernel FUSE: every entry compared with its source,
//! the root layout, `.pid` refresh, single view, ROOT, read-only errors, inode numbers, statfs,
//! read-ahead and the bundled demo.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/folder_fixture.rs"]
mod folder_fixture;

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;
use folder_fixture::*;

fn names(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_entry_of_every_generation_matches_its_source() -> TestResult {
    let dir = three_generations(3000)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    assert_eq!(
        names(&mnt),
        [
            ".pid",
            "2026-11-01_10-00-00",
            "2026-11-02_10-00-00",
            "2026-11-03_10-00-00",
            "latest"
        ]
    );
    assert_eq!(
        std::fs::read_link(mnt.join("latest"))?,
        Path::new("2026-11-03_10-00-00")
    );
    assert_eq!(
        std::fs::read_to_string(mnt.join(".pid"))?,
        format!("{}\n", mount.pid())
    );
    let mut total = 0;
    for name in [
        "2026-11-01_10-00-00",
        "2026-11-02_10-00-00",
        "2026-11-03_10-00-00",
    ] {
        total += compare_trees(&repo.join(name), &mnt.join(name));
        let shown = std::fs::metadata(mnt.join(name))?;
        // A date-named generation is dated by its name, read as local time.
        let named = jiff::civil::DateTime::strptime("%Y-%m-%d_%H-%M-%S", name)?
            .to_zoned(jiff::tz::TimeZone::system())?
            .timestamp()
            .as_second();
        assert_eq!((shown.mtime(), shown.mtime_nsec()), (named, 0));
        assert_eq!(shown.ctime(), named, "a generation's ctime is its end time");
    }
    assert!(total > 9000, "only {total} entries compared");
    assert_eq!(std::fs::read(mnt.join("latest/variant"))?, [2]);
    Ok(())
}

#[test]
fn reading_pid_refreshes_the_root() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let _mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    assert_eq!(names(&mnt).len(), 5);
    std::fs::create_dir(repo.join("2026-11-05_10-00-00"))?;
    std::fs::write(repo.join("2026-11-05_10-00-00/new"), b"fresh")?;
    std::fs::remove_dir_all(repo.join("2026-11-01_10-00-00"))?;
    // Until .pid is read (`cat .pid`) the mount shows what it read at start; opening it is not
    // enough, and the kernel is never asked to FLUSH a close.
    drop(std::fs::File::open(mnt.join(".pid"))?);
    assert!(names(&mnt).contains(&"2026-11-01_10-00-00".to_string()));
    std::fs::read(mnt.join(".pid"))?;
    assert_eq!(
        names(&mnt),
        [
            ".pid",
            "2026-11-02_10-00-00",
            "2026-11-03_10-00-00",
            "2026-11-05_10-00-00",
            "latest"
        ]
    );
    assert_eq!(
        std::fs::read_link(mnt.join("latest"))?,
        Path::new("2026-11-05_10-00-00")
    );
    assert_eq!(std::fs::read(mnt.join("latest/new"))?, b"fresh");
    assert_eq!(
        errno_of(std::fs::metadata(mnt.join("2026-11-01_10-00-00"))),
        Some(libc::ENOENT)
    );
    Ok(())
}

#[test]
fn single_view_shows_latest_back_one() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let args = [
        os(&repo),
        os(&mnt),
        OsStr::new("--view"),
        OsStr::new("single"),
        OsStr::new("--generation"),
        OsStr::new("latest~1"),
    ];
    let _mount = Mount::start(&args, &mnt);
    compare_trees(&repo.join("2026-11-02_10-00-00"), &mnt);
    assert_eq!(std::fs::read(mnt.join("variant"))?, [1]);
    Ok(())
}

#[test]
fn root_shows_a_subtree_and_hides_generations_without_it() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    std::fs::remove_dir_all(repo.join("2026-11-03_10-00-00/dir/nested"))?;
    let _mount = Mount::start(&[os(&repo), os(&mnt), OsStr::new("dir/nested")], &mnt);
    assert_eq!(
        names(&mnt),
        [
            ".pid",
            "2026-11-01_10-00-00",
            "2026-11-02_10-00-00",
            "latest"
        ]
    );
    compare_trees(
        &repo.join("2026-11-02_10-00-00/dir/nested"),
        &mnt.join("latest"),
    );
    assert_eq!(names(&mnt.join("latest")), ["deeper"]);
    Ok(())
}

#[test]
fn every_write_fails_with_erofs() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let _mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    let file = mnt.join("latest/one");
    let erofs = Some(libc::EROFS);
    assert_eq!(
        errno_of(std::fs::OpenOptions::new().write(true).open(&file)),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::OpenOptions::new().append(true).open(&file)),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::File::create(mnt.join("latest/new"))),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::create_dir(mnt.join("latest/newdir"))),
        erofs
    );
    assert_eq!(errno_of(std::fs::create_dir(mnt.join("newgen"))), erofs);
    assert_eq!(errno_of(std::fs::remove_file(&file)), erofs);
    assert_eq!(
        errno_of(std::fs::remove_dir(mnt.join("latest/sticky-dir"))),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::rename(&file, mnt.join("latest/two"))),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::hard_link(&file, mnt.join("latest/three"))),
        erofs
    );
    assert_eq!(
        errno_of(std::os::unix::fs::symlink("x", mnt.join("latest/sym"))),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::set_permissions(
            &file,
            std::fs::Permissions::from_mode(0o777)
        )),
        erofs
    );
    assert_eq!(
        errno_of(std::os::unix::fs::lchown(&file, Some(1), Some(1))),
        erofs
    );
    assert_eq!(errno_of(xattr::set(&file, "user.new", b"v")), erofs);
    assert_eq!(errno_of(xattr::remove(&file, "user.colour")), erofs);
    assert_eq!(
        errno_of(
            std::fs::File::open(&file).and_then(|f| f.set_modified(std::time::SystemTime::now()))
        ),
        erofs
    );
    let c = std::ffi::CString::new(file.as_os_str().as_encoded_bytes())?;
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::truncate(c.as_ptr(), 0) }, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), erofs);
    assert_eq!(errno_of(std::fs::remove_file(mnt.join(".pid"))), erofs);
    assert_eq!(
        errno_of(
            std::fs::OpenOptions::new()
                .write(true)
                .open(mnt.join(".pid"))
        ),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::metadata(mnt.join("latest/not-there"))),
        Some(libc::ENOENT)
    );
    assert_eq!(
        errno_of(std::fs::metadata(mnt.join("not-a-generation"))),
        Some(libc::ENOENT)
    );
    assert_eq!(
        std::fs::read(repo.join("2026-11-03_10-00-00/one"))?,
        b"x",
        "the source is untouched"
    );
    Ok(())
}

#[test]
fn xattr_buffer_too_small_is_erange_missing_is_enodata_and_a_missing_label_eopnotsupp() -> TestResult
{
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    for generation in std::fs::read_dir(&repo)? {
        let one = generation?.path().join("one");
        if one.exists() {
            xattr::set(&one, "security.genmount", b"label")?;
        }
    }
    let _mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    assert_eq!(
        xattr::get(mnt.join("latest/one"), "security.genmount")?,
        Some(b"label".to_vec()),
        "a recorded label is served"
    );
    assert_eq!(
        errno_of(xattr::get(mnt.join("latest/one"), "security.selinux")),
        Some(libc::EOPNOTSUPP)
    );
    let path = std::ffi::CString::new(mnt.join("latest/one").as_os_str().as_encoded_bytes())?;
    let name = c"user.colour";
    let mut buf = [0u8; 2];
    // SAFETY: valid C strings; size 0 asks for the length only.
    let needed = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    assert_eq!(needed, 4);
    // SAFETY: buf is writable for its length.
    let small = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(small, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ERANGE)
    );
    assert_eq!(
        errno_of(
            xattr::get(mnt.join("latest/one"), "user.none")
                .and_then(|v| v.ok_or(std::io::Error::from_raw_os_error(libc::ENODATA)))
        ),
        Some(libc::ENODATA)
    );
    Ok(())
}

#[test]
fn inode_numbers_survive_the_kernel_forgetting_them() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let _mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    let paths = [
        "latest/dir/nested/deeper/leaf.txt",
        "2026-11-01_10-00-00/one",
        "latest/dir/hard-b",
    ];
    let before: Vec<u64> = paths
        .iter()
        .map(|p| std::fs::symlink_metadata(mnt.join(p)).map(|m| m.ino()))
        .collect::<Result<_, _>>()?;
    std::fs::write("/proc/sys/vm/drop_caches", b"3")?;
    let after: Vec<u64> = paths
        .iter()
        .map(|p| std::fs::symlink_metadata(mnt.join(p)).map(|m| m.ino()))
        .collect::<Result<_, _>>()?;
    assert_eq!(before, after);
    assert_eq!(
        std::fs::metadata(mnt.join("latest/hard-a"))?.ino(),
        after[2]
    );
    assert_eq!(std::fs::metadata(mnt.join("latest/hard-a"))?.nlink(), 2);
    Ok(())
}

#[test]
fn statfs_counts_what_is_shown_and_is_read_only() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let (mut entries, mut bytes) = (0u64, 0u64);
    for name in [
        "2026-11-01_10-00-00",
        "2026-11-02_10-00-00",
        "2026-11-03_10-00-00",
    ] {
        for rel in walk(&repo.join(name)) {
            let md = std::fs::symlink_metadata(repo.join(name).join(rel))?;
            entries += 1;
            bytes += if md.is_file() { md.len() } else { 0 };
        }
    }
    let _mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut stats = statvfs(&mnt);
    while stats.f_files != entries {
        assert!(
            std::time::Instant::now() < deadline,
            "statfs reports {} entries, not {entries}",
            stats.f_files
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        stats = statvfs(&mnt);
    }
    assert_eq!(stats.f_blocks * stats.f_frsize, bytes.div_ceil(4096) * 4096);
    assert_eq!(stats.f_namemax, 255);
    assert_ne!(stats.f_flag & libc::ST_RDONLY, 0);
    assert_eq!(stats.f_bfree, 0);
    Ok(())
}

#[test]
fn mounting_as_root_widens_the_kernels_read_ahead_to_a_mebibyte() -> TestResult {
    let dir = three_generations(0)?;
    let (repo, mnt) = (dir.path().join("repo"), dir.path().join("mnt"));
    let _mount = Mount::start(&[os(&repo), os(&mnt)], &mnt);
    let dev = std::fs::metadata(&mnt)?.dev();
    let knob = format!(
        "/sys/class/bdi/{}:{}/read_ahead_kb",
        libc::major(dev),
        libc::minor(dev)
    );
    // The mount is visible before genmount has set the window: wait for it (these tests run as
    // root, as CI does; for other users the kernel's default would stay).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut window = std::fs::read_to_string(&knob)?;
    while window.trim() != "1024" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        window = std::fs::read_to_string(&knob)?;
    }
    assert_eq!(window.trim(), "1024", "{knob}");
    Ok(())
}

#[test]
fn the_bundled_demo_mounts() -> TestResult {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo-snapshots");
    let dir = tempfile::tempdir()?;
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt)?;
    let _mount = Mount::start(&[os(&demo), os(&mnt)], &mnt);
    assert_eq!(
        std::fs::read_link(mnt.join("latest"))?,
        Path::new("2026-11-15_09-00-00")
    );
    compare_trees(
        &demo.join("2026-11-08_09-00-00"),
        &mnt.join("2026-11-08_09-00-00"),
    );
    assert_eq!(
        std::fs::read_to_string(mnt.join("latest/notes-link"))?,
        "Shopping: coffee\nCall the plumber\n"
    );
    Ok(())
}
