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
