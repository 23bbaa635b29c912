//! Bad input gets one line on stderr, its documented exit code, and nothing mounted:
//! a missing or unreadable repository, a bad mountpoint, an unknown generation, bad options.
// They mount through Linux's FUSE and read /proc: on other OSes they compile to nothing, and the
// neutral logic is covered by the unit tests, which run everywhere.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;

use common::*;

fn check(args: &[&OsStr], code: i32, mountpoint: &std::path::Path, needle: &str) {
    let (status, _, stderr) = run(args);
    assert_eq!(status, code, "exit code of {args:?}; stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line for {args:?}: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{stderr:?} should mention {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !is_mounted(mountpoint),
        "{} was left mounted",
        mountpoint.display()
    );
}

#[test]
fn bad_input_is_one_line_with_its_exit_code() -> TestResult {
    require_fuse();
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("2026-01-01/sub"))?;
    std::fs::create_dir_all(repo.join("2026-01-02"))?;
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt)?;
    let file = dir.path().join("file");
    std::fs::write(&file, b"x")?;
    let full = dir.path().join("full");
    std::fs::create_dir_all(full.join("something"))?;
    let empty_repo = dir.path().join("empty-repo");
    std::fs::create_dir_all(empty_repo.join("only.partial"))?;
    let o = |s: &'static str| OsStr::new(s);
    let m = mnt.as_os_str();
    check(
        &[o("mount"), dir.path().join("missing").as_os_str(), m],
        10,
        &mnt,
        "cannot be read",
    );
    check(
        &[o("mount"), file.as_os_str(), m],
        10,
        &mnt,
        "not a directory",
    );
    check(
        &[
            o("mount"),
            repo.as_os_str(),
            dir.path().join("nomnt").as_os_str(),
        ],
        3,
        &mnt,
        "does not exist",
    );
    check(
        &[o("mount"), repo.as_os_str(), file.as_os_str()],
        3,
        &mnt,
        "not a directory",
    );
    check(
        &[o("mount"), repo.as_os_str(), full.as_os_str()],
        3,
        &full,
        "not empty",
    );
    check(
        &[o("mount"), empty_repo.as_os_str(), m],
        4,
        &mnt,
        "no finished generation",
    );
    check(
        &[
            o("mount"),
            repo.as_os_str(),
            m,
            o("--view"),
            o("single"),
            o("--generation"),
            o("nope"),
        ],
        4,
        &mnt,
        "no generation",
    );
    check(
        &[
            o("mount"),
            repo.as_os_str(),
            m,
            o("--view"),
            o("single"),
            o("--generation"),
            o("latest~5"),
        ],
        4,
        &mnt,
        "no generation",
    );
    check(
        &[
            o("mount"),
            repo.as_os_str(),
            m,
            o("--view"),
            o("single"),
            o("sub"),
        ],
        4,
        &mnt,
        "ROOT",
    );
    check(
        &[o("mount"), repo.as_os_str(), m, o("a/../b")],
        2,
        &mnt,
        "..",
    );
    let (status, _, stderr) = run(&[o("mount"), o("--view"), o("sideways"), repo.as_os_str(), m]);
    assert_eq!(status, 2, "{stderr}");
    check(
        &[
            o("mount"),
            repo.as_os_str(),
            m,
            o("--generation"),
            o("latest~1"),
        ],
        2,
        &mnt,
        "--view single",
    );
    check(
        &[
            o("mount"),
            repo.as_os_str(),
            m,
            o("--view"),
            o("versions"),
            o("--fold-identical"),
        ],
        2,
        &mnt,
        "--view multiple",
    );
    let small = [o("mount"), o("--cache-size"), o("1M"), repo.as_os_str(), m];
    let (status, _, stderr) = run(&small);
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("at least 8M"), "{stderr}");
    Ok(())
}

#[test]
fn an_occupied_mountpoint_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("2026-01-01"))?;
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt)?;
    let _mount = Mount::start(&[repo.as_os_str(), mnt.as_os_str()], &mnt);
    let (status, _, stderr) = run(&[
        OsStr::new("mount"),
        repo.as_os_str(),
        mnt.as_os_str(),
        OsStr::new("--allow-non-empty"),
    ]);
    assert_eq!(status, 3, "{stderr}");
    assert!(stderr.contains("already"), "{stderr}");
    assert!(is_mounted(&mnt), "the first mount is still there");
    Ok(())
}

#[test]
fn generations_lists_finished_ones_oldest_first() -> TestResult {
    let dir = tempfile::tempdir()?;
    for name in ["2026-01-02", "2026-01-01", "2026-01-03.inProgress"] {
        std::fs::create_dir_all(dir.path().join(name))?;
    }
    let (status, stdout, stderr) = run(&[OsStr::new("generations"), dir.path().as_os_str()]);
    assert_eq!(status, 0, "{stderr}");
    let mut lines = stdout.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with("NAME")),
        "{stdout}"
    );
    let names: Vec<&str> = lines.filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["2026-01-01", "2026-01-02"]);
    let (status, stdout, _) = run(&[
        OsStr::new("generations"),
        dir.path().as_os_str(),
        OsStr::new("--json-lines"),
    ]);
    assert_eq!(status, 0);
    let parsed: Vec<serde_json::Value> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1]["name"], "2026-01-02");
    Ok(())
}

#[test]
fn completions_and_man_page_are_generated() {
    let (status, script, _) = run(&[OsStr::new("completions"), OsStr::new("bash")]);
    assert_eq!(status, 0);
    assert!(
        script.contains("_genmount") && script.contains("--password-file"),
        "{script}"
    );
    let (status, man, _) = run(&[OsStr::new("man")]);
    assert_eq!(status, 0);
    assert!(
        man.contains(".TH genmount") && man.contains("generations"),
        "{man}"
    );
}
