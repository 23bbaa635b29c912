"""The folders section (issue #15): genmount serving a folder of snapshot directories, against reading
the same files straight from disk, the limit a mount of plain folders can approach."""

from __future__ import annotations

import contextlib
import signal
import subprocess

from . import dataset
from .common import Daemon, Plain, run
from .dataset import BIG_COMPRESSIBLE, BIG_RANDOM
from .measure import Measure, copy_out, disk_read_limit, read_all_files, run_all, sequential_read
from .report import Part, pair_rows, specs_of

TITLE = "snapshot folders: genmount against the disk"
GENERATION = "2026-12-01"  # a dated name, as rsnapshot or `date +%F` would give


def ensure_folders(cfg, source_recipe):
    """BENCH_DIR/folders/GENERATION: the source tree as hard links, so that genmount and the disk
    read the very same blocks."""
    folders = cfg.dir / "folders"

    def make():
        folders.mkdir()
        run(["cp", "-al", cfg.data, folders / GENERATION], 3600)

    dataset.ensure(cfg, "folders", {"source": source_recipe}, [folders], make)
    return folders


@contextlib.contextmanager
def read_only_bind(cfg, folders):
    """FOLDER bind-mounted read-only, as the README advises: there reads cannot record access
    times, so genmount lets the kernel read the files itself (FUSE passthrough)."""
    at = cfg.dir / "folders-ro"
    subprocess.run(["umount", at], stderr=subprocess.DEVNULL, check=False)
    at.mkdir(exist_ok=True)
    run(["mount", "--bind", folders, at], 60)
    try:
        run(["mount", "-o", "remount,ro,bind", at], 60)
        yield at
    finally:
        subprocess.run(["umount", at], check=False)


def prime_with(name):
    """Reads the file once before each target's cold read: whichever read second ran at 1.8-2.0
    GB/s and whichever read first at 0.5-0.9, for genmount and the disk alike (the host's cache of
    this VM's disk)."""
    return lambda cfg: disk_read_limit([cfg.data / name])


def measures(small_bytes):
    return [
        Measure("seq_random", "sequential read, random file", "MB/s", True,
                lambda cfg, s: sequential_read(s.root / BIG_RANDOM, cfg.big_bytes),
                prime=prime_with(BIG_RANDOM)),
        Measure("seq_compressible", "sequential read, compressible file", "MB/s", True,
                lambda cfg, s: sequential_read(s.root / BIG_COMPRESSIBLE, cfg.big_bytes),
                prime=prime_with(BIG_COMPRESSIBLE)),
        Measure("small_files", "read all small files", "s", False,
                lambda cfg, s: read_all_files(s.root / "small", cfg.small)),
        Measure("cp_small", "cp -r of the small-file folder", "s", False,
                lambda cfg, s: copy_out(cfg, s.root / "small", cfg.out / "small", cfg.small, small_bytes)),
    ]


GOALS = {"seq_random": 0.95, "seq_compressible": 0.95, "small_files": 0.8, "cp_small": 0.8}
HEADER = ["measurement", "genmount", "disk", "genmount / disk (>1: genmount better)",
          "target (issue #15)"]


def run_section(cfg):
    source = dataset.ensure_source(cfg)
    folders = ensure_folders(cfg, source)
    sizes = dataset.source_sizes(cfg)

    all_measures = measures(sizes["small_bytes"])
    with read_only_bind(cfg, folders) as read_only:
        def genmount(cfg, cache):
            return [cfg.genmount, "mount", f"dir:{read_only}", cfg.mnt]

        targets = [Daemon("genmount", "genmount", genmount, "latest", signal.SIGTERM),
                   Plain("disk", "disk", folders / GENERATION)]
        results = run_all(cfg, "folders", targets, all_measures)
    rows = pair_rows(results, "disk", specs_of(all_measures, GOALS))
    rows[-1][2] = ""  # the disk has no daemon, so no RSS
    return Part(
        title=TITLE,
        intro=[f"Data set: the restic section's source tree ({dataset.describe_source(cfg, sizes)}) as "
               f"one generation, `{GENERATION}`, of a snapshot folder: `genmount mount dir:FOLDER MNT`, "
               "read under `latest/`, FOLDER bind-mounted read-only (so that FUSE passthrough is "
               "used); the generation's files are hard links to the source's"],
        header=HEADER, rows=rows,
        notes=["*disk*: the same files read (or copied) straight from the generation's directory, "
               "cold: what genmount adds to the disk is the difference. Issue #15's goals: at least "
               "0.95 of the disk for the big files, 0.8 for small files.",
               "Each big read starts after one read of the same file, the page cache then dropped: "
               "without it the second reader of a run was two to four times faster than the first, "
               "whichever it was (the host's cache of this VM's disk)."],
        failures=results.failures, values=results.values,
    )
