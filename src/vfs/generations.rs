//! The generations a mount shows: finished, with a name the root can hold, holding ROOT, and (with
//! `--fold-identical`) which of them repeat the tree of the one before.

use std::sync::Arc;

use super::inodes::InoKey;
use super::same_tree;
use super::{GenerationSpec, Ino, ROOT_INO};
use crate::error::RepoError;
use crate::meta::{FileKind, Node, Timestamp};
use crate::names;
use crate::repo::{Generation, Repository};

/// The symlink to the newest generation.
pub const LATEST_NAME: &[u8] = b"latest";
/// The file that gives the daemon's pid and refreshes the mount when closed.
pub const PID_NAME: &[u8] = b".pid";
/// The list of what was served as zeros in place of lost data (with `--allow-damaged`).
pub const DAMAGED_NAME: &[u8] = b".damaged";

/// A generation as the mount shows it.
pub struct GenView<H> {
    pub generation: Generation,
    /// Its directory's inode: also what hardlinks inside it are keyed by.
    pub ino: Ino,
    /// ROOT of the generation, with the generation's end time as mtime and ctime.
    pub root: Node<H>,
    /// With `fold_identical`: the generation whose tree this one repeats, shown as a symlink to it.
    pub alias: Option<String>,
}

/// The visible generations, oldest first, as of the last refresh.
pub struct State<H> {
    pub generations: Vec<GenView<H>>,
    pub refreshed: Timestamp,
}

impl<H> State<H> {
    pub fn find(&self, name: &[u8]) -> Option<&GenView<H>> {
        self.generations
            .iter()
            .find(|g| g.generation.name.as_bytes() == name)
    }

    pub fn latest(&self) -> Option<&GenView<H>> {
        self.generations.last()
    }
}

/// The generations the mount shows: finished, with a usable name, holding `subtree` (ROOT's
/// components, outermost first).
pub fn visible<R: Repository>(
    repo: &R,
    subtree: &[Vec<u8>],
    fold_identical: bool,
) -> State<R::Handle> {
    let mut generations = Vec::new();
    for generation in repo.generations().iter().filter(|g| !g.checkpoint) {
        let name = generation.name.as_bytes();
        if !valid_generation_name(name) {
            tracing::warn!(generation = %generation.name, "generation name clashes with the layout; hidden");
            continue;
        }
        match resolve_root(repo, subtree, generation) {
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
    if fold_identical {
        let names: Vec<&str> = generations
            .iter()
            .map(|g| g.generation.name.as_str())
            .collect();
        let keys: Vec<Option<u64>> = generations
            .iter()
            .map(|g| repo.dir_key(&g.root.handle))
            .collect();
        let aliases = same_tree::aliases(&names, &keys);
        for (view, alias) in generations.iter_mut().zip(aliases) {
            view.alias = alias;
        }
    }
    State {
        generations,
        refreshed: Timestamp::now(),
    }
}

/// The finished generation `spec` names, among all of them (with or without ROOT).
pub fn pick<R: Repository>(repo: &R, spec: &GenerationSpec) -> Option<Generation> {
    let all = repo.generations();
    let finished: Vec<&Generation> = all.iter().filter(|g| !g.checkpoint).collect();
    let names: Vec<&str> = finished.iter().map(|g| g.name.as_str()).collect();
    spec.pick(&names).map(|i| finished[i].clone())
}

/// ROOT inside `generation`, dated with the generation's end time. ROOT must be a directory.
fn resolve_root<R: Repository>(
    repo: &R,
    subtree: &[Vec<u8>],
    generation: &Generation,
) -> Result<Node<R::Handle>, RepoError> {
    let mut node = repo.root(generation)?;
    for part in subtree {
        if node.meta.kind != FileKind::Dir {
            return Err(RepoError::NotDir);
        }
        node = repo.lookup(&node.handle, part)?;
    }
    if node.meta.kind != FileKind::Dir {
        return Err(RepoError::NotDir);
    }
    node.meta.mtime = generation.end;
    node.meta.ctime = generation.end;
    Ok(node)
}

/// A generation's name: `/`-separated components that are plain names, the first not a name the
/// root reserves.
fn valid_generation_name(name: &[u8]) -> bool {
    let mut parts = name.split(|&b| b == b'/');
    let first_ok = parts.next().is_some_and(|first| {
        ![LATEST_NAME, PID_NAME, DAMAGED_NAME].contains(&first) && names::is_plain(first)
    });
    first_ok && name.split(|&b| b == b'/').all(names::is_plain)
}

/// The generations of `state` as sources of the versions view's merged root.
pub fn sources<H: Clone>(state: &State<H>) -> Vec<super::versions::Source<H>> {
    state
        .generations
        .iter()
        .map(|g| super::versions::Source {
            generation: g.ino,
            generation_name: Arc::from(g.generation.name.as_str()),
            node: g.root.clone(),
        })
        .collect()
}
