//! Lock files in `<repo>/locks/` of a repository on a local (or locally mounted) file system.

use std::io::Read;
use std::path::PathBuf;

use super::{LockStore, MAX_LOCK_SIZE};

pub struct LocalLocks {
    dir: PathBuf,
}

impl LocalLocks {
    pub fn new(repo: &std::path::Path) -> LocalLocks {
        LocalLocks {
            dir: repo.join("locks"),
        }
    }
}

impl LockStore for LocalLocks {
    fn names(&self) -> std::io::Result<Vec<String>> {
        Ok(std::fs::read_dir(&self.dir)?
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect())
    }

    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let mut data = Vec::new();
        std::fs::File::open(self.dir.join(name))?
            .take(MAX_LOCK_SIZE)
            .read_to_end(&mut data)?;
        Ok(data)
    }

    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(self.dir.join(name), data)
    }

    fn remove(&self, name: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.dir.join(name))
    }
}
