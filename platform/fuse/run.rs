//! Mounting with fuser: mount options, the unix mountpoint checks, and the life of the session
//! until it is unmounted from outside or a signal asks genmount to unmount and exit.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use fuser::{Config, MountOption, Session, SessionACL};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::adapter;
use crate::error::OpenError;
use crate::session::MountRequest;
use crate::vfs::VfsTree;

/// Mounts `tree` and serves it until it is unmounted or the process is told to stop.
pub fn mount<T: VfsTree>(tree: T, request: &MountRequest) -> Result<(), OpenError> {
    check_not_mounted(&request.mountpoint)?;
    let tree = Arc::new(tree);
    let config = config(request);
    let session = Session::new(
        adapter(tree.clone(), request.passthrough),
        &request.mountpoint,
        &config,
    )
    .map_err(|err| {
        OpenError::Other(format!(
            "cannot mount at {}: {err}",
            request.mountpoint.display()
        ))
    })?;
    tree.set_kernel_cache(Box::new(FuseCache(session.notifier())));
    crate::session::spawn_background(tree.clone(), request.refresh_interval);
    let (stop_rx, handle) = watch_signals(tree.clone())?;
    let background = session
        .spawn()
        .map_err(|err| OpenError::Other(format!("cannot serve the mount: {err}")))?;
    raise_read_ahead(&request.mountpoint);
    tracing::info!(mountpoint = %request.mountpoint.display(), "mounted");
    if let Some(ready) = &request.ready {
        let _ = ready.send(());
    }
    let result = serve_until_stopped(background, &stop_rx, &request.mountpoint);
    handle.close();
    tree.shutdown();
    result.map_err(|err| {
        OpenError::Other(format!(
            "mount at {} ended with an error: {err}",
            request.mountpoint.display()
        ))
    })
}

/// The kernel's caches, through fuser's notifier.
struct FuseCache(fuser::Notifier);

impl crate::vfs::KernelCache for FuseCache {
    fn entry(&self, parent: u64, name: &[u8]) {
        if let Err(err) = self
            .0
            .inval_entry(fuser::INodeNo(parent), OsStr::from_bytes(name))
        {
            tracing::debug!(parent, "entry invalidation failed: {err}");
        }
    }

    fn inode(&self, ino: u64) {
        if let Err(err) = self.0.inval_inode(fuser::INodeNo(ino), 0, 0) {
            tracing::debug!(ino, "inode invalidation failed: {err}");
        }
    }

    fn store(&self, ino: u64, data: &[u8]) -> bool {
        // fuser counts ENOENT (the kernel no longer holds the inode) as sent: the reader then
        // reads the file through the mount as if nothing had been pushed.
        match self.0.store(fuser::INodeNo(ino), 0, data) {
            Ok(()) => true,
            Err(err) => {
                tracing::debug!(ino, "pushing a file into the page cache failed: {err}");
                false
            }
        }
    }
}

/// SIGHUP re-reads the repository; SIGINT and SIGTERM are passed on to stop the mount.
fn watch_signals<T: VfsTree>(
    tree: Arc<T>,
) -> Result<(mpsc::Receiver<i32>, signal_hook::iterator::Handle), OpenError> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|err| OpenError::Other(format!("cannot handle signals: {err}")))?;
    let handle = signals.handle();
    let (stop_tx, stop_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGHUP {
                if let Err(err) = tree.refresh() {
                    tracing::warn!("refresh on SIGHUP failed: {err}");
                }
            } else if stop_tx.send(signal).is_err() {
                break;
            }
        }
    });
    Ok((stop_rx, handle))
}

/// Waits until the mount is unmounted from outside, or a signal asks to unmount it.
fn serve_until_stopped(
    background: fuser::BackgroundSession,
    stop: &mpsc::Receiver<i32>,
    mountpoint: &Path,
) -> std::io::Result<()> {
    loop {
        if background.guard.is_finished() {
            return background.join();
        }
        if let Ok(signal) = stop.recv_timeout(Duration::from_millis(200)) {
            tracing::info!(signal, "unmounting");
            // fusermount3's auto_unmount helper leaves a live filesystem mounted when its socket
            // closes, so fuser's own unmount is not enough: unmount first, then let the workers end.
            if let Err(err) = unmount(mountpoint) {
                tracing::warn!("unmount failed: {err}");
                return background.umount_and_join();
            }
            return background.join();
        }
    }
}

/// Unmounts a FUSE mount: directly as root, else through fusermount; lazily if it is busy, so that
/// the daemon can exit and programs still inside see the mount go away when they leave.
pub fn unmount(path: &Path) -> std::io::Result<()> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: c_path is a valid NUL-terminated string that outlives the calls.
    let direct = |flags: i32| unsafe { platform_umount(c_path.as_ptr(), flags) };
    if direct(0) == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EBUSY) && direct(LAZY) == 0 {
        return Ok(());
    }
    fusermount_unmount(path).map_err(|_| err)
}

