//! A genmount daemon under test: mounted through the real kernel FUSE, stopped by signal, its
//! exit codes, its log and what `/proc` says of it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::BIN;

/// Fails loudly when the machine cannot run FUSE tests: they must never pass by skipping.
pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: these tests need FUSE"
    );
}

/// Whether `path` is a mountpoint right now, according to the kernel.
pub fn is_mounted(path: &Path) -> bool {
    let wanted = path.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mounts")
        .map(|text| {
            text.lines()
                .any(|line| line.split(' ').nth(1) == Some(wanted.as_str()))
        })
        .unwrap_or(false)
}

/// A running `genmount mount`; unmounts (SIGTERM) when dropped.
pub struct Mount {
    pub child: Option<Child>,
    pub mountpoint: PathBuf,
}

impl Mount {
    /// Starts genmount with `args` and waits until the mount is live.
    pub fn start(args: &[&OsStr], mountpoint: &Path) -> Mount {
        let mut command = Command::new(BIN);
        command.arg("mount").args(args);
        Mount::spawn(command, mountpoint)
    }

    /// Runs `command` (genmount, or a wrapper that runs it) and waits until the mount is live.
    pub fn spawn(mut command: Command, mountpoint: &Path) -> Mount {
        require_fuse();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("genmount starts");
        let mut mount = Mount {
            child: Some(child),
            mountpoint: mountpoint.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !is_mounted(mountpoint) {
            if let Some(child) = mount.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let err = read_stderr(child);
                panic!("genmount exited ({status}) before mounting: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "genmount did not mount within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        mount
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Unmounts with SIGTERM and returns what the daemon logged.
    pub fn stop_for_log(&mut self) -> String {
        let mut child = self.child.take().expect("the daemon is still owned");
        // SAFETY: kill with a valid pid and signal number has no memory effects.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let log = read_stderr(&mut child);
        let _ = child.wait();
        log
    }

    /// Sends `signal` and waits for the daemon to exit; returns its status.
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon is still owned");
        // SAFETY: kill with a valid pid and signal number has no memory effects.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "genmount did not exit within 20 s of signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop_with(libc::SIGTERM);
        }
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

fn read_stderr(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

/// The errno of a failed call, if it failed.
pub fn errno_of<T>(result: std::io::Result<T>) -> Option<i32> {
    result.err().and_then(|e| e.raw_os_error())
}

/// The processes that are running now, by pid.
pub fn pids() -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// A `kB` line of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in KiB; 0 when there is none.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs genmount to completion (for commands that fail or print); returns status, stdout, stderr.
pub fn run(args: &[&OsStr]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("genmount runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The generations a mount's root shows, sorted: its entries without `latest` and `.pid`.
pub fn generation_names(mnt: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(mnt)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "latest" && n != ".pid")
        .collect();
    names.sort();
    names
}

/// Runs `f` on a fresh read-only shared mapping of the whole of `path` (its address and length),
/// then unmaps it: a file as a program that maps it sees it, read only where `f` touches it.
pub fn with_mapping<T>(
    path: &Path,
    f: impl FnOnce(*mut libc::c_void, usize) -> T,
) -> std::io::Result<T> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    // SAFETY: a fresh read-only shared mapping of an open file, unmapped below.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if at == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let out = f(at, len);
    // SAFETY: unmaps exactly the mapping made above, which `f` no longer holds.
    unsafe { libc::munmap(at, len) };
    Ok(out)
}

/// How many pages of `path` are in the page cache, and how many it has: asked with `mincore` on a
/// mapping that is never touched, so asking reads nothing.
pub fn resident_pages(path: &Path) -> (usize, usize) {
    let pages = with_mapping(path, |at, len| {
        let mut pages = vec![0u8; len.div_ceil(4096)];
        // SAFETY: `pages` has one byte for each page of the mapping at `at`.
        let rc = unsafe { libc::mincore(at, len, pages.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore {}", path.display());
        pages
    });
    let pages = pages.unwrap_or_else(|e| panic!("map {}: {e}", path.display()));
    (
        pages.iter().filter(|page| *page & 1 == 1).count(),
        pages.len(),
    )
}

/// Whether every page of `path` is in the page cache.
pub fn fully_resident(path: &Path) -> bool {
    let (resident, all) = resident_pages(path);
    resident == all
}
