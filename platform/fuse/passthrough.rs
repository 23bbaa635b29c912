//! FUSE passthrough (Linux 6.9+, with CAP_SYS_ADMIN): a file the tree keeps as a host file is
//! opened with a backing id and the kernel reads it itself, never asking genmount; every other
//! open, and every one the kernel refuses, reads through the tree as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fuser::{BackingId, InitFlags, KernelConfig, ReplyOpen};

use crate::vfs::{Ino, VfsTree};

/// The kernel's own limit is 2; 1 lets the backing files be on any plain filesystem and still
/// lets genmount's mount be the lower layer of an overlay.
const MAX_STACK_DEPTH: u32 = 1;

/// How an open goes.
pub enum Route {
    /// The kernel reads the file through this backing id.
    Direct(Arc<BackingId>),
    /// Read through the tree; counted, so that `release_tree` must follow.
    Tree,
    /// Not a host file: read through the tree, nothing counted.
    NotBacked,
}

/// The opens of one inode. The kernel takes every concurrent open of an inode either through one
/// backing id or through its page cache, never both (a mix fails the open with EIO).
#[derive(Default)]
struct Opens {
    backing: Option<Arc<BackingId>>,
    direct: u32,
    tree: u32,
}

/// Passthrough for one mount: off until `init` negotiates it.
#[derive(Default)]
pub struct Passthrough {
    wanted: bool,
    on: AtomicBool,
    opens: Mutex<HashMap<Ino, Opens>>,
    told_in_use: AtomicBool,
    told_refused: AtomicBool,
    direct_opens: AtomicU64,
    tree_reads: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Passthrough {
    /// `wanted`: not turned off on the command line.
    pub fn new(wanted: bool) -> Passthrough {
        Passthrough {
            wanted,
            ..Passthrough::default()
        }
    }

    /// Whether opens may go direct now.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Asks the kernel for passthrough where it can help, and says at -v which read path is used.
    pub fn negotiate(&self, tree: &impl VfsTree, config: &mut KernelConfig) -> InitFlags {
        // macFUSE has no passthrough: elsewhere this stays off and says nothing.
        if !cfg!(target_os = "linux") || !tree.has_backing_files() {
            return InitFlags::empty();
        }
        let offered = config.capabilities().contains(InitFlags::FUSE_PASSTHROUGH);
        let why_not = if !self.wanted {
            Some("turned off (--no-passthrough)")
        } else if !offered {
            Some("not offered by the kernel (Linux 6.9 or later has it)")
        } else if !has_cap_sys_admin() {
            Some("not allowed: it needs root (CAP_SYS_ADMIN)")
        } else if config.set_max_stack_depth(MAX_STACK_DEPTH).is_err() {
            Some("not possible at this stacking depth")
        } else {
            None
        };
        match why_not {
            Some(why) => {
                tracing::info!("FUSE passthrough {why}: files are read through genmount");
                InitFlags::empty()
            }
            None => {
                self.on.store(true, Ordering::Relaxed);
                InitFlags::FUSE_PASSTHROUGH
            }
        }
    }

    /// Decides how `ino` is opened, registering a backing id with the kernel for its first direct
    /// open. Never fails: whatever goes wrong, the file is read through the tree.
    pub fn open(&self, tree: &impl VfsTree, ino: Ino, reply: &ReplyOpen) -> Route {
        if let Some(route) = self.join(ino) {
            return route;
        }
        // Opened outside the lock: opens of other files go on meanwhile.
        let made = match tree.backing_file(ino) {
            Ok(Some(file)) => reply.open_backing(&file).map_err(|e| self.refused(&e)).ok(),
            Ok(None) => return Route::NotBacked,
            Err(_) => None,
        };
        let mut opens = lock(&self.opens);
        let entry = opens.entry(ino).or_default();
        match (&entry.backing, made) {
            // Another open of the same file came first: its id serves both, this one is closed.
            (Some(backing), _) => {
                entry.direct += 1;
                Route::Direct(backing.clone())
            }
            (None, Some(made)) if entry.tree == 0 => {
                let backing = Arc::new(made);
                entry.backing = Some(backing.clone());
                entry.direct = 1;
                self.direct_opens.fetch_add(1, Ordering::Relaxed);
                if !self.told_in_use.swap(true, Ordering::Relaxed) {
                    tracing::info!("FUSE passthrough in use: the kernel reads files directly");
                }
                Route::Direct(backing)
            }
            (None, _) => {
                entry.tree += 1;
                Route::Tree
            }
        }
    }

    /// The route of an inode that is open already: opens of one inode all go the same way.
    fn join(&self, ino: Ino) -> Option<Route> {
        let mut opens = lock(&self.opens);
        let entry = opens.get_mut(&ino)?;
        Some(match &entry.backing {
            Some(backing) => {
                entry.direct += 1;
                Route::Direct(backing.clone())
            }
            None => {
                entry.tree += 1;
                Route::Tree
            }
        })
    }

    /// The kernel would not take a backing file: said once at -v; without the privilege it needs,
    /// no further open tries.
    fn refused(&self, err: &std::io::Error) {
        if err.raw_os_error() == Some(libc::EPERM) {
            self.on.store(false, Ordering::Relaxed);
        }
        if !self.told_refused.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "FUSE passthrough refused by the kernel ({err}): such files are read through genmount"
            );
        }
    }

    /// A direct open of `ino` was released: its backing id goes with the last one.
    pub fn release_direct(&self, ino: Ino) {
        let mut opens = lock(&self.opens);
        if let Some(entry) = opens.get_mut(&ino) {
            entry.direct = entry.direct.saturating_sub(1);
            if entry.direct == 0 && entry.tree == 0 {
                opens.remove(&ino);
            }
        }
    }

    /// An open through the tree was released (or, `cancel`, never happened).
    pub fn release_tree(&self, ino: Ino) {
        let mut opens = lock(&self.opens);
        if let Some(entry) = opens.get_mut(&ino)
            && entry.backing.is_none()
        {
            entry.tree = entry.tree.saturating_sub(1);
            if entry.tree == 0 {
                opens.remove(&ino);
            }
        }
    }

    /// Counts a read that came to genmount (for the summary at unmount).
    pub fn note_read(&self) {
        self.tree_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// What the mount did, said at -v when it ends.
    pub fn summary(&self) {
        tracing::info!(
            direct_opens = self.direct_opens.load(Ordering::Relaxed),
            reads = self.tree_reads.load(Ordering::Relaxed),
            "files opened for the kernel to read directly, and reads served by genmount"
        );
    }
}

/// Whether the process holds CAP_SYS_ADMIN, which the kernel asks of every backing file.
fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}
