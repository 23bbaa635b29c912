"""The restic section: genmount against `restic mount` on one restic repository of the source tree,
with the anchors of issue #15: `restic restore` of the small-file folder and of the big file, beside
copying them out of both mounts."""

from __future__ import annotations

import signal

from . import dataset
from .common import Daemon, Plain, run
from .dataset import BIG_COMPRESSIBLE, BIG_RANDOM, FILES_PER_DIR
from .measure import (Measure, check_copy, copy_out, disk_copy_limit, disk_files_limit, disk_read_limit,
                      find_count, first_byte, ls_lr, random_reads, read_all_files, run_all,
                      sequential_read, timed_command)
from .report import Part, fmt, ratio, target_met, versus

TITLE = "restic: genmount against `restic mount` and `restic restore`"


def restic_args(cfg, repo):
    return ["restic", "-r", repo, "--password-file", cfg.password]


def restic_targets(cfg, repo, snapshot_root=""):
    """genmount and `restic mount` on `repo`; the latest snapshot's `snapshot_root` is their root."""
    def genmount(cfg, cache):
        return [cfg.genmount, "mount", repo, cfg.mnt, "--password-file", cfg.password, "--cache-dir", cache]

    def restic_mount(cfg, cache):
        return [*restic_args(cfg, repo), "mount", cfg.mnt, "--cache-dir", cache]

    sub = f"/{snapshot_root}" if snapshot_root else ""
    return [Daemon("genmount", "genmount", genmount, "latest" + sub, signal.SIGTERM),
            Daemon("restic", "restic mount", restic_mount, "snapshots/latest" + sub, signal.SIGINT)]


def repo_sizes(repo):
    packs = [p for p in (repo / "data").rglob("*") if p.is_file()]
    return {"repo_bytes": dataset.total_size(repo.rglob("*")), "pack_bytes": dataset.total_size(packs),
            "packs": packs}


def ensure_repo(cfg, repo, source_recipe):
    def make():
        # Repository format 2 so that restic compresses, and genmount has to decompress.
        run([*restic_args(cfg, repo), "init", "--repository-version", "2"], 300)
        # --no-cache: nothing is left in ~/.cache, and every tool starts from the same empty cache.
        run([*restic_args(cfg, repo), "backup", "--no-cache", "--quiet", "."], 6 * 3600, cwd=cfg.data)

    dataset.ensure(cfg, "restic-repo", {"source": source_recipe}, [repo], make)


def restore(cfg, s, repo, include, expected_files, expected_bytes):
    """Seconds `restic restore` takes to write `include` (a path in the snapshot) to BENCH_DIR/out,
    with an empty cache of its own."""
    elapsed = timed_command([*restic_args(cfg, repo), "restore", "latest", "--target", cfg.out,
                             "--include", f"/{include}", "--cache-dir", s.cache], cfg)[0]
    check_copy(cfg.out / include, expected_files, expected_bytes)
    return elapsed


def measures(cfg, repo, small_bytes, packs):
    mounts = ("genmount", "restic")

    def prime(cfg):
        # The same cache below this VM for every target, whichever went before (see the folders
        # section, where the order decided the medians): each starts after a read of the packs.
        disk_read_limit(packs)

    return [
        Measure("seq_random", "sequential read, random file", "MB/s", True,
                lambda cfg, s: sequential_read(s.root / BIG_RANDOM, cfg.big_bytes), only=mounts,
                prime=prime),
        Measure("seq_compressible", "sequential read, compressible file", "MB/s", True,
                lambda cfg, s: sequential_read(s.root / BIG_COMPRESSIBLE, cfg.big_bytes), only=mounts,
                prime=prime),
        Measure("random_4k", "4 KiB random reads, random file", "reads/s", True,
                lambda cfg, s: random_reads(s.root / BIG_RANDOM, cfg.big_bytes, cfg.random_reads),
                only=mounts),
        Measure("small_files", "read all small files", "s", False,
                lambda cfg, s: read_all_files(s.root / "small", cfg.small), only=mounts),
        Measure("find", "find over the tree", "s", False,
                lambda cfg, s: find_count(cfg, s.root / "tree", 1 + dataset.tree_dirs(cfg.tree) + cfg.tree),
                only=mounts),
        Measure("ls_lr", "ls -lR over the tree", "s", False, lambda cfg, s: ls_lr(cfg, s.root / "tree"),
                only=mounts),
        Measure("first_byte", "mount start to first byte", "s", False,
                lambda cfg, s: first_byte(cfg, s, BIG_RANDOM), cold_start=True, only=mounts),
        Measure("cp_small", "cp -r of the small-file folder", "s", False,
                lambda cfg, s: copy_out(cfg, s.root / "small", cfg.out / "small", cfg.small, small_bytes),
                per_target={"restore": lambda cfg, s: restore(cfg, s, repo, "small", cfg.small,
                                                              small_bytes)}),
        Measure("cp_big", "cp of the big random file", "s", False,
                lambda cfg, s: copy_out(cfg, s.root / BIG_RANDOM, cfg.out / BIG_RANDOM, 1, cfg.big_bytes),
                per_target={"restore": lambda cfg, s: restore(cfg, s, repo, BIG_RANDOM, 1,
                                                              cfg.big_bytes)},
                prime=prime),
    ]


# The goals of issue #15 for this table: (against whom, at least).
GOALS = {
    "cp_small": [("restore", 1.5), ("restic", 5)],
    "cp_big": [("restore", 2.5)],
    "find": [("restic", 5)],
    "ls_lr": [("restic", 5)],
}
LIMITS_OF = {"seq_random": "src_random", "seq_compressible": "src_compressible",
             "small_files": "src_small", "cp_small": "src_cp_small", "cp_big": "src_cp_big"}
