//! Lock files of an `rclone:` repository, written by the `rclone` command on the same remote.
//! rustic_backend keeps the address and the one-time password of the `rclone serve restic` it
//! starts to itself, so the lock cannot go through that server.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use super::{LockStore, MAX_LOCK_SIZE};

/// A listing of locks bigger than this is refused, as over REST.
const MAX_LISTING: u64 = 16 << 20;
/// What is kept of rclone's complaints for an error message.
const MAX_STDERR: u64 = 64 << 10;

pub struct RcloneLocks {
    /// `<remote>/locks`, as rclone names it (`remote:path/locks`, `/srv/repo/locks`).
    locks: String,
}

impl RcloneLocks {
    /// `remote` is the location without its `rclone:` prefix.
    pub fn new(remote: &str) -> RcloneLocks {
        let separator = if remote.is_empty() || remote.ends_with([':', '/']) {
            ""
        } else {
            "/"
        };
        RcloneLocks {
            locks: format!("{remote}{separator}locks"),
        }
    }

    fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.locks)
    }
}

impl LockStore for RcloneLocks {
    fn names(&self) -> std::io::Result<Vec<String>> {
        let out = rclone(&["lsf", "--files-only", &self.locks], None, MAX_LISTING)?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_string)
            .collect())
    }

    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        rclone(&["cat", &self.file(name)], None, MAX_LOCK_SIZE)
    }

    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        rclone(&["rcat", &self.file(name)], Some(data), 0).map(drop)
    }

    fn remove(&self, name: &str) -> std::io::Result<()> {
        rclone(&["deletefile", &self.file(name)], None, 0).map(drop)
    }
}

/// Runs `rclone args`, feeding it `input`; its output (at most `limit` bytes) when it succeeds.
fn rclone(args: &[&str], input: Option<&[u8]>, limit: u64) -> std::io::Result<Vec<u8>> {
    let what = args.first().copied().unwrap_or("rclone");
    let mut child = Command::new("rclone")
        // Quiet, so that its last line of stderr is the error and not a notice.
        .args(["-q", "--ask-password=false"])
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| std::io::Error::other(format!("cannot run rclone: {err}")))?;
    // Read on its own thread, so that rclone never blocks on a full stderr while we read stdout.
    let stderr = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            let mut err = Vec::new();
            let _ = stderr.take(MAX_STDERR).read_to_end(&mut err);
            err
        })
    });
    // A failed write shows as rclone's own failure below, with its reason.
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(data);
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = stdout.take(limit + 1).read_to_end(&mut out);
    }
    if out.len() as u64 > limit {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let err = stderr
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "rclone {what}: the answer is larger than {limit} bytes"
        )));
    }
    if status.success() {
        return Ok(out);
    }
    Err(std::io::Error::other(format!(
        "rclone {what} failed ({status}): {}",
        last_complaint(&String::from_utf8_lossy(&err))
    )))
}

/// rclone's last line of complaint, without the date and time it starts with.
fn last_complaint(text: &str) -> &str {
    let Some(line) = text.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
        return "no message";
    };
    let mut words = line.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some(date), Some(_time), Some(rest))
            if date.len() == 10 && date.get(4..5) == Some("/") =>
        {
            rest
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_of_rclone_is_its_error() {
        let stderr = "2026/12/01 20:23:55 ERROR : Attempt 1/3 failed\n\
                      2026/12/01 20:23:55 Failed to rcat: locks/x is a directory\n";
        assert_eq!(
            last_complaint(stderr),
            "Failed to rcat: locks/x is a directory"
        );
        assert_eq!(last_complaint("plain\n"), "plain");
        assert_eq!(last_complaint(""), "no message");
    }

    #[test]
    fn lock_paths_join_the_remote() {
        assert_eq!(RcloneLocks::new("remote:").locks, "remote:locks");
        assert_eq!(RcloneLocks::new("remote:a/b").locks, "remote:a/b/locks");
        assert_eq!(RcloneLocks::new("/srv/repo/").locks, "/srv/repo/locks");
    }
}
