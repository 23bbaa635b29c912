//! What the real binary prints for scripts and readers: `generations --json` and `--json-lines`,
//! and the layout of `mount --help`.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;

use common::{ResticDir, TestResult, restic, run};
use serde_json::Value;

/// A restic repository with two snapshots of a small tree, made by the real restic.
fn two_snapshots() -> Result<ResticDir, Box<dyn std::error::Error>> {
    let dir = ResticDir::init("json-test")?;
    let src = dir.dir.path().join("src");
    std::fs::create_dir(&src)?;
    std::fs::write(src.join("a"), b"first")?;
    let backup = ["backup", "--host", "box", "--tag", "t1", "src"];
    restic(&dir.repo(), &dir.password(), dir.dir.path(), &backup);
    std::fs::write(src.join("b"), b"second")?;
    restic(&dir.repo(), &dir.password(), dir.dir.path(), &backup);
    Ok(dir)
}

/// `genmount generations REPO [extra]` with the test repository's password and cache.
fn generations(dir: &ResticDir, extra: &[&str]) -> (i32, String, String) {
    let (repo, password, cache) = (dir.repo(), dir.password(), dir.cache());
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("generations"),
        repo.as_os_str(),
        OsStr::new("--password-file"),
        password.as_os_str(),
        OsStr::new("--cache-dir"),
        cache.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    run(&args)
}

/// The table's rows after its header, as (name, time).
fn table_rows(table: &str) -> Vec<(String, String)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cells = line.split_whitespace();
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .collect()
}

fn name_and_time(object: &Value) -> (String, String) {
    let text = |key: &str| object[key].as_str().unwrap_or("<missing>").to_string();
    (text("name"), text("time"))
}

#[test]
fn generations_json_is_one_array_as_restic_prints() -> TestResult {
    let dir = two_snapshots()?;
    let (status, table, stderr) = generations(&dir, &[]);
    assert_eq!(status, 0, "{stderr}");
    let rows = table_rows(&table);
    assert_eq!(rows.len(), 2, "{table}");

    let (status, stdout, stderr) = generations(&dir, &["--json"]);
    assert_eq!(status, 0, "{stderr}");
    // The whole output is one JSON document, not a stream of them.
    let parsed: Value = serde_json::from_str(&stdout)?;
    let Value::Array(list) = parsed else {
        panic!("--json prints no array: {stdout}");
    };
    let shown: Vec<(String, String)> = list.iter().map(name_and_time).collect();
    assert_eq!(shown, rows, "{stdout}");
    for object in &list {
        assert_eq!(object["host"], "box", "{object}");
        assert_eq!(object["tags"], serde_json::json!(["t1"]), "{object}");
        assert!(
            object["id"].as_str().is_some_and(|id| id.len() == 64),
            "{object}"
        );
        // Keys are there even when the backend does not know the value.
        assert!(object.get("files").is_some() && object.get("size").is_some());
    }
    Ok(())
}

#[test]
fn generations_json_lines_is_one_object_per_line() -> TestResult {
    let dir = two_snapshots()?;
    let (status, table, stderr) = generations(&dir, &[]);
    assert_eq!(status, 0, "{stderr}");
    let (status, stdout, stderr) = generations(&dir, &["--json-lines"]);
    assert_eq!(status, 0, "{stderr}");
    let objects: Vec<Value> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert!(objects.iter().all(Value::is_object), "{stdout}");
    let shown: Vec<(String, String)> = objects.iter().map(name_and_time).collect();
    assert_eq!(shown, table_rows(&table));
    Ok(())
}

#[test]
fn an_empty_listing_is_an_empty_array() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("2026-01-01.inProgress"))?;
    let repo = format!("dir:{}", dir.path().display());
    let (status, stdout, stderr) = run(&[
        OsStr::new("generations"),
        OsStr::new(&repo),
        OsStr::new("--json"),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout)?,
        serde_json::json!([])
    );
    let (status, _, stderr) = run(&[
        OsStr::new("generations"),
        OsStr::new(&repo),
        OsStr::new("--json"),
        OsStr::new("--json-lines"),
    ]);
    assert_eq!(status, 2, "one output format at a time: {stderr}");
    Ok(())
}