SHORT = {"restic": "mount", "restore": "restore"}


def rows(results, all_measures):
    rss = Measure("rss", "daemon peak RSS", "MiB", False, None)
    out = []
    for m in all_measures + [rss]:
        g, r, rr = (results.median(k, m.key) for k in ("genmount", "restic", "restore"))
        goals = "; ".join(f"vs {SHORT[peer]} " + target_met(g, results.median(peer, m.key),
                                                             m.higher_is_better, goal)
                          for peer, goal in GOALS.get(m.key, []))
        source = packs = of_packs = ""
        if m.key in LIMITS_OF:
            source = fmt(results.median("limit", LIMITS_OF[m.key]), m.unit)
        if m.key in LIMITS_OF and m.unit == "MB/s":
            packs = fmt(results.median("limit", "packs"), "MB/s")
            of_packs = ratio(g, results.median("limit", "packs"))
        has_restore = "restore" in m.per_target
        out.append([f"{m.label} ({m.unit})", fmt(g, m.unit), fmt(r, m.unit),
                    fmt(rr, m.unit) if has_restore else "", versus(g, r, m.higher_is_better),
                    versus(g, rr, m.higher_is_better) if has_restore else "", goals,
                    source, packs, of_packs])
    return out


def copy_floor(results, what, label, measure, limit):
    """A note on what bounds a copy target: the copy from the page cache, which reads nothing."""
    warm, restored = results.median("limit", limit), results.median("restore", measure)
    return (f"The floor of the {what} copy: `cp` of {label} from the page cache (nothing read from "
            f"disk) into the same place takes {fmt(warm, 's')} s, {ratio(restored, warm)}x faster "
            "than `restic restore`: no mount can copy it faster than that.")


HEADER = ["measurement", "genmount", "restic mount", "restic restore", "vs restic mount",
          "vs restic restore", "target (issue #15)", "from the source disk", "raw pack read",
          "genmount / raw pack read"]


def run_section(cfg):
    source = dataset.ensure_source(cfg)
    repo = cfg.dir / "repo"
    ensure_repo(cfg, repo, source)
    sizes = {**dataset.source_sizes(cfg), **repo_sizes(repo)}
    targets = restic_targets(cfg, repo) + [Plain("restore", "restic restore")]
    all_measures = measures(cfg, repo, sizes["small_bytes"], sorted(sizes["packs"]))
    limits = {
        "packs": lambda cfg: disk_read_limit(sorted(sizes["packs"])),
        "src_random": lambda cfg: disk_read_limit([cfg.data / BIG_RANDOM]),
        "src_compressible": lambda cfg: disk_read_limit([cfg.data / BIG_COMPRESSIBLE]),
        "src_small": lambda cfg: disk_files_limit(cfg.data / "small", cfg.small),
        "src_cp_small": lambda cfg: disk_copy_limit(cfg, cfg.data / "small", cfg.small,
                                                    sizes["small_bytes"]),
        "src_cp_big": lambda cfg: disk_copy_limit(cfg, cfg.data / BIG_RANDOM, 1, cfg.big_bytes),
        "warm_cp_small": lambda cfg: disk_copy_limit(cfg, cfg.data / "small", cfg.small,
                                                     sizes["small_bytes"], warm=True),
        "warm_cp_big": lambda cfg: disk_copy_limit(cfg, cfg.data / BIG_RANDOM, 1, cfg.big_bytes,
                                                   warm=True),
    }
    results = run_all(cfg, "restic", targets, all_measures, limits)
    return Part(
        title=TITLE,
        intro=[f"Data set: {dataset.describe_source(cfg, sizes)}; one snapshot (`restic backup .`)",
               f"Repository: format 2 (compressed), {sizes['repo_bytes'] / 2**20:.0f} MiB, "
               f"{len(sizes['packs']):,} pack files of {sizes['pack_bytes'] / 2**20:.0f} MiB"],
        header=HEADER, rows=rows(results, all_measures),
        notes=[
            "*from the source disk*: the same file read, the same files read or copied, straight "
            "from the disk they were backed up from (cold); *raw pack read*: every pack file under "
            "the repository's `data/` read straight from disk, over their total size: the limits a "
            "mount could approach.",
            "The big reads and the big file's copies (restore too) each start after a read of every "
            "pack file, the page cache then dropped, so that the host's cache of this VM's disk is "
            "the same for every tool.",
            f"Random reads: {cfg.random_reads:,} `pread`s of 4 KiB at seeded 4 KiB-aligned offsets, "
            "readahead off (`POSIX_FADV_RANDOM`).",
            "Copy out: `cp -r` of the small-file folder (or `cp` of the big file) from the mount to a "
            "fresh directory; *restic restore*: `restic restore latest --include /small` (or "
            f"`/{BIG_RANDOM}`) into a fresh directory, with an empty `--cache-dir`: the anchors of "
            "issue #15 (cp -r ≥1.5x restore and ≥5x restic mount, the big file ≥2.5x restore; "
            "find and ls -lR ≥5x restic mount).",
            f"Small-file folder: {cfg.small:,} files in {min(dataset.SMALL_DIRS, cfg.small)} folders; "
            f"the tree: {FILES_PER_DIR} files per folder.",
            copy_floor(results, "small", "the small-file folder", "cp_small", "warm_cp_small"),
            copy_floor(results, "big", "the big file", "cp_big", "warm_cp_big"),
        ],
        failures=results.failures, values=results.values,
    )
