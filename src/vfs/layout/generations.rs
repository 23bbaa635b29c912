//! The root of a `multiple` view and the generations it shows: which generations are visible, the
//! group directories of `host/…` names, `latest`, `.pid`, folded generations, and re-reading them.

use std::collections::HashSet;
use std::sync::Arc;

use super::{
    Child, INVALIDATION_WAIT, Inode, LATEST_INO, LATEST_NAME, Layout, PID_INO, PID_NAME, ROOT_TTL,
    View, lock, now,
};
use crate::error::{OpenError, RepoError, VfsError, VfsResult};
use crate::meta::{FileKind, Meta, Node, Timestamp};
use crate::names;
use crate::repo::{Generation, Repository};
use crate::vfs::inodes::{InoKey, Slot};
use crate::vfs::versions::{MergedDir, Source};
use crate::vfs::{Attr, Entry, GenerationSpec, Ino, ROOT_INO, VfsTree};

/// A generation as the root shows it.
pub(super) struct GenView<H> {
    pub(super) generation: Generation,
    pub(super) ino: Ino,
    /// ROOT of the generation, with the generation's end time as mtime and ctime.
    pub(super) root: Node<H>,
    /// With `fold_identical`: the generation this one repeats, shown as a symlink to it.
    pub(super) alias: Option<String>,
}

/// The visible generations, oldest first, as of the last refresh.
pub(super) struct State<H> {
    pub(super) generations: Vec<GenView<H>>,
    pub(super) refreshed: Timestamp,
}

impl<H> State<H> {
    pub(super) fn find(&self, name: &[u8]) -> Option<&GenView<H>> {
        self.generations
            .iter()
            .find(|g| g.generation.name.as_bytes() == name)
    }

    pub(super) fn latest(&self) -> Option<&GenView<H>> {
        self.generations.last()
    }
}

impl<R: Repository> Layout<R> {
    pub(super) fn pin_single(&self, state: &State<R::Handle>) -> Result<Generation, OpenError> {
        let spec = &self.options.generation;
        let chosen = self.pick(spec).ok_or_else(|| {
            OpenError::Generation(format!(
                "no generation '{spec}' in {}",
                self.repo.describe()
            ))
        })?;
        let view = state.find(chosen.name.as_bytes()).ok_or_else(|| {
            OpenError::Generation(format!("generation {} does not hold ROOT", chosen.name))
        })?;
        let slot = Slot {
            generation: view.ino,
            node: view.root.clone(),
        };
        self.inodes.pin(ROOT_INO, Inode::Node(Arc::new(slot)));
        Ok(chosen)
    }

    /// The versions view's root: ROOT of every generation, merged.
    pub(super) fn pin_merged_root(&self, state: &State<R::Handle>) {
        let sources = state
            .generations
            .iter()
            .map(|g| Source {
                generation: g.ino,
                generation_name: Arc::from(g.generation.name.as_str()),
                node: g.root.clone(),
            })
            .collect();
        if let Some(root) = MergedDir::new(sources) {
            self.inodes.pin(ROOT_INO, Inode::Merged(Arc::new(root)));
        }
    }

    /// The finished generation `spec` names, among all of them (with or without ROOT).
    fn pick(&self, spec: &GenerationSpec) -> Option<Generation> {
        let all = self.repo.generations();
        let finished: Vec<&Generation> = all.iter().filter(|g| !g.checkpoint).collect();
        let names: Vec<&str> = finished.iter().map(|g| g.name.as_str()).collect();
        spec.pick(&names).map(|i| finished[i].clone())
    }