/// The numbers of the lines of `help` that `wanted` picks.
fn line_of(help: &str, wanted: impl Fn(&str) -> bool) -> Vec<usize> {
    help.lines()
        .enumerate()
        .filter(|(_, line)| wanted(line))
        .map(|(at, _)| at)
        .collect()
}

/// The heading a flag's line stands under: the nearest `Heading:` line above it.
fn heading_of<'a>(help: &'a str, flag: &str) -> Option<&'a str> {
    let lines: Vec<&str> = help.lines().collect();
    let at = lines.iter().position(|line| {
        line.split_whitespace()
            .any(|word| word.trim_end_matches([',', '.']) == flag)
    })?;
    lines[..at]
        .iter()
        .rev()
        .find(|line| !line.starts_with(' ') && line.ends_with(':'))
        .copied()
}

#[test]
fn mount_help_groups_options_in_reading_order() {
    let (status, help, stderr) = run(&[OsStr::new("mount"), OsStr::new("--help")]);
    assert_eq!(status, 0, "{stderr}");
    let headings = [
        "Repository options:",
        "View options:",
        "Mount options:",
        "Global options:",
    ];
    let at: Vec<Vec<usize>> = headings
        .iter()
        .map(|h| line_of(&help, |line| line == *h))
        .collect();
    assert!(at.iter().all(|lines| lines.len() == 1), "{at:?}\n{help}");
    assert!(at.windows(2).all(|w| w[0][0] < w[1][0]), "{help}");
    assert!(!help.lines().any(|l| l == "Options:"), "{help}");
    for (flag, heading) in [
        ("--password-file", "Repository options:"),
        ("--cache-size", "Repository options:"),
        ("--host", "View options:"),
        ("--view", "View options:"),
        ("--generation", "View options:"),
        ("--option", "Mount options:"),
        ("--daemon", "Mount options:"),
        ("--verbose", "Global options:"),
        ("--quiet", "Global options:"),
        ("--help", "Global options:"),
    ] {
        assert_eq!(heading_of(&help, flag), Some(heading), "{flag}\n{help}");
    }
}

#[test]
fn help_and_version_still_answer_everywhere() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["generations", "-h"],
        &["help", "mount"],
    ] {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let (status, help, stderr) = run(&args);
        assert_eq!(status, 0, "{args:?}: {stderr}");
        assert!(help.contains("Global options:"), "{args:?}: {help}");
    }
    let (status, version, _) = run(&[OsStr::new("--version")]);
    assert_eq!(status, 0);
    assert!(version.starts_with("genmount "), "{version}");
    let (status, man, _) = run(&[OsStr::new("man")]);
    assert_eq!(status, 0);
    assert!(
        man.contains("GLOBAL OPTIONS") && man.contains("mount"),
        "{man}"
    );
}

/// A build without OpenDAL names the build that reads restic's remote forms, and shows none of the
/// options a location carries (they may hold credentials).
#[cfg(not(feature = "opendal"))]
#[test]
fn remote_forms_ask_for_the_opendal_build_without_their_options() {
    let repo = "b2:bucket:repo?bucket_id=1&application_key=s3cr3t";
    let (status, _, stderr) = run(&[OsStr::new("generations"), OsStr::new(repo)]);
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("--features opendal"), "{stderr}");
    assert!(
        stderr.contains("b2:bucket:repo") && !stderr.contains("s3cr3t"),
        "{stderr}"
    );
}

/// OpenDAL's `fs` service reads a local restic repository: the options of the location reach it.
#[cfg(feature = "opendal")]
#[test]
fn opendal_locations_carry_their_options() -> TestResult {
    let dir = two_snapshots()?;
    let repo = format!("opendal:fs?root={}", dir.repo().display());
    let (status, table, stderr) = generations(&dir, &[]);
    assert_eq!(status, 0, "{stderr}");
    let (password, cache) = (dir.password(), dir.cache());
    let (status, stdout, stderr) = run(&[
        OsStr::new("generations"),
        OsStr::new(&repo),
        OsStr::new("--password-file"),
        password.as_os_str(),
        OsStr::new("--cache-dir"),
        cache.as_os_str(),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(table_rows(&stdout), table_rows(&table));
    Ok(())
}
