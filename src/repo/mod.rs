//! The repository trait: what genmount needs from a backup store, and the backends that provide it.
//! A backend lists generations and gives nodes, directory entries and file bytes inside them.

pub mod borg;
pub mod datename;
pub mod folder;
pub mod hexid;
pub(crate) mod localfs;
pub mod naming;
pub mod restic;

use bytes::Bytes;
use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use crate::error::RepoError;
use crate::meta::{Node, Timestamp};

/// A directory's entries: the name shown (safe and unique within the directory, see
/// `names::safe_listing`) and the node. Shared: a cached listing is handed out, not copied.
pub type Listing<H> = Arc<[(Vec<u8>, Node<H>)]>;
/// Extended attributes: name and value.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// One generation (snapshot) of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The name shown as its directory; unique within the repository.
    pub name: String,
    /// An identity that changes when the generation behind a name changes (a snapshot id, say).
    pub id: String,
    pub end: Timestamp,
    /// Unfinished or checkpoint generations are hidden from the mount.
    pub checkpoint: bool,
    pub size: Option<u64>,
    pub files: Option<u64>,
    /// Where it was made and of what, when the repository records it (restic does).
    pub host: Option<String>,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
}

/// A backup store as genmount reads it. Every method is read-only.
pub trait Repository: Send + Sync + 'static {
    /// What a node is to the backend: enough to list it, read it or find its xattrs.
    type Handle: Clone + Send + Sync + 'static;
    /// An opened file.
    type Reader: Send + Sync + 'static;

    /// A short description of where the repository is, for the mount's fsname and logs.
    fn describe(&self) -> String;

    /// All generations, checkpoints included, oldest first.
    fn generations(&self) -> Arc<[Generation]>;

    /// Re-reads the list of generations so that new ones appear and vanished ones go.
    fn refresh(&self) -> Result<(), RepoError>;

    /// The root directory of a generation.
    fn root(&self, generation: &Generation) -> Result<Node<Self::Handle>, RepoError>;

    /// The entries of a directory, with the names the mount shows: the backend makes the names
    /// it stores safe and unique (`names::safe_listing`), and nothing above it changes them.
    fn list(&self, dir: &Self::Handle) -> Result<Listing<Self::Handle>, RepoError>;

    /// The entries of a directory for a walk over a whole generation (measuring its size): a
    /// backend that caches listings reads this one without pushing out what users look at.
    fn list_passing(&self, dir: &Self::Handle) -> Result<Listing<Self::Handle>, RepoError> {
        self.list(dir)
    }

    /// One entry of a directory by its shown name. The default lists the directory.
    fn lookup(&self, dir: &Self::Handle, name: &[u8]) -> Result<Node<Self::Handle>, RepoError> {
        self.list(dir)?
            .iter()
            .find(|(shown, _)| shown.as_slice() == name)
            .map(|(_, node)| node.clone())
            .ok_or(RepoError::NotFound)
    }

    /// A key that two directories share only when their contents are the same (restic's tree id),
    /// so that totals of shared subtrees are computed once. `None`: no such key.
    fn dir_key(&self, _dir: &Self::Handle) -> Option<u64> {
        None
    }

    /// A key that two non-directory nodes share when their contents are the same, so that the
    /// versions view shows each distinct version once. The default trusts size, mtime and ctime
    /// (ctime cannot be set back, so a rewritten file always differs); restic compares blob ids.
    fn content_key(&self, node: &Node<Self::Handle>) -> u64 {
        use std::hash::{Hash, Hasher};
        let meta = &node.meta;
        let mut hasher = std::hash::DefaultHasher::new();
        (meta.kind, meta.size, meta.mtime, meta.ctime, meta.rdev).hash(&mut hasher);
        hasher.finish()
    }

    /// The target of a symlink, as stored.
    fn readlink(&self, link: &Self::Handle) -> Result<Vec<u8>, RepoError>;

    /// The extended attributes of a node: name and value.
    fn xattrs(&self, node: &Self::Handle) -> Result<Xattrs, RepoError>;

    /// Opens a regular file for reading.
    fn open(&self, file: &Node<Self::Handle>) -> Result<Self::Reader, RepoError>;

    /// Whether `backing_file` can give a file at all: the repository keeps files as plain files of
    /// the host, byte for byte (snapshot folders do; restic and borg store chunks).
    fn has_backing_files(&self) -> bool {
        false
    }

    /// A host file that holds exactly the bytes of the regular file `file`, opened read-only, that
    /// the OS may read in place of asking `read` (FUSE passthrough). `None`: there is none.
    fn backing_file(&self, _file: &Node<Self::Handle>) -> Result<Option<File>, RepoError> {
        Ok(None)
    }

    /// The bytes the repository stores for its generations, if it can say without walking them
    /// (restic: the size of its packs). What `statfs` answers before measuring is done.
    fn stored_bytes(&self) -> Option<u64> {
        None
    }

    /// Releases what the repository holds while mounted (a restic lock, say). Called once at unmount.
    fn close(&self) {}

    /// Up to `size` bytes at `offset`; fewer only at the end of the file.
    fn read(&self, file: &Self::Reader, offset: u64, size: u32) -> Result<Bytes, RepoError>;

    /// Whether reads may serve zeros in place of lost data (restic's `--allow-damaged`).
    fn may_serve_zeros(&self) -> bool {
        false
    }

    /// As `read`, and adds to `zeroed` the ranges of the file it served as zeros in place of lost
    /// data (restic's `--allow-damaged`). The default serves no such zeros.
    fn read_noting_zeros(
        &self,
        file: &Self::Reader,
        offset: u64,
        size: u32,
        _zeroed: &mut Vec<Range<u64>>,
    ) -> Result<Bytes, RepoError> {
        self.read(file, offset, size)
    }
}
