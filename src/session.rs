//! What a mount is asked to be (mountpoint, options, access), and the checks of the mountpoint that
//! hold on every OS. Platform adapters take a `MountRequest` and add their own checks.

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
    /// Re-read the repository this often, besides when `.pid` is closed.
    pub refresh_interval: Option<Duration>,
    /// Told once the mount is live (for `--daemon`).
    pub ready: Option<std::sync::mpsc::Sender<()>>,
}

/// Mount options an OS needs beyond the common ones. On macOS: a volume name for Finder, and no
/// AppleDouble `._` files or Apple xattrs that Finder would try to write (rclone's defaults).
pub fn os_mount_options(os: &str, volname: &str) -> Vec<String> {
    match os {
        "macos" => vec![
            format!("volname={}", volname.replace(',', "_")),
            "noappledouble".into(),
            "noapplexattr".into(),
        ],
        _ => Vec::new(),
    }
}

/// Measures what the tree shows, then (with an interval) re-reads its repository every `interval`
/// and measures the new generations, for the rest of the process's life.
pub fn spawn_background<T: VfsTree>(tree: Arc<T>, interval: Option<Duration>) {
    let measured = tree.clone();
    // The first measurement walks every generation: it waits for a first `statfs` (df, a file
    // manager), so that a mount nobody measures never competes with its first reads.
    std::thread::spawn(move || {
        measured.wait_for_statfs();
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

/// Checks that the mountpoint can be used on `os`. On Windows: a drive (`X:`, `*`) or a folder that
/// does not exist yet, which WinFsp creates. Elsewhere: an existing, empty (unless allowed) directory.
pub fn check_mountpoint(path: &Path, allow_non_empty: bool, os: &str) -> Result<(), OpenError> {
    let shown = path.display();
    if os == "windows" {
        let spec = path.to_string_lossy();
        if crate::win::mountpoint::is_drive_spec(&spec) || !path.exists() {
            return Ok(());
        }
        return Err(OpenError::Mountpoint(format!(
            "mountpoint {shown} exists: WinFsp mounts on a drive letter (X: or *) or creates a new folder"
        )));
    }
    let md = std::fs::metadata(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => OpenError::Mountpoint(format!("mountpoint {shown} does not exist")),
        std::io::ErrorKind::NotConnected => OpenError::Mountpoint(format!(
            "mountpoint {shown} is a dead mount (transport endpoint is not connected): unmount it first (fusermount3 -u {shown})"
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
    fn macos_gets_a_volume_name_and_no_appledouble() {
        let options = os_mount_options("macos", "genmount backup,1");
        assert_eq!(
            options,
            ["volname=genmount backup_1", "noappledouble", "noapplexattr"]
        );
        assert!(os_mount_options("linux", "x").is_empty());
    }

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
                    check_mountpoint(path, allow, "linux"),
                    Err(OpenError::Mountpoint(_))
                ),
                "{}",
                path.display()
            );
        }
        assert!(check_mountpoint(dir.path(), true, "linux").is_ok());
        assert!(check_mountpoint(Path::new("X:"), false, "windows").is_ok());
        assert!(check_mountpoint(&missing, false, "windows").is_ok());
        assert!(check_mountpoint(dir.path(), true, "windows").is_err());
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty)?;
        assert!(check_mountpoint(&empty, false, "linux").is_ok());
        Ok(())
    }
}
