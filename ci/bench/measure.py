"""What is measured, and the loop every section shares: each measurement on each target, cold, in
an order rotated from run to run, with failures recorded instead of stopping the benchmark."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field

from .common import MiB, SEED, MountFailed, drop_caches, fresh_dir, log, wait_until

CHUNK = MiB  # read size for big files


def read_whole(path, buf=None):
    """Reads a file front to back in 1 MiB reads into `buf` (a fresh one if none); returns the bytes
    read."""
    buf = buf or memoryview(bytearray(CHUNK))
    total = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    return total


def sequential_read(path, expected):
    """MB/s reading one file whole."""
    start = time.monotonic()
    size = read_whole(path)
    elapsed = time.monotonic() - start
    if size != expected:
        raise MountFailed(f"read {size} bytes of {path}, expected {expected}")
    return size / elapsed / 1e6


def random_reads(path, size, count):
    """Reads/s of 4 KiB preads at seeded random 4 KiB-aligned offsets (the same for every tool)."""
    rng = random.Random(SEED)
    offsets = [rng.randrange(size // 4096) * 4096 for _ in range(count)]
    fd = os.open(path, os.O_RDONLY)
    try:
        # No readahead: each pread is one 4 KiB request, so this measures the mount's cost per read.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        start = time.monotonic()
        for offset in offsets:
            if len(os.pread(fd, 4096, offset)) != 4096:
                raise MountFailed(f"short read at {offset} in {path}")
        return count / (time.monotonic() - start)
    finally:
        os.close(fd)


def read_all_files(root, expected_count):
    """Seconds to list and read every file under `root`."""
    def fail(error):
        raise error

    # One buffer for every file, as cp or tar would use: a fresh 1 MiB buffer per file cost about
    # 50 us of page faults each, a second per run that belonged to the benchmark, not the mount.
    buf = memoryview(bytearray(CHUNK))
    start = time.monotonic()
    count = 0
    for directory, _, names in os.walk(root, onerror=fail):
        for name in names:
            read_whole(os.path.join(directory, name), buf)
            count += 1
    elapsed = time.monotonic() - start
    if count != expected_count:
        raise MountFailed(f"read {count} files under {root}, expected {expected_count}")
    return elapsed


def timed_command(args, cfg, cwd=None):
    """Seconds a command takes, and its output; C collation so that sorting names costs the same
    everywhere."""
    start = time.monotonic()
    result = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=cfg.timeout, cwd=cwd,
                            env={**os.environ, "LC_ALL": "C"})
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise MountFailed(f"{args[0]} exited with {result.returncode}: {result.stderr[-300:].strip()}")
    return elapsed, result.stdout


def find_count(cfg, path, expected):
    """Seconds `find` takes over `path`, which must list `expected` entries (itself included)."""
    elapsed, out = timed_command(["find", path], cfg)
    listed = out.count(b"\n")
    if listed != expected:
        raise MountFailed(f"find listed {listed} entries under {path}, expected {expected}")
    return elapsed


def ls_lr(cfg, path):
    return timed_command(["ls", "-lR", path], cfg)[0]


def copy_out(cfg, src, dest, expected_files, expected_bytes):
    """Seconds `cp -r` takes to copy `src` (a file or a folder) to `dest`, which is then checked.
    The copy lands in the page cache; it is not synced (nor is a restore's)."""
    elapsed = timed_command(["cp", "-r", src, dest], cfg)[0]
    check_copy(dest, expected_files, expected_bytes)
    return elapsed


def check_copy(dest, expected_files, expected_bytes):
    if dest.is_file():
        files, size = 1, dest.stat().st_size
    else:
        found = [p for p in dest.rglob("*") if p.is_file()]
        files, size = len(found), sum(p.stat().st_size for p in found)
    if (files, size) != (expected_files, expected_bytes):
        raise MountFailed(f"{dest} holds {files} files of {size} bytes, expected "
                          f"{expected_files} of {expected_bytes}")


def first_byte(cfg, s, relative):
    """Seconds from starting the daemon until the file at `relative` under the root gives a byte."""
    path = s.root / relative

    def ready():
        with open(path, "rb", buffering=0) as f:
            return bool(f.read(1))

    return wait_until(cfg, s, ready, f"byte of {path}")


# ---------------------------------------------------------------------------------------------


@dataclass
class Measure:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    fn: object  # fn(cfg, session) -> value
    cold_start: bool = False  # timed from starting the daemon, not from a ready mount
    only: tuple = ()  # the keys of the targets it runs on (empty: all)
    per_target: dict = field(default_factory=dict)  # target key -> fn, instead of `fn`
    # fn(cfg) run before each target's session: reads that leave what lies below this VM (the
    # host's cache of its disk) the same for every target, whichever went before.
    prime: object = None

    def applies(self, target):
        return not self.only or target.key in self.only


@dataclass
class Results:
    values: dict = field(default_factory=dict)  # (target key, measure key) -> [values]
    failures: list = field(default_factory=list)

    def add(self, who, what, value):
        self.values.setdefault((who, what), []).append(value)

    def median(self, who, what):
        values = self.values.get((who, what), [])
        return statistics.median(values) if values else None


ERRORS = (OSError, subprocess.SubprocessError, MountFailed, TimeoutError)


def attempt(results, label, fn):
    """Runs one measurement; a failure is recorded and reported, and the benchmark goes on."""
    try:
        return fn()
    except ERRORS as exc:
        message = f"{label}: {type(exc).__name__}: {exc}"
        log(f"  FAILED {message}")
        results.failures.append(message)
        return None


def one(cfg, target, measure, log_name):
    """One cold measurement in a fresh session; returns (value, the session)."""
    fn = measure.per_target.get(target.key, measure.fn)
    if measure.prime:
        measure.prime(cfg)
    with target.session(cfg, log_name, measure.cold_start) as s:
        if not measure.cold_start:
            drop_caches()
        value = fn(cfg, s)
    return value, s


def compare(cfg, results, section, run_no, targets, measures):
    """One run of a section: every measure on every target it applies to, the order of the targets
    rotated from run to run so that each goes first, second, ... equally often (with two targets,
    they alternate; reversing three would put the first one first in two runs of three, and the
    first big copy after the small-file copies was the slow one). Side values a measurement records
    and each daemon's peak RSS over the run (key "rss", MiB) go into `results` too."""
    first = (run_no - 1) % len(targets)
    order = targets[first:] + targets[:first]
    peak = {}
    for measure in measures:
        for target in order:
            if not measure.applies(target):
                continue
            label = f"{section} run {run_no} {target.label}, {measure.label}"
            outcome = attempt(results, label, lambda: one(
                cfg, target, measure, f"{section}-run{run_no}-{target.key}-{measure.key}"))
            if outcome is None:
                continue
            value, s = outcome
            results.add(target.key, measure.key, value)
            for key, extra in s.extra.items():
                results.add(target.key, key, extra)
            if s.peak_rss_kib is not None:
                peak[target.key] = max(peak.get(target.key, 0), s.peak_rss_kib)
            rss = f"  (RSS peak {s.peak_rss_kib / 1024:.0f} MiB)" if s.peak_rss_kib else ""
            log(f"  {target.label:14} {measure.label}: {value:.3f} {measure.unit}{rss}")
    for key, kib in peak.items():
        results.add(key, "rss", kib / 1024)


def run_all(cfg, section, targets, measures, limits=None):
    """Every run of a section: the limits first (key -> fn(cfg), recorded under "limit"), then
    `compare`. Returns the Results."""
    results = Results()
    for run_no in range(1, cfg.runs + 1):
        log(f"{section}: run {run_no} of {cfg.runs}")
        for key, fn in (limits or {}).items():
            value = attempt(results, f"{section} run {run_no} limit {key}", lambda: fn(cfg))
            if value is not None:
                results.add("limit", key, value)
                log(f"  limit {key}: {value:.1f}")
        compare(cfg, results, section, run_no, targets, measures)
    return results


def disk_copy_limit(cfg, src, expected_files, expected_bytes, warm=False):
    """Seconds `cp -r` takes to copy `src` straight from the disk it was backed up from, cold: the
    floor of a copy out of any mount, which adds a round trip to the daemon for every file. With
    `warm`, `src` is read into the page cache first: the copy's own writes alone, which no faster
    reader can shorten."""
    fresh_dir(cfg.out)
    drop_caches()
    if warm:
        buf = memoryview(bytearray(CHUNK))
        for path in [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]:
            read_whole(path, buf)
    try:
        return copy_out(cfg, src, cfg.out / src.name, expected_files, expected_bytes)
    finally:
        shutil.rmtree(cfg.out, ignore_errors=True)


def disk_files_limit(root, expected_count):
    """Seconds to list and read every file under `root` straight from disk, cold."""
    drop_caches()
    return read_all_files(root, expected_count)


def disk_read_limit(paths):
    """MB/s reading `paths` straight from disk, cold, as `cat` would."""
    drop_caches()
    buf = memoryview(bytearray(CHUNK))
    start = time.monotonic()
    total = sum(read_whole(p, buf) for p in paths)
    return total / (time.monotonic() - start) / 1e6