#[cfg(target_os = "linux")]
const LAZY: i32 = libc::MNT_DETACH;
#[cfg(not(target_os = "linux"))]
const LAZY: i32 = libc::MNT_FORCE;

#[cfg(target_os = "linux")]
unsafe fn platform_umount(path: *const libc::c_char, flags: i32) -> i32 {
    // SAFETY: the caller passes a valid C string.
    unsafe { libc::umount2(path, flags) }
}

#[cfg(not(target_os = "linux"))]
unsafe fn platform_umount(path: *const libc::c_char, flags: i32) -> i32 {
    // SAFETY: the caller passes a valid C string.
    unsafe { libc::unmount(path, flags) }
}

/// Unprivileged unmount through the setuid helper (`-z`: lazily).
fn fusermount_unmount(path: &Path) -> std::io::Result<()> {
    for helper in ["fusermount3", "fusermount"] {
        let status = std::process::Command::new(helper)
            .args(["-u", "-z", "-q", "--"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Ok(());
        }
    }
    Err(std::io::Error::other("fusermount could not unmount"))
}

/// Every read allocates and frees blob-sized buffers (about 1 MiB) on several threads, and glibc
/// gives each thread an arena that keeps what was freed in it: two arenas bound that. (A fixed mmap
/// threshold bounded it too, but halved random-read speed: every blob buffer then cost page faults.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; it is called first thing in main, before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}

/// Raises the soft limit of open descriptors to the hard one, as Go programs (restic) do: the
/// snapshot-folder backend keeps files open while they are read, and 1024 is a common soft limit.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// macFUSE's options: a volume name for Finder, and no AppleDouble `._` files or Apple xattrs
/// that Finder would try to write (rclone's defaults).
fn macos_options(volname: &str) -> Vec<String> {
    vec![
        format!("volname={}", volname.replace(',', "_")),
        "noappledouble".into(),
        "noapplexattr".into(),
    ]
}

fn config(request: &MountRequest) -> Config {
    let mut options = vec![
        MountOption::RO,
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::FSName(request.fsname.clone()),
        MountOption::Subtype("genmount".into()),
    ];
    let os_options = if cfg!(target_os = "macos") {
        macos_options(&request.volname)
    } else {
        Vec::new()
    };
    let custom = os_options
        .into_iter()
        .chain(request.options.iter().cloned());
    options.extend(custom.map(MountOption::CUSTOM));
    let mut config = Config::default();
    config.acl = if request.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    if can_auto_unmount(request.allow_other) {
        options.push(MountOption::AutoUnmount);
        if config.acl == SessionACL::Owner {
            config.acl = SessionACL::RootAndOwner;
        }
    }
    config.mount_options = options;
    if cfg!(target_os = "linux") {
        config.n_threads = Some(request.threads.max(1));
        config.clone_fd = request.threads > 1;
    }
    config
}

/// The kernel reads ahead of a FUSE file 128 KiB at a time unless told otherwise, so a big file
/// came as 128 KiB requests with little in flight. A window of 1 MiB, the largest request fuser
/// asks for, read big files about 30% faster here. Only root may set it (as JuiceFS does); for
/// other users the kernel's default stays, and nothing else changes.
#[cfg(target_os = "linux")]
fn raise_read_ahead(mountpoint: &Path) {
    const READ_AHEAD_KB: u32 = 1024;
    let Ok(meta) = std::fs::metadata(mountpoint) else {
        return;
    };
    let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
    let knob = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    match std::fs::write(&knob, format!("{READ_AHEAD_KB}\n")) {
        Ok(()) => tracing::debug!(knob, "read-ahead raised to {READ_AHEAD_KB} KiB"),
        Err(err) => tracing::debug!(knob, "read-ahead left at the kernel's default: {err}"),
    }
}

#[cfg(not(target_os = "linux"))]
fn raise_read_ahead(_mountpoint: &Path) {}

/// `auto_unmount` needs `allow_other` or `allow_root`, which only root, or any user where
/// /etc/fuse.conf says `user_allow_other`, may ask for.
fn can_auto_unmount(allow_other: bool) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    root || allow_other || fuse_conf_allows_other()
}

fn fuse_conf_allows_other() -> bool {
    std::fs::read_to_string("/etc/fuse.conf")
        .map(|text| text.lines().any(|line| line.trim() == "user_allow_other"))
        .unwrap_or(false)
}

/// A directory on another device than its parent is already a mountpoint.
fn check_not_mounted(path: &Path) -> Result<(), OpenError> {
    let own = std::fs::metadata(path);
    let parent = std::fs::metadata(path.join(".."));
    match (own, parent) {
        (Ok(own), Ok(parent)) if own.dev() != parent.dev() => Err(OpenError::Mountpoint(format!(
            "mountpoint {} is already a mountpoint (something is mounted there)",
            path.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn macos_gets_a_volume_name_and_no_appledouble() {
        assert_eq!(
            super::macos_options("genmount backup,1"),
            ["volname=genmount backup_1", "noappledouble", "noapplexattr"]
        );
    }
}
