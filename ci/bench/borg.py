"""The borg section (issue #14): genmount against `borg mount` on a repokey-encrypted borg 1.x
repository holding part of the source tree (the big random file, the small files, the tree)."""

from __future__ import annotations

import os
import signal

from . import dataset
from .common import PASSWORD, Daemon, run
from .dataset import BIG_RANDOM
from .measure import Measure, find_count, first_byte, ls_lr, read_all_files, run_all, sequential_read
from .report import Part, pair_rows, specs_of

TITLE = "borg: genmount against `borg mount`"
ARCHIVE = "bench"
CONTENTS = [BIG_RANDOM, "small", "tree"]


def borg_env(cfg):
    # BORG_BASE_DIR keeps borg's security and config directories in BENCH_DIR, not in ~/.
    return {"BORG_PASSPHRASE": PASSWORD.strip(), "BORG_BASE_DIR": str(cfg.dir / "borg-base")}


def ensure_repo(cfg, repo, source_recipe):
    def make():
        env = {**os.environ, **borg_env(cfg)}
        run(["borg", "init", "--encryption", "repokey", repo], 300, env=env)
        run(["borg", "create", f"{repo}::{ARCHIVE}", *CONTENTS], 6 * 3600, cwd=cfg.data, env=env)

    dataset.ensure(cfg, "borg-repo", {"source": source_recipe, "contents": CONTENTS},
                   [repo, cfg.dir / "borg-base"], make)


def measures(cfg):
    return [
        Measure("seq_random", "sequential read, random file", "MB/s", True,
                lambda cfg, s: sequential_read(s.root / BIG_RANDOM, cfg.big_bytes)),
        Measure("small_files", "read all small files", "s", False,
                lambda cfg, s: read_all_files(s.root / "small", cfg.small)),
        Measure("find", "find over the tree", "s", False,
                lambda cfg, s: find_count(cfg, s.root / "tree", 1 + dataset.tree_dirs(cfg.tree) + cfg.tree)),
        Measure("ls_lr", "ls -lR over the tree", "s", False, lambda cfg, s: ls_lr(cfg, s.root / "tree")),
        Measure("first_byte", "mount start to first byte", "s", False,
                lambda cfg, s: first_byte(cfg, s, BIG_RANDOM), cold_start=True),
    ]


GOALS = {"seq_random": 5, "ls_lr": 5}
HEADER = ["measurement", "genmount", "borg mount", "genmount vs borg mount (>1: genmount better)",
          "target (issue #14)"]


def run_section(cfg):
    source = dataset.ensure_source(cfg)
    repo = cfg.dir / "borg-repo"
    ensure_repo(cfg, repo, source)
    sizes = dataset.source_sizes(cfg)
    env = borg_env(cfg)

    def genmount(cfg, cache):
        return [cfg.genmount, "mount", repo, cfg.mnt]

    def borg_mount(cfg, cache):
        # Foreground (-f), with an empty cache directory of its own as every mount here has.
        return ["env", f"BORG_CACHE_DIR={cache}", "borg", "mount", "-f", repo, cfg.mnt]

    # Both show the archive as a directory named as in borg; `borg mount` of the whole repository
    # loads an archive at its first access, inside the measurement that makes it, as a user waits.
    targets = [Daemon("genmount", "genmount", genmount, ARCHIVE, signal.SIGTERM, env),
               Daemon("borg", "borg mount", borg_mount, ARCHIVE, None, env)]
    all_measures = measures(cfg)
    results = run_all(cfg, "borg", targets, all_measures)
    rows = pair_rows(results, "borg", specs_of(all_measures, GOALS))
    repo_mib = dataset.total_size(repo.rglob("*")) / 2**20
    return Part(
        title=TITLE,
        intro=[f"Data set: from the restic section's source tree, {BIG_RANDOM} ({cfg.big_mb} MiB), "
               f"the {cfg.small:,} small files ({sizes['small_bytes'] / 2**20:.0f} MiB) and the tree of "
               f"{cfg.tree:,} files, in one archive (`borg create REPO::{ARCHIVE} {' '.join(CONTENTS)}`)",
               f"Repository: borg 1.x, `repokey` encryption, default compression (lz4), {repo_mib:.0f} MiB; "
               "both tools mount the whole repository and read the archive's directory"],
        header=HEADER, rows=rows,
        notes=["`borg mount` decodes an archive's whole item list at its first access, and each "
               "measurement here is a fresh mount: that wait is inside every measurement, as a user "
               "who mounts and then reads sees it (genmount likewise decodes the item list at the "
               "first listing). Issue #14's goal: 5x on big reads and ls -lR."],
        failures=results.failures, values=results.values,
    )