    /// The generations the root shows: finished, with a usable name, holding ROOT.
    pub(super) fn build_state(&self) -> State<R::Handle> {
        let mut generations = Vec::new();
        for generation in self.repo.generations().iter().filter(|g| !g.checkpoint) {
            let name = generation.name.as_bytes();
            if !valid_generation_name(name) {
                tracing::warn!(generation = %generation.name, "generation name clashes with the layout; hidden");
                continue;
            }
            match self.resolve_root(generation) {
                Ok(root) => {
                    let ino = InoKey::child(ROOT_INO, generation.id.as_bytes()).ino;
                    generations.push(GenView {
                        generation: generation.clone(),
                        ino,
                        root,
                        alias: None,
                    });
                }
                Err(RepoError::Damaged(msg)) => {
                    tracing::warn!(generation = %generation.name, "generation unreadable, hidden: {msg}")
                }
                Err(_) => {
                    tracing::debug!(generation = %generation.name, "ROOT missing; generation hidden")
                }
            }
        }
        if self.options.fold_identical {
            let names: Vec<&str> = generations
                .iter()
                .map(|g| g.generation.name.as_str())
                .collect();
            let keys: Vec<Option<u64>> = generations
                .iter()
                .map(|g| self.repo.dir_key(&g.root.handle))
                .collect();
            let aliases = crate::vfs::fold::aliases(&names, &keys);
            for (view, alias) in generations.iter_mut().zip(aliases) {
                view.alias = alias;
            }
        }
        State {
            generations,
            refreshed: now(),
        }
    }

    /// ROOT inside `generation`, dated with the generation's end time. ROOT must be a directory.
    fn resolve_root(&self, generation: &Generation) -> Result<Node<R::Handle>, RepoError> {
        let mut node = self.repo.root(generation)?;
        for part in &self.options.root {
            if node.meta.kind != FileKind::Dir {
                return Err(RepoError::NotDir);
            }
            node = self.repo.lookup(&node.handle, part)?;
        }
        if node.meta.kind != FileKind::Dir {
            return Err(RepoError::NotDir);
        }
        node.meta.mtime = generation.end;
        node.meta.ctime = generation.end;
        Ok(node)
    }

    /// Re-reads the repository and makes the kernel forget what changed at the root.
    pub(super) fn reread(&self) -> VfsResult<()> {
        let _one_at_a_time = lock(&self.refreshing);
        self.repo.refresh().map_err(|e| self.fail(e, "refresh"))?;
        let fresh = Arc::new(self.build_state());
        let old = std::mem::replace(
            &mut *self.state.write().unwrap_or_else(|p| p.into_inner()),
            fresh.clone(),
        );
        tracing::info!(generations = fresh.generations.len(), "repository re-read");
        if self.options.view == View::Versions {
            self.pin_merged_root(&fresh);
        }
        let Some(invalidator) = self.invalidator.get().cloned() else {
            return Ok(());
        };
        let gone: Vec<Vec<u8>> = old
            .generations
            .iter()
            .filter(|g| {
                fresh
                    .find(g.generation.name.as_bytes())
                    .is_none_or(|f| f.ino != g.ino)
            })
            .map(|g| {
                g.generation
                    .name
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec()
            })
            .collect();
        let groups: Vec<Ino> = lock(&self.groups).keys().copied().collect();
        // The kernel takes the root's lock to invalidate; a request that holds it may be waiting for
        // this very thread (one worker, or all of them busy), so invalidate from another thread and
        // wait only a bounded time: the kernel caches the root for ROOT_TTL at most anyway.
        let (done, finished) = std::sync::mpsc::channel();
        let invalidating = std::thread::Builder::new().spawn(move || {
            for name in gone {
                invalidator.entry(ROOT_INO, &name);
            }
            for group in groups {
                invalidator.inode(group);
            }
            invalidator.entry(ROOT_INO, LATEST_NAME);
            invalidator.inode(LATEST_INO);
            invalidator.inode(ROOT_INO);
            let _ = done.send(());
        });
        match invalidating {
            Ok(_) => {
                let _ = finished.recv_timeout(INVALIDATION_WAIT);
            }
            Err(err) => tracing::warn!(
                "cannot start a thread to refresh the kernel's view ({err}); the root shows the \
                 new generations within a second anyway"
            ),
        }
        Ok(())
    }

