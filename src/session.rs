//! What a mount is asked to be (mountpoint, options, access), the check of a directory mountpoint,
//! and the background work of a live mount. OS decisions live in `platform/` and `src/win/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::OpenError;
use crate::vfs::VfsTree;

/// Everything an adapter needs to mount a tree.
#[derive(Debug, Clone, Default)]
pub struct MountRequest {
    pub mountpoint: PathBuf,
    /// Shown as the filesystem's source (`genmount:<repo>`).
    pub fsname: String,
    /// Let users other than the one who mounted see the mount.
    pub allow_other: bool,
    /// Mount over a directory that has entries.
    pub allow_non_empty: bool,
    /// Options passed through to the OS (`-o OPT`).
    pub options: Vec<String>,
    /// The volume's name where the OS shows one (macOS Finder, Windows Explorer).
    pub volname: String,
    /// Mark names starting with `.` hidden where the OS has such a flag (Windows).
    pub hide_dot_files: bool,
    /// Worker threads serving the kernel.
    pub threads: usize,
    /// Let the kernel read host files itself where it can (FUSE passthrough on Linux).
    pub passthrough: bool,
    /// Re-read the repository this often, besides when `.pid` is closed.
    pub refresh_interval: Option<Duration>,
    /// Told once the mount is live (for `--daemon`).
    pub ready: Option<std::sync::mpsc::Sender<()>>,
}

/// Measures what the tree shows, then (with an interval) re-reads its repository every `interval`
/// and measures the new generations, for the rest of the process's life.
pub fn spawn_background<T: VfsTree>(tree: Arc<T>, interval: Option<Duration>) {
    let measured = tree.clone();
    // The first measurement walks every generation: it waits for a first `statfs` (df, a file
    // manager), so that a mount nobody measures never competes with its first reads.
    std::thread::spawn(move || {
        measured.wait_for_statfs();
        yield_to_requests();
        measured.measure();
    });
    let Some(interval) = interval else { return };
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(interval);
            if let Err(err) = tree.refresh() {
                tracing::warn!("periodic refresh failed: {err}");
            }
            tree.measure();
        }
    });
}

/// Lowers the calling thread's priority: measuring is background work, and on 2 cores it took a
/// quarter of the CPU of a `find` it ran beside (it reads every tree the walk reads).
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority touch no memory; on Linux a nice value is a thread's own, so
    // this changes only the measuring thread (elsewhere it would be the process's: not done there).
    unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, 19);
    }
}

/// Checks that a directory can be mounted on: it exists, is a directory, and is empty (unless
/// allowed). `unmount_hint` is the command that unmounts a dead mount on this OS.
pub fn check_directory(
    path: &Path,
    allow_non_empty: bool,
    unmount_hint: &str,
) -> Result<(), OpenError> {
    let shown = path.display();
    let md = std::fs::metadata(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => OpenError::Mountpoint(format!("mountpoint {shown} does not exist")),
        std::io::ErrorKind::NotConnected => OpenError::Mountpoint(format!(
            "mountpoint {shown} is a dead mount (transport endpoint is not connected): unmount it first ({unmount_hint} {shown})"
        )),
        _ => OpenError::Mountpoint(format!("mountpoint {shown} cannot be used: {err}")),
    })?;
    if !md.is_dir() {
        return Err(OpenError::Mountpoint(format!(
            "mountpoint {shown} is not a directory"
        )));
    }
    if !allow_non_empty {
        let mut entries = std::fs::read_dir(path).map_err(|err| {
            OpenError::Mountpoint(format!("mountpoint {shown} cannot be read: {err}"))
        })?;
        if entries.next().is_some() {
            return Err(OpenError::Mountpoint(format!(
                "mountpoint {shown} is not empty (use --allow-non-empty to mount over it)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountpoint_problems_are_mountpoint_errors() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("file");
        std::fs::write(&file, b"x")?;
        let missing = dir.path().join("missing");
        for (path, allow) in [
            (&file, false),
            (&missing, false),
            (&dir.path().to_path_buf(), false),
        ] {
            assert!(
                matches!(
                    check_directory(path, allow, "umount"),
                    Err(OpenError::Mountpoint(_))
                ),
                "{}",
                path.display()
            );
        }
        assert!(check_directory(dir.path(), true, "umount").is_ok());
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty)?;
        assert!(check_directory(&empty, false, "umount").is_ok());
        Ok(())
    }
}
