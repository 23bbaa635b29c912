//! `genmount generations`: a repository's finished generations, as an aligned table, a JSON array or JSON lines.

use super::args::GenerationsArgs;
use super::backend::Backend;
use crate::error::OpenError;
use crate::repo::borg::{BorgOptions, BorgRepo};
use crate::repo::folder::FolderRepo;
use crate::repo::restic::ResticRepo;
use crate::repo::{Generation, Repository};

/// Prints the generations of the repository `args` names, oldest first.
pub(super) fn generations(args: GenerationsArgs, progress: bool) -> Result<(), OpenError> {
    let list = match Backend::detect(&args.repo, &args.access, progress)? {
        Backend::Folder(path) => FolderRepo::open(&path)?.generations(),
        // As for restic: a listing is over at once, no lock to hold.
        Backend::Borg(options) => BorgRepo::open(&BorgOptions {
            lock: false,
            ..options
        })?
        .generations(),
        Backend::BorgOpened(borg) => borg.generations(),
        Backend::Restic(mut options) => {
            // The lock keeps a prune from pulling data away under a mount; a listing is over at once.
            options.lock = false;
            ResticRepo::open(&options)?.generations()
        }
    };
    // As in the mount, which hides unfinished and checkpoint generations.
    let finished: Vec<&Generation> = list.iter().filter(|g| !g.checkpoint).collect();
    if args.json {
        let all: Vec<serde_json::Value> = finished.iter().map(|g| describe_json(g)).collect();
        println!("{}", serde_json::Value::Array(all));
    } else if args.json_lines {
        for generation in finished {
            println!("{}", describe_json(generation));
        }
    } else {
        println!("{}", table(&finished));
    }
    Ok(())
}

/// A generation's fields as JSON; `files` and `size` are null where its backend does not know them.
fn describe_json(g: &Generation) -> serde_json::Value {
    serde_json::json!({
        "name": g.name,
        "id": g.id,
        "time": g.end.to_rfc3339(),
        "host": g.host,
        "paths": g.paths,
        "tags": g.tags,
        "files": g.files,
        "size": g.size,
    })
}

/// Generations as an aligned table: name, time, host, paths, files, size.
fn table(list: &[&Generation]) -> String {
    let mut rows = vec![["NAME", "TIME", "HOST", "PATHS", "FILES", "SIZE"].map(String::from)];
    rows.extend(list.iter().map(|g| row(g)));
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One generation's cells; `-` for what its backend does not know.
fn row(g: &Generation) -> [String; 6] {
    let known = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    [
        g.name.clone(),
        g.end.to_rfc3339(),
        g.host.clone().unwrap_or_else(|| "-".into()),
        if g.paths.is_empty() {
            "-".into()
        } else {
            g.paths.join(",")
        },
        known(g.files),
        g.size.map_or_else(|| "-".to_string(), human_size),
    ]
}

/// `1.5 GiB`, `512 B`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }
}
