//! Where the blob store reads pack ranges from: rustic's backend, or, for a repository on a local
//! disk under Linux, the pack files themselves.
//!
//! Read directly, a range lands in a buffer that is not zeroed first, the packs read last stay open
//! (their reads share the kernel's read-ahead), and a pack read through while it was open leaves the
//! page cache when it is closed (as borg drops the files it backs up): its blobs are kept decrypted,
//! in the blob cache and in the kernel's cache of the mounted file, so a copy out of the mount would
//! otherwise leave two copies of itself in memory, and need a fresh page for every page of pack it
//! reads (which, on a VM whose host takes back free memory, is slow to fault in).

use std::sync::Arc;

use bytes::Bytes;
use rustic_core::repofile::PackId;
use rustic_core::{FileType, WriteBackend};

/// The source of pack ranges.
pub enum Packs {
    Backend(Arc<dyn WriteBackend>),
    #[cfg(target_os = "linux")]
    Local(local::LocalPacks),
}

impl Packs {
    /// Pack files read directly where `location` (as rustic reads it) is a local path, else through
    /// `backend`.
    pub fn new(backend: Arc<dyn WriteBackend>, location: &str) -> Packs {
        #[cfg(target_os = "linux")]
        if let Some(local) = local::LocalPacks::at(location) {
            return Packs::Local(local);
        }
        let _ = location;
        Packs::Backend(backend)
    }

    /// Bytes `offset..offset + length` of `pack`, or fewer where the pack ends sooner.
    pub fn read(&self, pack: &PackId, offset: u32, length: u32) -> Result<Bytes, String> {
        match self {
            Packs::Backend(backend) => backend
                .read_partial(FileType::Pack, pack, false, offset, length)
                .map_err(|e| super::one_line(&e.to_string())),
            #[cfg(target_os = "linux")]
            Packs::Local(local) => local.read(pack, offset, length),
        }
    }

    /// Like [`Packs::read`], for a read that may run past the pack's end and whose failure the
    /// caller drops unread: rustic's errors carry a backtrace, which would be made for nothing.
    pub fn try_read(&self, pack: &PackId, offset: u32, length: u32) -> Option<Bytes> {
        match self {
            Packs::Backend(backend) => backend
                .read_partial(FileType::Pack, pack, false, offset, length)
                .ok(),
            #[cfg(target_os = "linux")]
            Packs::Local(local) => local.read(pack, offset, length).ok(),
        }
    }

    /// Closes the pack files kept open: after a prune, the packs it deleted are not held (and
    /// their disk space with them).
    pub fn close(&self) {
        #[cfg(target_os = "linux")]
        if let Packs::Local(local) = self {
            local.close();
        }
    }

    /// Whether pack files are read directly.
    pub fn is_local(&self) -> bool {
        !matches!(self, Packs::Backend(_))
    }
}

