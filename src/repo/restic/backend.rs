//! The repository's storage as genmount hands it to rustic: reads pass through, every write is
//! refused, and closing drops the backend, so that an `rclone serve restic` that rustic_backend
//! started for an `rclone:` location ends with the mount instead of outliving it.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RepositoryBackends, RusticError, RusticResult,
    WriteBackend,
};

/// A backend that reads through to the one it wraps until closed.
pub struct Closable {
    /// Kept for messages after the backend is gone.
    location: String,
    inner: RwLock<Option<Arc<dyn WriteBackend>>>,
}

/// Drops what [`wrap`] holds; the backend then reads no more.
pub struct Closer(Vec<Arc<Closable>>);

impl Closer {
    pub fn close(&self) {
        for backend in &self.0 {
            let taken = backend
                .inner
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            // rustic_backend's rclone backend kills its server when the last reference goes.
            drop(taken);
        }
    }
}

/// The backends with each one wrapped, and what closes them. Nothing else holds the originals.
pub fn wrap(backends: RepositoryBackends) -> (RepositoryBackends, Closer) {
    let cold = Arc::new(Closable::new(backends.repository()));
    let hot = backends.repo_hot().map(|hot| Arc::new(Closable::new(hot)));
    let closer = Closer(std::iter::once(cold.clone()).chain(hot.clone()).collect());
    let hot = hot.map(|hot| hot as Arc<dyn WriteBackend>);
    (RepositoryBackends::new(cold, hot), closer)
}

impl Closable {
    fn new(inner: Arc<dyn WriteBackend>) -> Closable {
        Closable {
            location: inner.location(),
            inner: RwLock::new(Some(inner)),
        }
    }

    fn backend(&self) -> RusticResult<Arc<dyn WriteBackend>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.clone().ok_or_else(|| {
            RusticError::new(ErrorKind::Backend, "the repository was closed at unmount")
        })
    }
}

impl ReadBackend for Closable {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.backend()?.list_with_size(tpe)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.backend()?.read_full(tpe, id)
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        self.backend()?
            .read_partial(tpe, id, cacheable, offset, length)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        match self.backend() {
            Ok(backend) => backend.warmup_path(tpe, id),
            Err(_) => String::new(),
        }
    }

    fn needs_warm_up(&self) -> bool {
        self.backend().is_ok_and(|backend| backend.needs_warm_up())
    }

    fn warm_up(&self, tpe: FileType, id: &Id) -> RusticResult<()> {
        self.backend()?.warm_up(tpe, id)
    }
}

/// genmount never writes to a repository: its locks go beside rustic, and its caches are local.
fn refused() -> Box<RusticError> {
    RusticError::new(
        ErrorKind::Unsupported,
        "genmount never writes to a repository",
    )
}

impl WriteBackend for Closable {
    fn create(&self) -> RusticResult<()> {
        Err(refused())
    }

    fn write_bytes(
        &self,
        _tpe: FileType,
        _id: &Id,
        _cacheable: bool,
        _content: BytesList,
    ) -> RusticResult<()> {
        Err(refused())
    }

    fn remove(&self, _tpe: FileType, _id: &Id, _cacheable: bool) -> RusticResult<()> {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A backend that counts the live copies of itself.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl ReadBackend for Counted {
        fn location(&self) -> String {
            "counted".into()
        }
        fn list_with_size(&self, _tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
            Ok(vec![(Id::default(), 7)])
        }
        fn read_full(&self, _tpe: FileType, _id: &Id) -> RusticResult<Bytes> {
            Ok(Bytes::from_static(b"full"))
        }
        fn read_partial(
            &self,
            _: FileType,
            _: &Id,
            _: bool,
            _: u32,
            _: u32,
        ) -> RusticResult<Bytes> {
            Ok(Bytes::from_static(b"part"))
        }
        fn warmup_path(&self, _tpe: FileType, _id: &Id) -> String {
            String::new()
        }
    }

    impl WriteBackend for Counted {
        fn write_bytes(&self, _: FileType, _: &Id, _: bool, _: BytesList) -> RusticResult<()> {
            Ok(())
        }
        fn remove(&self, _: FileType, _: &Id, _: bool) -> RusticResult<()> {
            Ok(())
        }
    }

    #[test]
    fn reads_pass_writes_are_refused_and_close_drops_the_backend() {
        let live = Arc::new(AtomicUsize::new(1));
        let backends = RepositoryBackends::new(Arc::new(Counted(live.clone())), None);
        let (backends, closer) = wrap(backends);
        let repo = backends.repository();
        assert_eq!(repo.location(), "counted");
        assert_eq!(
            &repo.read_full(FileType::Snapshot, &Id::default()).unwrap()[..],
            b"full"
        );
        assert_eq!(repo.list_with_size(FileType::Index).unwrap().len(), 1);
        assert!(
            repo.write_bytes(FileType::Key, &Id::default(), false, Bytes::new().into())
                .is_err()
        );
        assert!(repo.remove(FileType::Key, &Id::default(), false).is_err());
        assert!(repo.create().is_err());
        assert_eq!(live.load(Ordering::SeqCst), 1);
        closer.close();
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "the wrapped backend is dropped"
        );
        assert!(repo.read_full(FileType::Snapshot, &Id::default()).is_err());
        assert_eq!(repo.location(), "counted");
    }
}