    pub(super) fn pid_text(&self) -> Vec<u8> {
        format!("{}\n", self.options.pid).into_bytes()
    }

    pub(super) fn root_meta(&self, state: &State<R::Handle>) -> Meta {
        let mut meta = Meta::synthetic(FileKind::Dir, 0o555, 0, state.refreshed);
        meta.nlink = u32::try_from(state.generations.len())
            .unwrap_or(u32::MAX)
            .saturating_add(2);
        self.owned(meta)
    }

    pub(super) fn latest_meta(&self, state: &State<R::Handle>) -> VfsResult<Meta> {
        let latest = state.latest().ok_or(VfsError::NotFound)?;
        let size = latest.generation.name.len() as u64;
        Ok(self.owned(Meta::synthetic(
            FileKind::Symlink,
            0o777,
            size,
            latest.generation.end,
        )))
    }

    pub(super) fn pid_meta(&self, state: &State<R::Handle>) -> Meta {
        let size = self.pid_text().len() as u64;
        self.owned(Meta::synthetic(
            FileKind::File,
            0o444,
            size,
            state.refreshed,
        ))
    }

    /// The entries of the root (prefix "") or of a group: generations, groups, and at the root
    /// `latest` and `.pid`.
    pub(super) fn generation_children(
        &self,
        state: &State<R::Handle>,
        prefix: &str,
    ) -> Vec<Child<R::Handle>> {
        let mut children: Vec<Child<R::Handle>> = Vec::new();
        let mut groups_seen = HashSet::new();
        for g in &state.generations {
            let Some(rest) = under(prefix, &g.generation.name) else {
                continue;
            };
            match rest.split_once('/') {
                Some((group, _)) => {
                    if groups_seen.insert(group.to_string()) {
                        let ino = self.group_ino(&join(prefix, group));
                        children.push(fixed_child(group.as_bytes(), FileKind::Dir, ino));
                    }
                }
                None if g.alias.is_some() => {
                    let ino = self.alias_ino(&g.generation);
                    children.push(fixed_child(rest.as_bytes(), FileKind::Symlink, ino));
                }
                None => children.push(Child {
                    name: rest.as_bytes().to_vec(),
                    kind: FileKind::Dir,
                    key: InoKey::child(ROOT_INO, g.generation.id.as_bytes()),
                    slot: Some(Inode::Node(Arc::new(Slot {
                        generation: g.ino,
                        node: g.root.clone(),
                    }))),
                    fixed: None,
                }),
            }
        }
        if prefix.is_empty() {
            if state.latest().is_some() {
                children.push(fixed_child(LATEST_NAME, FileKind::Symlink, LATEST_INO));
            }
            children.push(fixed_child(PID_NAME, FileKind::File, PID_INO));
        }
        children
    }

    /// The inode of the group directory `prefix`, registered so that the kernel can use it.
    fn group_ino(&self, prefix: &str) -> Ino {
        let mut key = b"\0group/".to_vec();
        key.extend_from_slice(prefix.as_bytes());
        let ino = InoKey::child(ROOT_INO, &key).ino;
        lock(&self.groups).insert(ino, prefix.to_string());
        ino
    }

    /// The inode of a folded generation's symlink, registered so that the kernel can use it.
    fn alias_ino(&self, generation: &Generation) -> Ino {
        let mut key = b"\0alias/".to_vec();
        key.extend_from_slice(generation.id.as_bytes());
        let ino = InoKey::child(ROOT_INO, &key).ino;
        lock(&self.aliases).insert(ino, generation.name.clone());
        ino
    }

    /// A folded generation's symlink target and its metadata.
    pub(super) fn alias_link(
        &self,
        state: &State<R::Handle>,
        name: &str,
    ) -> VfsResult<(String, Meta)> {
        let view = state.find(name.as_bytes()).ok_or(VfsError::NotFound)?;
        let target = view.alias.as_deref().ok_or(VfsError::NotFound)?;
        let link = crate::vfs::fold::relative_link(name, target);
        let meta = Meta::synthetic(
            FileKind::Symlink,
            0o777,
            link.len() as u64,
            view.generation.end,
        );
        Ok((link, self.owned(meta)))
    }

