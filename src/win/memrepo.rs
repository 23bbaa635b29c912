//! A repository held in memory, for the tests of the Windows logic: it holds what a test machine
//! with a case-insensitive or Windows filesystem cannot (`README` beside `Readme`, `a:b`), so those
//! tests run on Windows too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::RepoError;
use crate::meta::{FileKind, Meta, Node, Timestamp};
use crate::repo::{Generation, Listing, Repository, Xattrs};

/// Generations made of files given by path (`2026-01-01/Docs/README`); directories are implied.
pub struct MemRepo {
    generations: Arc<[Generation]>,
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
}

impl MemRepo {
    pub fn new(files: &[(&str, &[u8])]) -> MemRepo {
        let files: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(path, data)| (path.to_string(), data.to_vec()))
            .collect();
        let dirs: BTreeSet<String> = files
            .keys()
            .flat_map(|path| {
                path.match_indices('/')
                    .map(|(at, _)| path[..at].to_string())
            })
            .collect();
        let generations = dirs
            .iter()
            .filter(|dir| !dir.contains('/'))
            .map(|name| Generation {
                name: name.clone(),
                id: name.clone(),
                end: Timestamp::new(1_700_000_000, 0),
                checkpoint: false,
                size: None,
                files: None,
                host: None,
                paths: Vec::new(),
                tags: Vec::new(),
            })
            .collect();
        MemRepo {
            generations,
            files,
            dirs,
        }
    }

    fn node(&self, path: String) -> Option<Node<String>> {
        let time = Timestamp::new(1_700_000_000, 0);
        let meta = match self.files.get(&path) {
            Some(data) => Meta::synthetic(FileKind::File, 0o644, data.len() as u64, time),
            None if self.dirs.contains(&path) => Meta::synthetic(FileKind::Dir, 0o755, 0, time),
            None => return None,
        };
        Some(Node { meta, handle: path })
    }
}

impl Repository for MemRepo {
    type Handle = String;
    type Reader = Bytes;

    fn describe(&self) -> String {
        "memory".into()
    }

    fn generations(&self) -> Arc<[Generation]> {
        self.generations.clone()
    }

    fn refresh(&self) -> Result<(), RepoError> {
        Ok(())
    }

    fn root(&self, generation: &Generation) -> Result<Node<String>, RepoError> {
        self.node(generation.name.clone())
            .ok_or(RepoError::NotFound)
    }

    fn list(&self, dir: &String) -> Result<Listing<String>, RepoError> {
        let prefix = format!("{dir}/");
        let children = self.files.keys().chain(self.dirs.iter()).filter(|path| {
            path.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('/'))
        });
        let mut listing: Vec<(Vec<u8>, Node<String>)> = children
            .filter_map(|path| {
                let name = path.as_bytes()[prefix.len()..].to_vec();
                self.node(path.clone()).map(|node| (name, node))
            })
            .collect();
        listing.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(listing.into())
    }

    fn readlink(&self, _link: &String) -> Result<Vec<u8>, RepoError> {
        Err(RepoError::NotFound)
    }

    fn xattrs(&self, _node: &String) -> Result<Xattrs, RepoError> {
        Ok(Vec::new())
    }

    fn open(&self, file: &Node<String>) -> Result<Bytes, RepoError> {
        let data = self.files.get(&file.handle).ok_or(RepoError::NotFound)?;
        Ok(Bytes::from(data.clone()))
    }

    fn read(&self, file: &Bytes, offset: u64, size: u32) -> Result<Bytes, RepoError> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(file.len());
        let end = start.saturating_add(size as usize).min(file.len());
        Ok(file.slice(start..end))
    }
}
