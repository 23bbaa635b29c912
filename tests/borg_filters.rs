//! Borg's archive filters on a repository made by the real `borg`: `--prefix`, `--glob-archives`
//! and `--host` (an archive made under another host name, in a UTS namespace of its own), in a
//! listing and in a mount, whose `latest` is the newest archive the filters leave.
// They mount through Linux's FUSE: on other OSes they compile to nothing.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const PASSPHRASE: &str = "filters";
/// The host name of the one archive made elsewhere.
const OTHER_HOST: &str = "genmount-filter-other";

/// A repository with `web-1` (this host), `web-2` (OTHER_HOST) and `db-1` (this host), made in
/// that order; each holds a file `which` naming its archive.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(fixture.path("src")).expect("mkdir src");
        std::fs::create_dir_all(fixture.path("mnt")).expect("mkdir mnt");
        let repo = fixture.path("repo");
        fixture.run(&["borg", "init", "-e", "repokey", &repo.to_string_lossy()]);
        for (name, host) in [("web-1", None), ("web-2", Some(OTHER_HOST)), ("db-1", None)] {
            std::fs::write(fixture.path("src/which"), name).expect("write");
            let archive = format!("{}::{name}", repo.display());
            match host {
                // Borg records the kernel's host name: a UTS namespace gives this one its own.
                Some(host) => fixture.run(&[
                    "unshare",
                    "--uts",
                    "sh",
                    "-c",
                    &format!("hostname {host} && borg create \"$0\" .",),
                    &archive,
                ]),
                None => fixture.run(&["borg", "create", &archive, "."]),
            }
        }
        fixture
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.path("src"))
            .env("BORG_PASSPHRASE", PASSPHRASE)
            .env("BORG_BASE_DIR", self.path("base"))
            .env_remove("BORG_PASSCOMMAND")
            .env_remove("BORG_PASSPHRASE_FD")
            .env_remove("RESTIC_REPOSITORY");
        command
    }

    fn run(&self, argv: &[&str]) {
        let out = self
            .command(argv[0])
            .args(&argv[1..])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `genmount generations --json` with `filters`.
    fn generations(&self, filters: &[&str]) -> Output {
        self.command(BIN)
            .args(["generations", "--json"])
            .args(filters)
            .arg(self.path("repo"))
            .output()
            .expect("genmount runs")
    }

    /// The archive names and hosts `generations` lists with `filters`, oldest first.
    fn listed(&self, filters: &[&str]) -> Vec<(String, String)> {
        let out = self.generations(filters);
        assert!(
            out.status.success(),
            "{filters:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        list.as_array()
            .expect("an array")
            .iter()
            .map(|g| {
                let field = |k: &str| g[k].as_str().unwrap_or_default().to_string();
                (field("name"), field("host"))
            })
            .collect()
    }

    fn mount(&self, filters: &[&str]) -> Mount {
        let mut command = self.command(BIN);
        command
            .arg("mount")
            .arg(self.path("repo"))
            .arg(self.path("mnt"))
            .args(filters);
        Mount::spawn(command, &self.path("mnt"))
    }
}

fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn names(listed: &[(String, String)]) -> Vec<&str> {
    listed.iter().map(|(name, _)| name.as_str()).collect()
}

/// What `latest` of a mount points to, and the archive its `which` file names.
fn latest(mnt: &Path) -> (PathBuf, String) {
    let link = std::fs::read_link(mnt.join("latest")).expect("latest");
    let which = std::fs::read_to_string(mnt.join("latest/which")).expect("latest/which");
    (link, which)
}

#[test]
fn prefix_glob_and_host_select_archives() {
    let fixture = Fixture::new();
    let all = fixture.listed(&[]);
    assert_eq!(names(&all), ["web-1", "web-2", "db-1"]);
    let here = this_host();
    assert_eq!(all[1].1, OTHER_HOST, "borg recorded the namespace's host");
    assert_eq!(all[0].1, here);

    assert_eq!(
        names(&fixture.listed(&["--prefix", "web-"])),
        ["web-1", "web-2"]
    );
    assert_eq!(names(&fixture.listed(&["-P", "db"])), ["db-1"]);
    assert_eq!(
        names(&fixture.listed(&["-P", "nothing"])),
        Vec::<&str>::new()
    );
    assert_eq!(
        names(&fixture.listed(&["--glob-archives", "*-1"])),
        ["web-1", "db-1"]
    );
    assert_eq!(names(&fixture.listed(&["-a", "?eb-[2-9]"])), ["web-2"]);
    assert_eq!(names(&fixture.listed(&["-a", "web"])), Vec::<&str>::new());
    assert_eq!(names(&fixture.listed(&["--host", OTHER_HOST])), ["web-2"]);
    assert_eq!(
        names(&fixture.listed(&["--host", &here])),
        ["web-1", "db-1"]
    );
    assert_eq!(
        names(&fixture.listed(&["--host", OTHER_HOST, "--host", &here])),
        ["web-1", "web-2", "db-1"]
    );
    assert_eq!(
        names(&fixture.listed(&["--host", &here, "-P", "web"])),
        ["web-1"]
    );

    let both = fixture.generations(&["-P", "web", "-a", "web*"]);
    assert_eq!(both.status.code(), Some(2), "borg refuses both at once too");
    let bad = fixture.generations(&["-a", "[z-a]"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--glob-archives"));
    for selector in ["--tag", "--path"] {
        let refused = fixture.generations(&[selector, "x"]);
        assert_eq!(refused.status.code(), Some(2), "{selector}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains(&format!("{selector} selects restic snapshots")),
            "{said}"
        );
    }
}

#[test]
fn a_mount_shows_only_the_archives_kept_and_latest_is_the_newest_of_them() {
    let fixture = Fixture::new();
    let mnt = fixture.path("mnt");
    {
        let _mount = fixture.mount(&["--glob-archives", "*-1"]);
        assert_eq!(generation_names(&mnt), ["db-1", "web-1"]);
        assert_eq!(latest(&mnt), (PathBuf::from("db-1"), "db-1".into()));
        assert_eq!(
            std::fs::read_to_string(mnt.join("web-1/which")).ok(),
            Some("web-1".into())
        );
        assert!(!mnt.join("web-2").exists());
    }
    {
        // web-2 is newer but made elsewhere: latest is web-1.
        let _mount = fixture.mount(&["--host", &this_host(), "--prefix", "web-"]);
        assert_eq!(generation_names(&mnt), ["web-1"]);
        assert_eq!(latest(&mnt), (PathBuf::from("web-1"), "web-1".into()));
    }
}

#[test]
fn name_templates_name_archives_and_group_them() {
    let fixture = Fixture::new();
    let here = this_host();
    let grouped = fixture.listed(&["--name-template", "{host}/{name}"]);
    assert_eq!(
        names(&grouped),
        [
            format!("{here}/web-1"),
            format!("{OTHER_HOST}/web-2"),
            format!("{here}/db-1")
        ]
    );
    for (name, _) in fixture.listed(&["--name-template", "{time}"]) {
        // 2026-12-04_04-14-38, and `_<short id>` where two archives share a second.
        let digits: String = name.chars().take(19).filter(char::is_ascii_digit).collect();
        assert_eq!(digits.len(), 14, "{name}");
        assert_eq!(name.as_bytes().get(10), Some(&b'_'), "{name}");
    }
    for template in ["{tags}", "{label}", "plain"] {
        let refused = fixture.generations(&["--name-template", template]);
        assert_eq!(refused.status.code(), Some(2), "{template}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("name template"));
    }

    let mnt = fixture.path("mnt");
    let _mount = fixture.mount(&["--name-template", "{host}/{name}"]);
    let mut groups = generation_names(&mnt);
    groups.sort();
    let mut expected = vec![here.clone(), OTHER_HOST.to_string()];
    expected.sort();
    assert_eq!(groups, expected);
    assert_eq!(
        std::fs::read_to_string(mnt.join(OTHER_HOST).join("web-2/which")).ok(),
        Some("web-2".into())
    );
    assert_eq!(
        std::fs::read_to_string(mnt.join(&here).join("db-1/which")).ok(),
        Some("db-1".into())
    );
}
