//! Writes restic's repository format by hand into a repository made by `restic init`: blobs, packs,
//! index and snapshot files under its master key, so tests can hold trees restic would never write.
#![allow(dead_code)]

use std::collections::HashSet;
use std::error::Error;
use std::path::{Path, PathBuf};

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use genmount::repo::restic::crypto::{cipher, encrypt};
use rustic_backend::BackendOptions;
use rustic_core::{Credentials, Repository, RepositoryOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The time every node and snapshot written here carries.
const TIME: &str = "2026-01-02T03:04:05.123456789Z";
/// Go's `os.ModeDir` and `os.ModeSymlink`, as restic stores them in a node's mode.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// Lower-case hex, as restic writes ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of a blob: the SHA-256 of its plaintext.
pub fn blob_id(plain: &[u8]) -> String {
    hex(&Sha256::digest(plain))
}

/// The nodes of one tree, in the order they are added (restic sorts them; nothing forces that).
#[derive(Default)]
pub struct TreeBuilder {
    nodes: Vec<Value>,
}

impl TreeBuilder {
    pub fn new() -> TreeBuilder {
        TreeBuilder::default()
    }

    /// A regular file made of the blobs `content`, whose node says it holds `size` bytes.
    pub fn file(self, name: &str, content: &[String], size: u64) -> TreeBuilder {
        self.node(
            name,
            "file",
            0o644,
            json!({ "size": size, "content": content }),
        )
    }

    /// A directory whose entries are the tree `subtree`.
    pub fn dir(self, name: &str, subtree: &str) -> TreeBuilder {
        self.node(
            name,
            "dir",
            GO_MODE_DIR | 0o755,
            json!({ "content": null, "subtree": subtree }),
        )
    }

    pub fn symlink(self, name: &str, target: &str) -> TreeBuilder {
        self.node(
            name,
            "symlink",
            GO_MODE_SYMLINK | 0o777,
            json!({ "linktarget": target, "content": null }),
        )
    }

    /// A node with restic's common fields, then `extra` (content, subtree, linktarget, size).
    fn node(mut self, name: &str, kind: &str, mode: u32, extra: Value) -> TreeBuilder {
        let mut node = json!({
            "name": name, "type": kind, "mode": mode,
            "mtime": TIME, "atime": TIME, "ctime": TIME,
            "uid": 0, "gid": 0, "user": "root", "group": "root",
            "inode": self.nodes.len() as u64 + 1, "device_id": 2049, "size": 0, "links": 1,
        });
        if let (Some(node), Value::Object(extra)) = (node.as_object_mut(), extra) {
            node.extend(extra);
        }
        self.nodes.push(node);
        self
    }

    /// The tree blob's plaintext: `{"nodes":[...]}` and a newline, as restic writes it.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(&json!({ "nodes": self.nodes }))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum BlobType {
    Data,
    Tree,
}

/// A blob encrypted and waiting for its pack.
struct Pending {
    kind: BlobType,
    id: [u8; 32],
    encrypted: Vec<u8>,
}

/// Adds blobs, packs, index files and snapshots to an existing repository.
pub struct RepoWriter {
    root: PathBuf,
    cipher: Aes256CtrPoly1305Aes,
    pending: Vec<Pending>,
    written: HashSet<[u8; 32]>,
    /// Index entries of packs sealed before the snapshot that indexes them.
    sealed: Vec<Value>,
}

impl RepoWriter {
    /// Opens the repository at `root` with rustic_core to learn its master key.
    pub fn open(root: &Path, password: &str) -> Result<RepoWriter> {
        let backends = BackendOptions::default()
            .repository(format!("local:{}", root.display()))
            .to_backends()?;
        let options = RepositoryOptions::default().no_cache(true);
        let key = Repository::new(&options, &backends)?
            .open(&Credentials::password(password))?
            .key();
        Ok(RepoWriter {
            root: root.to_path_buf(),
            cipher: cipher(&key).ok_or("the master key has an unexpected shape")?,
            pending: Vec::new(),
            written: HashSet::new(),
            sealed: Vec::new(),
        })
    }

    fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>> {
        Ok(encrypt(&self.cipher, plain).ok_or("encryption failed")?)
    }

    fn add_blob(&mut self, kind: BlobType, plain: &[u8]) -> Result<String> {
        let id: [u8; 32] = Sha256::digest(plain).into();
        if self.written.insert(id) {
            let encrypted = self.encrypt(plain)?;
            self.pending.push(Pending {
                kind,
                id,
                encrypted,
            });
        }
        Ok(hex(&id))
    }

    /// A file's content as one data blob (none for an empty file); returns the content list.
    pub fn content(&mut self, bytes: &[u8]) -> Result<Vec<String>> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![self.add_blob(BlobType::Data, bytes)?])
    }

    /// Adds the tree blob of `tree` and returns its id.
    pub fn tree(&mut self, tree: &TreeBuilder) -> Result<String> {
        self.add_blob(BlobType::Tree, &tree.to_json()?)
    }

    /// Writes the pending blobs (a data pack and a tree pack, as restic keeps them apart), an
    /// index file for them, and a snapshot of `tree`; returns the snapshot's id.
    pub fn snapshot(&mut self, tree: &str) -> Result<String> {
        let pending = std::mem::take(&mut self.pending);
        let mut packs = std::mem::take(&mut self.sealed);
        for kind in [BlobType::Data, BlobType::Tree] {
            let blobs: Vec<&Pending> = pending.iter().filter(|b| b.kind == kind).collect();
            if !blobs.is_empty() {
                packs.push(self.write_pack(&blobs)?);
            }
        }
        self.write_file("index", &serde_json::to_vec(&json!({ "packs": packs }))?)?;
        let snapshot = json!({
            "time": TIME, "tree": tree, "paths": ["/hostile"],
            "hostname": "hostile-host", "username": "tester",
        });
        self.write_file("snapshots", &serde_json::to_vec(&snapshot)?)
    }

    /// Writes the data blobs added so far into a pack of their own; the next snapshot indexes it.
    pub fn seal_data_pack(&mut self) -> Result<()> {
        let (data, rest) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition::<Vec<_>, _>(|b| b.kind == BlobType::Data);
        self.pending = rest;
        if !data.is_empty() {
            let entry = self.write_pack(&data.iter().collect::<Vec<_>>())?;
            self.sealed.push(entry);
        }
        Ok(())
    }

    /// Writes one pack of `blobs` and returns its index entry.
    fn write_pack(&self, blobs: &[&Pending]) -> Result<Value> {
        let mut pack = Vec::new();
        let mut header = Vec::new();
        let mut entries = Vec::new();
        for blob in blobs {
            let length = u32::try_from(blob.encrypted.len())?;
            let (type_byte, type_name) = match blob.kind {
                BlobType::Data => (0u8, "data"),
                BlobType::Tree => (1u8, "tree"),
            };
            entries.push(json!({
                "id": hex(&blob.id), "type": type_name, "offset": pack.len(), "length": length,
            }));
            header.push(type_byte);
            header.extend_from_slice(&length.to_le_bytes());
            header.extend_from_slice(&blob.id);
            pack.extend_from_slice(&blob.encrypted);
        }
        let header = self.encrypt(&header)?;
        pack.extend_from_slice(&header);
        pack.extend_from_slice(&u32::try_from(header.len())?.to_le_bytes());
        let id = hex(&Sha256::digest(&pack));
        let dir = self.root.join("data").join(&id[..2]);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&id), &pack)?;
        Ok(json!({ "id": id, "blobs": entries }))
    }

    /// Encrypts `plain` into `<dir>/<sha256 of the file>`; returns that id.
    fn write_file(&self, dir: &str, plain: &[u8]) -> Result<String> {
        let bytes = self.encrypt(plain)?;
        let id = hex(&Sha256::digest(&bytes));
        std::fs::create_dir_all(self.root.join(dir))?;
        std::fs::write(self.root.join(dir).join(&id), &bytes)?;
        Ok(id)
    }
}
