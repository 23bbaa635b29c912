"""The scale section (issue #18): genmount against `restic mount` on a restic repository of many
tiny files (BENCH_SCALE_N in BENCH_SCALE_N/100 folders, two snapshots): time to the first listing,
walks of the whole snapshot, and memory, with an empty local cache."""

from __future__ import annotations

import os
import subprocess
import time

from . import dataset
from .common import MountFailed, drop_caches, fresh_dir, is_mounted, run, wait_until
from .dataset import FILES_PER_DIR
from .measure import Measure, find_count, ls_lr, run_all
from .report import Part, fmt, pair_rows
from .restic import restic_args, restic_targets

TITLE = "scale: many tiny files, genmount against `restic mount`"


def ensure_repo(cfg, src, repo):
    def make():
        dataset.write_tree(src, cfg.scale_n, digits=5)
        run([*restic_args(cfg, repo), "init", "--repository-version", "2"], 300)
        backup = [*restic_args(cfg, repo), "backup", "--no-cache", "--quiet", "."]
        run(backup, 6 * 3600, cwd=src)
        # The second snapshot differs by one file, as a day's backup of an unchanged tree would.
        (src / "d00000" / "f000").write_text("changed\n")
        run(backup, 6 * 3600, cwd=src)

    dataset.ensure(cfg, "scale", {"n": cfg.scale_n}, [src, repo], make)


def first_listing(cfg, s):
    """Seconds from starting the daemon to the first complete listing of the snapshot's root. On the
    way it records when the mount appeared and the daemon's RSS then (before any listing: what
    starting costs) and right after that first listing (the index and the root's tree loaded)."""
    dirs = dataset.tree_dirs(cfg.scale_n)
    s.record("mounted", wait_until(cfg, s, lambda: is_mounted(cfg.mnt), "mount"))
    s.record("rss_mounted", s.rss_mib())
    elapsed = wait_until(cfg, s, lambda: len(os.listdir(s.root)) == dirs, f"listing of {dirs} folders")
    s.record("rss_listed", s.rss_mib())
    return elapsed


def index_alone(cfg, repo):
    """Seconds and peak RSS (MiB) of `genmount generations` on the repository, cold, with an empty
    cache: it opens the repository and loads its whole index through rustic_core, as a mount does
    before it lists anything, and lists the snapshots: rustic_core's index is the floor of both."""
    cache = fresh_dir(cfg.dir / "index-cache")
    args = [cfg.genmount, "generations", "--json", repo, "--password-file", cfg.password,
            "--cache-dir", cache]
    drop_caches()
    start = time.monotonic()
    child = subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait4 gives this child's own peak RSS (getrusage would give the largest of all children).
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise MountFailed(f"genmount generations exited with {child.returncode}")
    return elapsed, usage.ru_maxrss / 1024


# The snapshot's root is a symlink (`latest`): a trailing / makes find and ls -lR walk what it names.


def find_then_rss(cfg, s):
    elapsed = find_count(cfg, f"{s.root}/", 1 + dataset.tree_dirs(cfg.scale_n) + cfg.scale_n)
    s.record("rss_after_find", s.rss_mib())
    return elapsed


MEASURES = [
    Measure("first_ls", "mount start to the first `ls` of the snapshot root", "s", False, first_listing,
            cold_start=True),
    Measure("find", "`find latest/`", "s", False, find_then_rss),
    Measure("ls_lr", "`ls -lR latest/`", "s", False, lambda cfg, s: ls_lr(cfg, f"{s.root}/")),
]
# Rows: (results key, label, unit, higher is better, issue #18's goal for the oriented ratio).
ROWS = [
    ("first_ls", "mount start to the first `ls` of the snapshot root", "s", False, 2),
    ("mounted", "mount start to the mount appearing", "s", False, None),
    ("find", "`find latest/`", "s", False, 3),
    ("ls_lr", "`ls -lR latest/`", "s", False, 3),
    ("rss_after_find", "daemon RSS after the find", "MiB", False, 2),
    ("rss_mounted", "daemon RSS when the mount appears, before any listing", "MiB", False, None),
    ("rss_listed", "daemon RSS after the first listing", "MiB", False, None),
    ("rss", "daemon peak RSS", "MiB", False, None),
]
HEADER = ["measurement", "genmount", "restic mount", "genmount vs restic mount (>1: genmount better)",
          "target (issue #18)"]


def run_section(cfg):
    src, repo = cfg.dir / "scale-src", cfg.dir / "scale-repo"
    ensure_repo(cfg, src, repo)
    limits = {"index_s": lambda cfg: index_alone(cfg, repo)[0],
              "index_rss": lambda cfg: index_alone(cfg, repo)[1]}
    results = run_all(cfg, "scale", restic_targets(cfg, repo), MEASURES, limits)
    rows = pair_rows(results, "restic", ROWS)
    for key, label, unit in [("index_s", "index alone: `genmount generations`, cold", "s"),
                             ("index_rss", "index alone: peak RSS of that", "MiB")]:
        rows.append([f"{label} ({unit})", fmt(results.median("limit", key), unit), "", "", ""])
    dirs = dataset.tree_dirs(cfg.scale_n)
    repo_mib = dataset.total_size(repo.rglob("*")) / 2**20
    return Part(
        title=TITLE,
        intro=[f"Data set: {cfg.scale_n:,} files of a few bytes in {dirs:,} folders of {FILES_PER_DIR} at "
               f"the snapshot's root (BENCH_SCALE_N); two snapshots, the second with one file changed",
               f"Repository: restic format 2, {repo_mib:.0f} MiB; both mounts start with an empty cache"],
        header=HEADER, rows=rows,
        notes=["Issue #18's goals: RSS after the walk and the time to the first listing at most half "
               "of `restic mount`'s (ratio ≥2 here), find and ls -lR at least 3x faster.",
               "The first listing, the mount's appearance and the two RSS values beside them come from "
               "one cold start per run: polling `/proc/mounts`, then listing the snapshot root until "
               f"all {dirs:,} folders are there.",
               "Index alone: `genmount generations --json` on the repository with an empty cache and "
               "a cold page cache: it loads the whole index through rustic_core, as a mount does before "
               "its first listing, then lists the snapshots; its time and peak RSS are the floor that "
               "rustic_core's index sets for the mount's start and memory."],
        failures=results.failures, values=results.values,
    )