    pub(super) fn group_meta(&self, state: &State<R::Handle>, prefix: &str) -> Meta {
        let newest = state
            .generations
            .iter()
            .filter(|g| under(prefix, &g.generation.name).is_some())
            .map(|g| g.generation.end)
            .max()
            .unwrap_or(state.refreshed);
        self.owned(Meta::synthetic(FileKind::Dir, 0o555, 0, newest))
    }

    /// Looks `name` up in the root (prefix "") or in a group directory.
    pub(super) fn lookup_generation(&self, prefix: &str, name: &[u8]) -> VfsResult<Entry> {
        if prefix.is_empty() && (name == LATEST_NAME || name == PID_NAME) {
            return self.getattr(if name == LATEST_NAME {
                LATEST_INO
            } else {
                PID_INO
            });
        }
        if !names::is_plain(name) {
            return Err(VfsError::NotFound);
        }
        let name = std::str::from_utf8(name).map_err(|_| VfsError::NotFound)?;
        let full = join(prefix, name);
        let state = self.state();
        if let Some(view) = state.find(full.as_bytes()) {
            if view.alias.is_some() {
                return self.getattr(self.alias_ino(&view.generation));
            }
            let key = InoKey::child(ROOT_INO, view.generation.id.as_bytes());
            let slot = Slot {
                generation: view.ino,
                node: view.root.clone(),
            };
            let mut entry = self.remember(key, slot);
            entry.ttl = ROOT_TTL;
            return Ok(entry);
        }
        let grouped = state
            .generations
            .iter()
            .any(|g| under(&full, &g.generation.name).is_some_and(|r| !r.is_empty()));
        if !grouped {
            return Err(VfsError::NotFound);
        }
        let ino = self.group_ino(&full);
        Ok(Entry {
            attr: Attr {
                ino,
                meta: self.group_meta(&state, &full),
            },
            ttl: ROOT_TTL,
        })
    }
}

/// `user.genmount.{id,time,host,paths,tags}` of a generation, for scripts and file managers.
pub(super) fn generation_xattrs(generation: &Generation) -> crate::repo::Xattrs {
    let mut out = vec![
        (
            b"user.genmount.id".to_vec(),
            generation.id.clone().into_bytes(),
        ),
        (
            b"user.genmount.time".to_vec(),
            generation.end.to_rfc3339().into_bytes(),
        ),
    ];
    if let Some(host) = &generation.host {
        out.push((b"user.genmount.host".to_vec(), host.clone().into_bytes()));
    }
    if !generation.paths.is_empty() {
        out.push((
            b"user.genmount.paths".to_vec(),
            generation.paths.join("\n").into_bytes(),
        ));
    }
    if !generation.tags.is_empty() {
        out.push((
            b"user.genmount.tags".to_vec(),
            generation.tags.join(",").into_bytes(),
        ));
    }
    out
}

/// What follows `prefix/` in a generation's name (all of it for the root's prefix "").
fn under<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(name);
    }
    name.strip_prefix(prefix)?.strip_prefix('/')
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// A generation's name: `/`-separated components that are plain names, the first not a name the
/// root reserves.
fn valid_generation_name(name: &[u8]) -> bool {
    let mut parts = name.split(|&b| b == b'/');
    let first_ok = parts
        .next()
        .is_some_and(|first| first != LATEST_NAME && first != PID_NAME && names::is_plain(first));
    first_ok && name.split(|&b| b == b'/').all(names::is_plain)
}

fn fixed_child<H>(name: &[u8], kind: FileKind, ino: Ino) -> Child<H> {
    Child {
        name: name.to_vec(),
        kind,
        key: InoKey::child(ROOT_INO, name),
        slot: None,
        fixed: Some(ino),
    }
}
