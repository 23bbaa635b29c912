//! The WebDAV tests' fixture: a running `genmount serve` on a free loopback port, curl with its
//! status, and a restic repository of two snapshots (the edge-case tree, then a plain tree).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A running `genmount serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    pub url: String,
}

impl Served {
    /// Serves with `args` on a free loopback port and waits until it answers.
    pub fn start(args: &[&OsStr]) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .arg(&addr)
            .stdin(Stdio::null())
            .spawn()
            .expect("genmount runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "genmount serve never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Served {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Served {
    /// Stops the server as Ctrl-C would, so that it releases its lock; returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        // SAFETY: kill has no memory preconditions; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Runs curl on `url` with `args`; returns the HTTP status and the body.
pub fn curl(url: &str, args: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--path-as-is", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs (apt-get install curl)");
    let text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n').expect("status line");
    let status = std::str::from_utf8(&text[split + 1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, text[..split].to_vec())
}

/// A restic repository of two snapshots: the edge-case tree, then a plain tree (the latest).
pub struct Repo {
    pub restic: ResticDir,
}

impl Repo {
    pub fn new() -> Result<Repo, Box<dyn std::error::Error>> {
        let repo = Repo {
            restic: ResticDir::init("webdav")?,
        };
        for (dir, edge) in [("edge", true), ("plain", false)] {
            let src = repo.restic.dir.path().join(dir);
            std::fs::create_dir(&src)?;
            if edge {
                build_edge_tree(&src, 1);
                add_big_files(&src);
            } else {
                plain_tree(&src);
            }
            std::thread::sleep(Duration::from_millis(1100));
            restic(
                &repo.restic.repo(),
                &repo.restic.password(),
                &src,
                &["backup", "."],
            );
        }
        Ok(repo)
    }
    pub fn src(&self, which: &str) -> PathBuf {
        self.restic.dir.path().join(which)
    }
    /// `serve` arguments for this repository, then `extra`.
    pub fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a OsStr> {
        let mut args = vec![
            self.restic.repo().into_os_string(),
            "--password-file".into(),
            self.restic.password().into_os_string(),
            "--cache-dir".into(),
            self.restic.cache().into_os_string(),
        ];
        args.extend(extra.iter().map(|s| s.into()));
        args.into_iter()
            .map(|s| &*Box::leak(s.into_boxed_os_str()))
            .collect()
    }
}

/// Names any client can write on any OS, times before 1970 too: what rclone copies as it is.
fn plain_tree(root: &Path) {
    std::fs::create_dir_all(root.join("docs/deep/er")).expect("mkdir");
    for (i, size) in [0usize, 1, 4096, 300_001, 2_500_000]
        .into_iter()
        .enumerate()
    {
        std::fs::write(
            root.join(format!("docs/file-{i}")),
            pseudo_random(size, i as u64),
        )
        .expect("write");
    }
    std::fs::write(root.join("docs/deep/er/leaf.txt"), b"leaf\n").expect("write");
    std::fs::write(root.join("old.txt"), b"from 1969\n").expect("write");
    set_times(&root.join("old.txt"), (-86_400, 0), (-86_400, 0));
    set_times(
        &root.join("docs/file-1"),
        (1_234_567_890, 0),
        (1_234_567_890, 0),
    );
}

/// The regular files below `root`, by relative path.
pub fn regular_files(root: &Path) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|rel| {
            std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.file_type().is_file())
        })
        .collect()
}
