//! The snapshot catalogue: which restic snapshots are shown (as restic's `--host`, `--tag` and
//! `--path` select them), oldest first, and the generations made of them, named by the template.

use std::collections::HashMap;
use std::sync::Arc;

use rustic_core::TreeId;
use rustic_core::repofile::SnapshotFile;

use super::node;
use crate::meta::Timestamp;
use crate::repo::Generation;
use crate::repo::naming::{self, SnapshotInfo};

/// Which snapshots to show, as restic's `--host`, `--tag` and `--path` select them.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Any of these hosts (none: every host).
    pub hosts: Vec<String>,
    /// Any of these tag lists, each of which the snapshot must carry in full.
    pub tags: Vec<Vec<String>>,
    /// Every one of these paths must be among the snapshot's paths.
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    pub fn matches(&self, snapshot: &SnapshotFile) -> bool {
        let host = self.hosts.is_empty() || self.hosts.contains(&snapshot.hostname);
        let tags = self.tags.is_empty()
            || self
                .tags
                .iter()
                .any(|all| all.iter().all(|tag| snapshot.tags.contains(tag)));
        let paths = self.paths.iter().all(|path| snapshot.paths.contains(path));
        host && tags && paths
    }
}

/// The snapshots and the generations made of them.
pub(super) struct Catalogue {
    /// Every snapshot, shown or not: what the next refresh updates.
    pub snapshots: Vec<SnapshotFile>,
    pub generations: Arc<[Generation]>,
    /// Each shown generation's tree and time, by generation id.
    trees: HashMap<String, (TreeId, Timestamp)>,
}

impl Catalogue {
    pub fn empty() -> Catalogue {
        Catalogue {
            snapshots: Vec::new(),
            generations: Arc::from(Vec::new()),
            trees: HashMap::new(),
        }
    }

    /// The generations of the snapshots `filter` selects, oldest first, named by `template`.
    pub fn new(
        mut snapshots: Vec<SnapshotFile>,
        filter: &SnapshotFilter,
        template: &str,
    ) -> Catalogue {
        snapshots.sort_by(|a, b| {
            a.time
                .timestamp()
                .cmp(&b.time.timestamp())
                .then_with(|| a.id.cmp(&b.id))
        });
        let shown: Vec<&SnapshotFile> = snapshots.iter().filter(|s| filter.matches(s)).collect();
        let infos: Vec<SnapshotInfo> = shown.iter().map(|s| info_of(s)).collect();
        let names = naming::assign_names(template, &infos);
        let mut trees = HashMap::new();
        let generations: Vec<Generation> = shown
            .iter()
            .zip(names)
            .map(|(snapshot, name)| {
                let id = snapshot.id.to_hex().as_str().to_string();
                let time = node::timestamp(&snapshot.time.timestamp());
                trees.insert(id.clone(), (snapshot.tree, time));
                generation(snapshot, name, id, time)
            })
            .collect();
        Catalogue {
            snapshots,
            generations: generations.into(),
            trees,
        }
    }

    /// The root tree of a generation and the snapshot's time.
    pub fn root(&self, generation: &Generation) -> Option<(TreeId, Timestamp)> {
        self.trees.get(&generation.id).copied()
    }
}

fn info_of(snapshot: &SnapshotFile) -> SnapshotInfo {
    let long_id = snapshot.id.to_hex().as_str().to_string();
    SnapshotInfo {
        name: String::new(),
        time: snapshot.time.strftime(naming::TIME_FORMAT).to_string(),
        short_id: long_id.chars().take(8).collect(),
        long_id,
        host: snapshot.hostname.clone(),
        user: snapshot.username.clone(),
        tags: snapshot.tags.iter().cloned().collect(),
        label: snapshot.label.clone(),
    }
}

fn generation(snapshot: &SnapshotFile, name: String, id: String, time: Timestamp) -> Generation {
    let summary = snapshot.summary.as_ref();
    Generation {
        name,
        id,
        end: summary.map_or(time, |s| node::timestamp(&s.backup_end.timestamp())),
        checkpoint: false,
        size: summary.map(|s| s.total_bytes_processed),
        files: summary.map(|s| s.total_files_processed),
        host: Some(snapshot.hostname.clone()),
        paths: snapshot.paths.iter().cloned().collect(),
        tags: snapshot.tags.iter().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(host: &str, tags: &str, paths: &str) -> SnapshotFile {
        SnapshotFile {
            hostname: host.into(),
            tags: tags.parse().unwrap_or_default(),
            paths: paths.parse().unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn filters_select_as_restic_does() {
        let s = snapshot("laptop", "daily,home", "/home,/etc");
        let all = SnapshotFilter::default();
        assert!(all.matches(&s));
        let host = SnapshotFilter {
            hosts: vec!["server".into(), "laptop".into()],
            ..Default::default()
        };
        assert!(host.matches(&s));
        let wrong_host = SnapshotFilter {
            hosts: vec!["server".into()],
            ..Default::default()
        };
        assert!(!wrong_host.matches(&s));
        let both_tags = SnapshotFilter {
            tags: vec![vec!["daily".into(), "home".into()]],
            ..Default::default()
        };
        assert!(both_tags.matches(&s));
        let missing_tag = SnapshotFilter {
            tags: vec![vec!["daily".into(), "work".into()]],
            ..Default::default()
        };
        assert!(!missing_tag.matches(&s));
        let any_list = SnapshotFilter {
            tags: vec![vec!["work".into()], vec!["home".into()]],
            ..Default::default()
        };
        assert!(any_list.matches(&s));
        let paths = SnapshotFilter {
            paths: vec!["/home".into(), "/etc".into()],
            ..Default::default()
        };
        assert!(paths.matches(&s));
        let other_path = SnapshotFilter {
            paths: vec!["/home".into(), "/srv".into()],
            ..Default::default()
        };
        assert!(!other_path.matches(&s));
    }
}
