//! The borg repositories the borg tests mount: made by the real `borg` (Debian's 1.2 from PATH, or
//! another version's binary: `Fixture::init_with`) from a source tree whose states are captured at
//! each backup, with the fixture's passphrase and a borg base directory of its own.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

pub const PASSPHRASE: &str = "correct horse";

/// What borg keeps: no directory sizes and no block counts (sparse files read back as zeros).
/// Atimes are stored with `--atime` and compared.
pub const BORG: Rules = Rules {
    dir_sizes: false,
    blocks: false,
    atimes: true,
    dir_links: true,
};

/// A borg repository of `src/`, with what `src/` held at each backup.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub compression: &'static str,
    pub captured: Vec<BTreeMap<PathBuf, Captured>>,
    /// The borg that makes the repository: `borg` from PATH unless `init_with` named another.
    pub borg_bin: PathBuf,
    /// What `borg --version` printed, e.g. `borg 1.2.4`.
    pub borg_version: String,
}

impl Fixture {
    /// An initialised repository in `mode` and an empty `src/`, made by `borg` from PATH.
    pub fn init(mode: &str, compression: &'static str) -> Fixture {
        Fixture::init_with(Path::new("borg"), mode, compression)
    }

    /// An initialised repository in `mode` and an empty `src/`, made by the borg at `borg_bin`.
    pub fn init_with(borg_bin: &Path, mode: &str, compression: &'static str) -> Fixture {
        let mut fixture = Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
            compression,
            captured: Vec::new(),
            borg_bin: PathBuf::new(),
            borg_version: String::new(),
        };
        fixture.use_borg(borg_bin);
        std::fs::create_dir_all(fixture.src()).expect("mkdir src");
        std::fs::create_dir_all(fixture.mnt()).expect("mkdir mnt");
        let repo = fixture.repo();
        fixture.borg(&["init", "-e", mode, path_str(&repo)]);
        fixture
    }
    /// Makes borg write segments of 4 KiB from now on: a chunk of the next backup fills a segment
    /// of its own, which a test can then damage or delete alone.
    pub fn use_small_segments(&self) -> std::io::Result<()> {
        let config = std::fs::read_to_string(self.repo().join("config"))?;
        let small = config.replace("max_segment_size = 524288000", "max_segment_size = 4096");
        assert_ne!(
            config, small,
            "borg's default segment size is in the config"
        );
        std::fs::write(self.repo().join("config"), small)
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    pub fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
    pub fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
    /// Borg's keys, cache and security files stay inside the fixture.
    pub fn base(&self) -> PathBuf {
        self.dir.path().join("base")
    }

    /// Makes every later borg command of the fixture run the borg at `borg_bin`.
    pub fn use_borg(&mut self, borg_bin: &Path) {
        let version = Command::new(borg_bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("{} --version: {e}", borg_bin.display()));
        self.borg_bin = borg_bin.to_path_buf();
        self.borg_version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    }

    /// Whether the fixture's borg is a 1.1.x, which stores atimes unasked and has no `--atime`.
    pub fn is_borg_1_1(&self) -> bool {
        self.borg_version.starts_with("borg 1.1.")
    }

    /// Runs the real borg in `src/`, with the fixture's passphrase and base directory.
    pub fn borg(&self, args: &[&str]) -> String {
        let out = Command::new(&self.borg_bin)
            .args(args)
            .current_dir(self.src())
            .env("BORG_PASSPHRASE", PASSPHRASE)
            .env("BORG_BASE_DIR", self.base())
            .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
            .output()
            .expect("borg runs");
        assert!(
            out.status.success(),
            "borg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Captures `src/` and backs it up as archive `name`. Symlinks are read once before: reading
    /// one moves its atime once (relatime), and borg reads them after recording that atime.
    pub fn backup(&mut self, name: &str) {
        for rel in walk(&self.src()) {
            let _ = std::fs::read_link(self.src().join(rel));
        }
        self.captured.push(capture(&self.src()));
        let archive = format!("{}::{name}", self.repo().display());
        let atime: &[&str] = if self.is_borg_1_1() {
            &[]
        } else {
            &["--atime"]
        };
        let mut args = vec!["create"];
        args.extend(atime);
        args.extend(["-C", self.compression, &archive, "."]);
        self.borg(&args);
    }

    /// `genmount mount` of the repository with the fixture's passphrase, then `extra`.
    pub fn mount(&self, extra: &[&str]) -> Mount {
        let mut command = self.genmount(Some(PASSPHRASE));
        command
            .arg("mount")
            .arg(self.repo())
            .arg(self.mnt())
            .args(extra);
        Mount::spawn(command, &self.mnt())
    }

    /// genmount's exit code and stderr for `args` with `passphrase` and no terminal; what it says
    /// must not show the fixture's passphrase.
    pub fn exit_of(&self, passphrase: Option<&str>, args: &[&OsStr]) -> (Option<i32>, String) {
        let out = self
            .genmount(passphrase)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("genmount runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains(PASSPHRASE), "the passphrase is not shown");
        (out.status.code(), stderr)
    }

    /// `genmount generations --json` of the repository: each archive's name, file count and size
    /// (each listed with this machine's host name).
    pub fn generations_json(&self) -> Vec<(String, Option<u64>, Option<u64>)> {
        let out = self
            .genmount(Some(PASSPHRASE))
            .arg("generations")
            .arg("--json")
            .arg(self.repo())
            .output()
            .expect("genmount runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        list.as_array()
            .expect("an array")
            .iter()
            .map(|g| {
                assert_eq!(g["host"], host.as_str(), "{g}");
                let name = g["name"].as_str().expect("a name").to_owned();
                (name, g["files"].as_u64(), g["size"].as_u64())
            })
            .collect()
    }

    /// genmount with the fixture's borg environment and `passphrase` (none: no BORG_PASSPHRASE).
    pub fn genmount(&self, passphrase: Option<&str>) -> Command {
        let mut command = Command::new(BIN);
        command
            .env("BORG_BASE_DIR", self.base())
            .env_remove("BORG_PASSCOMMAND")
            .env_remove("BORG_PASSPHRASE_FD")
            .env_remove("RESTIC_REPOSITORY")
            .env_remove("BORG_RSH")
            .env_remove("BORG_REMOTE_PATH")
            .env("RUST_LOG", "info");
        match passphrase {
            Some(passphrase) => command.env("BORG_PASSPHRASE", passphrase),
            None => command.env_remove("BORG_PASSPHRASE"),
        };
        command
    }
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test path")
}

/// The edge-case tree without what borg 1.2 itself does not keep: sockets, and times before 1970,
/// which it stores as 0 (its `safe_ns`). Those times move to just after 1970, keeping nanoseconds.
pub fn without_what_borg_drops(src: &Path) {
    std::fs::remove_file(src.join("socket")).expect("remove socket");
    set_times(
        &src.join("one"),
        (315_619_200, 123_456_789),
        (1, 999_999_999),
    );
    set_times(&src.join("dir/nested"), (86_400, 1), (172_800, 987_654_321));
}

/// POSIX ACLs, which borg stores as text and genmount serves as the kernel's binary xattrs:
/// named user and group entries on a file, a default ACL on a directory.
pub fn add_acls(src: &Path) {
    let setfacl = |args: &[&str]| {
        let status = Command::new("setfacl")
            .args(args)
            .current_dir(src)
            .status()
            .expect("setfacl runs (package acl)");
        assert!(status.success(), "setfacl {args:?}");
    };
    setfacl(&["-m", "u:1234:r--,g:55:rw-", "private"]);
    setfacl(&["-d", "-m", "u:1234:rwx", "setgid-dir"]);
}

/// Two archives of the edge-case tree that differ, and a third renamed to a checkpoint's name.
pub fn two_archives_and_a_checkpoint(mode: &str, compression: &'static str) -> Fixture {
    two_archives_and_a_checkpoint_with(Path::new("borg"), mode, compression)
}

/// `two_archives_and_a_checkpoint` made by the borg at `borg_bin`.
pub fn two_archives_and_a_checkpoint_with(
    borg_bin: &Path,
    mode: &str,
    compression: &'static str,
) -> Fixture {
    two_archives_and_a_checkpoint_by(borg_bin, borg_bin, mode, compression)
}

/// `two_archives_and_a_checkpoint` begun (init and the first archive) by the borg at `first` and
/// continued (the second archive and the checkpoint) by the one at `then`: an upgraded borg.
pub fn two_archives_and_a_checkpoint_by(
    first: &Path,
    then: &Path,
    mode: &str,
    compression: &'static str,
) -> Fixture {
    let mut fixture = Fixture::init_with(first, mode, compression);
    build_edge_tree(&fixture.src(), 0);
    without_what_borg_drops(&fixture.src());
    add_acls(&fixture.src());
    add_big_files(&fixture.src());
    add_bulk(&fixture.src(), 10, 300);
    fixture.backup("first");
    if then != first {
        fixture.use_borg(then);
    }
    std::fs::write(fixture.src().join("variant"), [1]).expect("write");
    std::fs::write(fixture.src().join("added-later"), b"new in the second\n").expect("write");
    std::fs::remove_file(fixture.src().join("size-4095")).expect("remove");
    fixture.backup("second");
    fixture.borg(&[
        "create",
        &format!("{}::third", fixture.repo().display()),
        ".",
    ]);
    let repo = fixture.repo();
    fixture.borg(&[
        "rename",
        &format!("{}::third", repo.display()),
        "third.checkpoint",
    ]);
    fixture
}

/// Mounts `fixture` and compares both archives with their sources; the checkpoint is hidden and
/// the repository is unchanged afterwards.
pub fn check_both_archives(fixture: &Fixture) {
    let before = repository_files(&fixture.repo());
    {
        let _mount = fixture.mount(&[]);
        assert_eq!(generation_names(&fixture.mnt()), ["first", "second"]);
        let mut total = 0;
        for (name, captured) in ["first", "second"].iter().zip(&fixture.captured) {
            total += compare(captured, &fixture.mnt().join(name), BORG);
        }
        assert!(total > 600, "only {total} entries compared");
        assert_eq!(
            std::fs::read_link(fixture.mnt().join("latest")).expect("latest"),
            Path::new("second")
        );
    }
    assert!(
        before == repository_files(&fixture.repo()),
        "the repository changed"
    );
}

/// Every file of the repository with its bytes.
pub fn repository_files(repo: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(repo)
        .into_iter()
        .filter(|rel| repo.join(rel).is_file())
        .map(|rel| {
            let bytes = std::fs::read(repo.join(&rel)).expect("read repository file");
            (rel, bytes)
        })
        .collect()
}

/// The segment files of a repository.
pub fn segments(repo: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = walk(&repo.join("data"))
        .into_iter()
        .map(|rel| repo.join("data").join(rel))
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| {
        p.file_name()
            .and_then(OsStr::to_str)
            .and_then(|n| n.parse::<u64>().ok())
    });
    found
}

/// What the real borg answers to `args` on the fixture's repository: its exit code and stderr.
pub fn borg_status(fixture: &Fixture, args: &[&str]) -> (i32, String) {
    let out = Command::new(&fixture.borg_bin)
        .args(args)
        .arg(fixture.repo())
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_BASE_DIR", fixture.base())
        .output()
        .expect("borg runs");
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}
