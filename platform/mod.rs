//! Thin per-OS adapters that translate kernel calls into `VfsTree` operations, and the tables that
//! turn genmount's errors into each OS's codes. Only the adapter of the OS being built is compiled.

pub mod errno;
pub mod ntstatus;
/// WebDAV and web pages: the same on every OS, no driver needed.
pub mod webdav;

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        mod fuse;
        pub use fuse::{Daemon, daemonize, mount, unmount};

        /// Process-wide settings made before any thread starts.
        pub fn prepare_process() {
            fuse::tune_allocator();
            fuse::raise_open_file_limit();
        }

        /// Checks that `path` can be mounted on: an existing, empty (unless allowed) directory.
        pub fn check_mountpoint(
            path: &std::path::Path,
            allow_non_empty: bool,
        ) -> Result<(), crate::error::OpenError> {
            let unmount = if cfg!(target_os = "linux") { "fusermount3 -u" } else { "umount" };
            crate::session::check_directory(path, allow_non_empty, unmount)
        }

        /// The user and group the daemon runs as: the owner of genmount's own entries.
        pub fn owner() -> (u32, u32) {
            // SAFETY: geteuid and getegid have no preconditions and cannot fail.
            unsafe { (libc::geteuid(), libc::getegid()) }
        }
    } else if #[cfg(windows)] {
        cfg_if::cfg_if! {
            if #[cfg(target_env = "msvc")] {
                mod winfsp;
                pub use winfsp::mount;
            } else {
                /// winfsp-sys builds only for MSVC: a `windows-gnu` build (CI runs its tests under
                /// wine) lists generations but cannot mount.
                pub fn mount<T: crate::vfs::VfsTree>(
                    _tree: T,
                    _request: &crate::session::MountRequest,
                ) -> Result<(), crate::error::OpenError> {
                    Err(crate::error::OpenError::Other(
                        "this build of genmount has no WinFsp adapter (it needs an MSVC build)".into(),
                    ))
                }
            }
        }

        /// Windows has no fork: run genmount as a service (or with `start /b`) instead.
        pub struct Daemon;

        impl Daemon {
            pub fn ready(&mut self) {}
            pub fn failed(&mut self, _code: i32) {}
        }

        pub fn daemonize() -> Result<Daemon, crate::error::OpenError> {
            Err(crate::error::OpenError::Usage(
                "--daemon is not available on Windows (no fork): run `start /b genmount mount …` instead"
                    .into(),
            ))
        }

        /// Process-wide settings made before any thread starts.
        pub fn prepare_process() {}

        /// A WinFsp volume goes away with its process: there is nothing to unmount from outside.
        pub fn unmount(_path: &std::path::Path) -> std::io::Result<()> {
            Err(std::io::Error::other("on Windows, stop the genmount process (Ctrl-C) to unmount"))
        }

        /// Checks that WinFsp can mount on `path` (a drive letter or a new folder).
        pub fn check_mountpoint(
            path: &std::path::Path,
            _allow_non_empty: bool,
        ) -> Result<(), crate::error::OpenError> {
            crate::win::mountpoint::check(path)
        }

        /// Windows has no uid/gid; the security descriptor decides who may read.
        pub fn owner() -> (u32, u32) {
            (0, 0)
        }
    }
}