#[cfg(target_os = "linux")]
mod local {
    use std::collections::VecDeque;
    use std::fs::File;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, MutexGuard};

    use bytes::Bytes;
    use rustic_backend::SupportedBackend;
    use rustic_core::repofile::PackId;
    use rustix::fs::{Advice, fadvise};

    /// Pack files kept open: reads of one pack then share the kernel's read-ahead state (a file
    /// opened per read starts cold), and a pack is judged once, when it leaves.
    const OPEN_PACKS: usize = 16;

    /// One kept pack, and how much of it was asked for while it was kept.
    struct OpenPack {
        id: PackId,
        file: Arc<File>,
        size: u64,
        asked: u64,
    }

    impl OpenPack {
        /// A pack mostly read while it was open was streamed through (a copy, a whole file): what
        /// it held is decrypted elsewhere, and its pages only push out other things. A pack read
        /// in places (random reads, the ends of a file) keeps them: the next read may want them.
        fn read_through(&self) -> bool {
            self.asked.saturating_mul(2) >= self.size
        }
    }

    /// The `data/` folder of a repository on a local disk, laid out as restic (and rustic) lay it:
    /// `data/<first two hex digits>/<id>`, with the packs read last kept open.
    pub struct LocalPacks {
        data: PathBuf,
        /// Most recently read first.
        open: Mutex<VecDeque<OpenPack>>,
    }

    impl LocalPacks {
        /// The packs of `location` if rustic would read it as a local path.
        pub fn at(location: &str) -> Option<LocalPacks> {
            match rustic_backend::util::location_to_type_and_path(location) {
                Ok((SupportedBackend::Local, path)) => Some(LocalPacks {
                    data: PathBuf::from(path.as_str()).join("data"),
                    open: Mutex::new(VecDeque::new()),
                }),
                _ => None,
            }
        }

        /// Bytes `offset..offset + length` of `pack`, fewer where it ends sooner.
        pub fn read(&self, pack: &PackId, offset: u32, length: u32) -> Result<Bytes, String> {
            let hex = pack.to_hex();
            let path = || self.data.join(&hex[..2]).join(&*hex);
            let file = self
                .file(pack, length, path)
                .map_err(|e| format!("opening {}: {e}", path().display()))?;
            read_at(&file, offset, length)
                .map(Bytes::from)
                .map_err(|e| format!("reading {}: {e}", path().display()))
        }

        /// The kept files, even if a reader panicked holding them.
        fn kept(&self) -> MutexGuard<'_, VecDeque<OpenPack>> {
            self.open.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// `pack` open, from the kept files or opened now (and kept, closing the oldest), with
        /// `length` more bytes of it asked for.
        fn file(
            &self,
            pack: &PackId,
            length: u32,
            path: impl Fn() -> PathBuf,
        ) -> io::Result<Arc<File>> {
            if let Some(file) = Self::reuse(&mut self.kept(), pack, length) {
                return Ok(file);
            }
            let (file, size) = open_pack(&path())?;
            let closed = {
                let mut open = self.kept();
                // Another reader may have opened it meanwhile: one entry per pack.
                if let Some(file) = Self::reuse(&mut open, pack, length) {
                    return Ok(file);
                }
                open.push_front(OpenPack {
                    id: *pack,
                    file: file.clone(),
                    size,
                    asked: u64::from(length),
                });
                let keep = OPEN_PACKS.min(open.len());
                open.split_off(keep)
            };
            forget(closed);
            Ok(file)
        }

        /// Closes every kept pack.
        pub fn close(&self) {
            let closed = std::mem::take(&mut *self.kept());
            forget(closed);
        }

        /// `pack` from the kept files, moved to the front with `length` more bytes asked for.
        fn reuse(open: &mut VecDeque<OpenPack>, pack: &PackId, length: u32) -> Option<Arc<File>> {
            let at = open.iter().position(|kept| kept.id == *pack)?;
            let mut kept = open.remove(at)?;
            kept.asked += u64::from(length);
            let file = kept.file.clone();
            open.push_front(kept);
            Some(file)
        }
    }

    /// Closes packs that left the list, dropping the pages of those read through.
    fn forget(closed: VecDeque<OpenPack>) {
        for old in closed.iter().filter(|old| old.read_through()) {
            // Advice only: the kernel may keep pages another reader holds.
            let _ = fadvise(&*old.file, 0, None, Advice::DontNeed);
        }
    }

    /// A pack file opened for reading (regular files only), and its size.
    fn open_pack(path: &Path) -> io::Result<(Arc<File>, u64)> {
        let file = crate::repo::localfs::open_repo_file(path)?;
        let size = file.metadata()?.len();
        Ok((Arc::new(file), size))
    }

    /// Up to `length` bytes at `offset`, into a buffer that is not zeroed first.
    fn read_at(file: &File, offset: u32, length: u32) -> io::Result<Vec<u8>> {
        let wanted = length as usize;
        // Bounded by the caller: a blob's length is checked against its maximum before it is read.
        let mut buf = Vec::with_capacity(wanted);
        let start = u64::from(offset);
        while buf.len() < wanted {
            let at = start + buf.len() as u64;
            match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(0) => break,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(buf)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use rustic_core::Id;

        #[test]
        fn only_local_locations_are_read_directly() {
            assert!(LocalPacks::at("/srv/restic").is_some());
            assert!(LocalPacks::at("local:/srv/restic").is_some());
            assert!(LocalPacks::at("rest:http://127.0.0.1:8000/").is_none());
            assert!(LocalPacks::at("rclone:remote:repo").is_none());
        }

        /// A repository folder holding `count` packs of 10,000 bytes each.
        fn repository(count: usize) -> (PathBuf, Vec<PackId>) {
            let dir =
                std::env::temp_dir().join(format!("genmount-packfile-{}", std::process::id()));
            let packs: Vec<PackId> = (0..count).map(|_| PackId::from(Id::random())).collect();
            for pack in &packs {
                let hex = pack.to_hex();
                let folder = dir.join("data").join(&hex[..2]);
                std::fs::create_dir_all(&folder).unwrap();
                let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
                std::fs::write(folder.join(&*hex), bytes).unwrap();
            }
            (dir, packs)
        }

        #[test]
        fn reads_stop_at_the_end_of_a_pack_and_old_packs_are_closed() {
            let (dir, packs) = repository(OPEN_PACKS + 2);
            let local = LocalPacks::at(dir.to_str().unwrap()).unwrap();
            let read = local.read(&packs[0], 9_000, 4_000).unwrap();
            assert_eq!(read.len(), 1_000, "short where the pack ends");
            assert_eq!(read[0], (9_000 % 256) as u8);
            assert_eq!(&local.read(&packs[0], 100, 3).unwrap()[..], [100, 101, 102]);
            assert!(local.read(&packs[0], 20_000, 10).unwrap().is_empty());
            for pack in &packs {
                assert_eq!(local.read(pack, 255, 2).unwrap().len(), 2);
            }
            let last = packs[OPEN_PACKS + 1];
            assert!(
                !local.kept()[0].read_through(),
                "2 bytes of 10,000 asked for"
            );
            assert_eq!(local.read(&last, 0, 10_000).unwrap().len(), 10_000);
            let open = local.kept();
            assert_eq!(open.len(), OPEN_PACKS);
            assert_eq!(open[0].id, last, "the last read is first");
            assert_eq!((open[0].size, open[0].asked), (10_000, 10_002));
            assert!(open[0].read_through());
            drop(open);
            local.close();
            assert!(local.kept().is_empty(), "a refresh closes them all");
            let fifo = packs[1].to_hex();
            let fifo_path = dir.join("data").join(&fifo[..2]).join(&*fifo);
            std::fs::remove_file(&fifo_path).unwrap();
            let c_path = std::ffi::CString::new(fifo_path.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a NUL-terminated path that lives across the call.
            assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
            let err = local.read(&packs[1], 0, 10).unwrap_err();
            assert!(err.contains("not a regular file"), "{err}");
            let missing = PackId::from(Id::random());
            let err = local.read(&missing, 0, 10).unwrap_err();
            assert!(err.contains(&*missing.to_hex()), "{err}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
