#!/usr/bin/env python3
"""genmount's performance benchmark: genmount against `restic mount` on one restic repository.

Makes a data set (a big random file, a big compressible file, many small files, a large tree), backs
it up with the real `restic` into one repository, then, for each of BENCH_RUNS runs, measures both
mounts in turn on that repository, always from a cold page cache: sequential reads, 4 KiB random reads,
reading every small file, `find` and `ls -lR` over the tree, the time from starting the mount to the
first byte of a file, and the daemon's peak RSS. In the same run it measures the limits: reading the
repository's pack files and the source files straight from disk. It prints a table of the medians
and writes it as markdown (with the machine and data set) to ci/bench-results.md.

This is a measurement, not a test: no timing is judged. Run it through ci/bench.sh, as root (it
mounts, and drops the page cache with /proc/sys/vm/drop_caches). Python standard library only.
"""

from __future__ import annotations  # `int | None` annotations on Debian 11's Python 3.9 too

import argparse
import contextlib
import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent  # the genmount checkout this script belongs to

# Bump when the data set's recipe changes, so an old data set in BENCH_DIR is made again.
DATASET_VERSION = 1
PASSWORD = "genmount-bench\n"
SEED = 20261124
BIG_RANDOM = "big-random.bin"
BIG_COMPRESSIBLE = "big-compressible.bin"
SMALL_DIRS = 100
TREE_FILES_PER_DIR = 100
CHUNK = MiB  # read and write size for big files

ENV_HELP = """\
environment:
  GENMOUNT_BIN        the genmount binary (ci/bench.sh sets it; required here)
  BENCH_DIR           work directory (default /tmp/genmount-bench); the data set is kept and reused
  BENCH_BIG_MB        size of each big file in MiB (default 1024)
  BENCH_SMALL         number of small files, 0-8 KiB each (default 20000)
  BENCH_TREE          number of files in the metadata tree, 100 per directory (default 100000)
  BENCH_RUNS          runs; the medians are reported (default 3)
  BENCH_RANDOM_READS  4 KiB random reads per measurement (default 2000)
  BENCH_TIMEOUT       seconds any one measurement may take before its mount is aborted (default 900)
  BENCH_RESULTS       where the markdown goes (default ci/bench-results.md)
"""


def env_int(name, default, minimum):
    value = os.environ.get(name, "")
    try:
        number = int(value) if value else default
    except ValueError:
        sys.exit(f"bench.py: {name}={value!r} is not a whole number")
    if number < minimum:
        sys.exit(f"bench.py: {name} must be at least {minimum}")
    return number


@dataclass
class Config:
    genmount: Path
    dir: Path
    big_mb: int
    small: int
    tree: int
    runs: int
    random_reads: int
    timeout: int
    results: Path
    mount_timeout: int = 60

    @property
    def data(self):
        return self.dir / "data"

    @property
    def repo(self):
        return self.dir / "repo"

    @property
    def password(self):
        return self.dir / "password"

    @property
    def mnt(self):
        return self.dir / "mnt"

    @property
    def logs(self):
        return self.dir / "logs"

    @property
    def big_bytes(self):
        return self.big_mb * MiB


def load_config():
    binary = os.environ.get("GENMOUNT_BIN", "")
    if not binary or not os.access(binary, os.X_OK):
        sys.exit("bench.py: set GENMOUNT_BIN to the genmount binary (ci/bench.sh does)")
    return Config(
        genmount=Path(binary).resolve(),
        dir=Path(os.environ.get("BENCH_DIR") or "/tmp/genmount-bench").resolve(),
        big_mb=env_int("BENCH_BIG_MB", 1024, 1),
        small=env_int("BENCH_SMALL", 20000, 1),
        tree=env_int("BENCH_TREE", 100000, 1),
        runs=env_int("BENCH_RUNS", 3, 1),
        random_reads=env_int("BENCH_RANDOM_READS", 2000, 1),
        timeout=env_int("BENCH_TIMEOUT", 900, 10),
        results=Path(os.environ.get("BENCH_RESULTS") or ROOT / "ci" / "bench-results.md").resolve(),
    )


def log(message):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def run(args, timeout, **kwargs):
    """Runs a command that must succeed within `timeout` seconds; its output is kept for errors."""
    return subprocess.run(
        [str(a) for a in args], check=True, timeout=timeout, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, **kwargs,
    )


def drop_caches():
    # Every cold measurement starts here, so that the bytes come from the disk and the mount, not
    # from pages an earlier measurement left in memory.
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


# ---------------------------------------------------------------------------------------------
# The data set and the repository


def write_random_file(path, size):
    with open(path, "wb") as f:
        for _ in range(size // CHUNK):
            f.write(os.urandom(CHUNK))


def write_compressible_file(path, size):
    # Log-like lines with a running counter: zstd shrinks them several times over, and no two
    # chunks repeat, so restic's deduplication cannot stand in for reading and decompressing.
    lines_per_block = 10000
    with open(path, "wb") as f:
        written, first = 0, 0
        while written < size:
            block = "".join(
                f"2026-11-24T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z "
                f"INFO request={n} path=/api/v1/items/{n * 7919 % 100003} status=200 "
                f"bytes={n * 31 % 65536} user=user{n % 977}\n"
                for n in range(first, first + lines_per_block)
            ).encode()[: size - written]
            f.write(block)
            written += len(block)
            first += lines_per_block


def write_small_files(root, count, rng):
    for d in range(min(SMALL_DIRS, count)):
        (root / f"dir{d:03d}").mkdir(parents=True)
    for i in range(count):
        path = root / f"dir{i % SMALL_DIRS:03d}" / f"file{i:05d}.bin"
        path.write_bytes(os.urandom(rng.randint(0, 8 * 1024)))


def write_tree(root, count):
    # Metadata is what is walked here; each file holds only its own name, a few bytes.
    for i in range(count):
        directory = root / f"d{i // TREE_FILES_PER_DIR:04d}"
        if i % TREE_FILES_PER_DIR == 0:
            directory.mkdir(parents=True)
        name = f"f{i % TREE_FILES_PER_DIR:03d}"
        (directory / name).write_text(f"{directory.name}/{name}\n")


def restic(cfg, *args, timeout, cwd=None):
    return run(["restic", "-r", cfg.repo, "--password-file", cfg.password, *args], timeout, cwd=cwd)


def make_dataset(cfg):
    """Makes the data set and backs it up as one snapshot, unless BENCH_DIR already holds this one."""
    recipe = {"version": DATASET_VERSION, "big_mb": cfg.big_mb, "small": cfg.small, "tree": cfg.tree}
    marker = cfg.dir / "dataset.json"
    complete = (cfg.repo / "config").exists() and (cfg.data / BIG_RANDOM).exists()
    if complete and marker.exists() and json.loads(marker.read_text()) == recipe:
        log(f"reusing the data set and repository in {cfg.dir}")
        return
    marker.unlink(missing_ok=True)
    for old in (cfg.data, cfg.repo):
        shutil.rmtree(old, ignore_errors=True)
    cfg.password.write_text(PASSWORD)
    rng = random.Random(SEED)

    log(f"writing the data set in {cfg.data}")
    cfg.data.mkdir()
    write_random_file(cfg.data / BIG_RANDOM, cfg.big_bytes)
    write_compressible_file(cfg.data / BIG_COMPRESSIBLE, cfg.big_bytes)
    write_small_files(cfg.data / "small", cfg.small, rng)
    write_tree(cfg.data / "tree", cfg.tree)

    log(f"backing it up with restic into {cfg.repo}")
    # Repository format 2 so that restic compresses, and genmount has to decompress.
    restic(cfg, "init", "--repository-version", "2", timeout=300)
    # --no-cache: nothing is left in ~/.cache, and both mounts start from the same empty cache.
    restic(cfg, "backup", "--no-cache", "--quiet", ".", timeout=6 * 3600, cwd=cfg.data)
    marker.write_text(json.dumps(recipe))


def dataset_sizes(cfg):
    def total(paths):
        return sum(p.stat().st_size for p in paths if p.is_file())

    packs = [p for p in (cfg.repo / "data").rglob("*") if p.is_file()]
    return {
        "small_bytes": total((cfg.data / "small").rglob("*")),
        "tree_dirs": sum(1 for p in (cfg.data / "tree").iterdir()),
        "repo_bytes": total(cfg.repo.rglob("*")),
        "pack_bytes": total(packs),
        "packs": len(packs),
    }


# ---------------------------------------------------------------------------------------------
# Mounting


@dataclass
class Tool:
    key: str
    label: str
    root: str  # where the snapshot's files appear under the mountpoint
    stop_signal: int  # what makes the daemon unmount and exit cleanly

    def command(self, cfg, cache):
        if self.key == "genmount":
            return [cfg.genmount, "mount", cfg.repo, cfg.mnt, "--password-file", cfg.password,
                    "--cache-dir", cache]
        return ["restic", "-r", cfg.repo, "mount", cfg.mnt, "--password-file", cfg.password,
                "--cache-dir", cache]


TOOLS = [
    Tool("genmount", "genmount", "latest", signal.SIGTERM),
    Tool("restic", "restic mount", "snapshots/latest", signal.SIGINT),
]


class MountFailed(Exception):
    pass


def is_mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def ensure_unmounted(path):
    """Takes down whatever is mounted at `path`, lazily if it is busy or its daemon is gone."""
    for command in (["fusermount3", "-u", "-z", path], ["umount", "-l", path]):
        if not is_mounted(path):
            return
        subprocess.run([str(a) for a in command], timeout=30, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if is_mounted(path):
        raise MountFailed(f"{path} is still mounted and could not be unmounted")


@dataclass
class Mount:
    tool: Tool
    proc: subprocess.Popen
    started: float  # time.monotonic() just before the daemon was started
    root: Path
    log_path: Path
    aborted: bool = False
    peak_rss_kib: int | None = None

    def abort(self):
        # The watchdog: killing the daemon aborts the FUSE connection, so anything blocked on the
        # mount gets an error instead of hanging; the measurement then fails as timed out.
        self.aborted = True
        self.proc.kill()

    def check_alive(self):
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise MountFailed(f"{self.tool.label} exited with {self.proc.returncode}: " + " | ".join(tail))


def vmhwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def wait_until_ready(cfg, m):
    # restic mount serves an empty snapshots/ for a moment after the mount appears, so readiness is
    # the snapshot's directory being there, not the mount being in /proc/mounts.
    deadline = time.monotonic() + cfg.mount_timeout
    while not os.path.isdir(m.root):
        m.check_alive()
        if time.monotonic() > deadline:
            raise MountFailed(f"{m.root} did not appear within {cfg.mount_timeout} s")
        time.sleep(0.02)


def stop(cfg, m):
    """Unmounts the way a user would (the daemon's own signal), and forcibly if that hangs."""
    if m.proc.poll() is None:
        m.proc.send_signal(m.tool.stop_signal)
        try:
            m.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            ensure_unmounted(cfg.mnt)
            m.proc.kill()
            m.proc.wait(timeout=30)
    ensure_unmounted(cfg.mnt)


@contextlib.contextmanager
def mounted(cfg, tool, log_name, cold_start=False):
    """Starts a fresh mount of the repository with an empty cache, yields it once it is ready (or at
    once with cold_start), reads its peak RSS when the body is done, and always unmounts.

    Each measurement gets its own mount so that no daemon cache carries over between them; the
    local cache starts empty for both tools so that every mount is a first mount."""
    cache = cfg.dir / "cache" / tool.key
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    ensure_unmounted(cfg.mnt)
    if cold_start:
        drop_caches()
    log_path = cfg.logs / f"{log_name}.log"
    with open(log_path, "wb") as log_file:
        started = time.monotonic()
        # A session of its own: a Ctrl-C at the terminal reaches only this script, which then
        # unmounts in order instead of racing the daemons.
        proc = subprocess.Popen([str(a) for a in tool.command(cfg, cache)], stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    m = Mount(tool, proc, started, cfg.mnt / tool.root, log_path)
    watchdog = threading.Timer(cfg.timeout, m.abort)
    watchdog.start()
    try:
        if not cold_start:
            wait_until_ready(cfg, m)
        yield m
        m.check_alive()
        m.peak_rss_kib = vmhwm_kib(proc.pid)  # just before unmounting: the high-water mark
    except Exception as exc:
        if m.aborted:
            raise TimeoutError(f"aborted after {cfg.timeout} s (BENCH_TIMEOUT)") from exc
        raise
    finally:
        watchdog.cancel()
        stop(cfg, m)


# ---------------------------------------------------------------------------------------------
# What is measured


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


def timed_command(args, cfg):
    """Seconds a command takes; C collation so that sorting names costs the same everywhere."""
    start = time.monotonic()
    result = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=cfg.timeout, env={**os.environ, "LC_ALL": "C"})
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise MountFailed(f"{args[0]} exited with {result.returncode}: {result.stderr[-300:].strip()}")
    return elapsed, result.stdout


def walk_find(cfg, m):
    elapsed, out = timed_command(["find", m.root / "tree"], cfg)
    listed = out.count(b"\n")
    expected = 1 + -(-cfg.tree // TREE_FILES_PER_DIR) + cfg.tree  # the root, its dirs, the files
    if listed != expected:
        raise MountFailed(f"find listed {listed} entries, expected {expected}")
    return elapsed


def walk_ls(cfg, m):
    return timed_command(["ls", "-lR", m.root / "tree"], cfg)[0]


def first_byte(cfg, m):
    """Seconds from starting the daemon until the big random file gives its first byte."""
    path = m.root / BIG_RANDOM
    deadline = m.started + cfg.mount_timeout
    while True:
        with contextlib.suppress(OSError):
            with open(path, "rb", buffering=0) as f:
                if f.read(1):
                    return time.monotonic() - m.started
        m.check_alive()
        if time.monotonic() > deadline:
            raise MountFailed(f"no byte of {path} within {cfg.mount_timeout} s")
        time.sleep(0.005)


@dataclass
class Measure:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    fn: object  # fn(cfg, mount) -> value
    cold_start: bool = False  # timed from starting the daemon, not from a ready mount
    limit: str | None = None  # the key of the limit this is compared with


MEASURES = [
    Measure("seq_random", "sequential read, random file", "MB/s", True,
            lambda cfg, m: sequential_read(m.root / BIG_RANDOM, cfg.big_bytes), limit="src_random"),
    Measure("seq_compressible", "sequential read, compressible file", "MB/s", True,
            lambda cfg, m: sequential_read(m.root / BIG_COMPRESSIBLE, cfg.big_bytes),
            limit="src_compressible"),
    Measure("random_4k", "4 KiB random reads, random file", "reads/s", True,
            lambda cfg, m: random_reads(m.root / BIG_RANDOM, cfg.big_bytes, cfg.random_reads)),
    Measure("small_files", "read all small files", "s", False,
            lambda cfg, m: read_all_files(m.root / "small", cfg.small)),
    Measure("find", "find over the tree", "s", False, walk_find),
    Measure("ls_lr", "ls -lR over the tree", "s", False, walk_ls),
    Measure("first_byte", "mount start to first byte", "s", False, first_byte, cold_start=True),
]


def measure_mount(cfg, tool, measure, run_no):
    """One cold measurement on a fresh mount; returns (value, the daemon's peak RSS in KiB)."""
    with mounted(cfg, tool, f"run{run_no}-{tool.key}-{measure.key}", measure.cold_start) as m:
        if not measure.cold_start:
            drop_caches()
        value = measure.fn(cfg, m)
    return value, m.peak_rss_kib


def limit_pack_read(cfg):
    """MB/s reading every pack file of the repository straight from disk, as `cat` would."""
    packs = sorted(p for p in (cfg.repo / "data").rglob("*") if p.is_file())
    drop_caches()
    buf = memoryview(bytearray(CHUNK))
    start = time.monotonic()
    total = sum(read_whole(p, buf) for p in packs)
    return total / (time.monotonic() - start) / 1e6


def limit_source_read(cfg, name):
    drop_caches()
    return sequential_read(cfg.data / name, cfg.big_bytes)


LIMITS = {
    "packs": limit_pack_read,
    "src_random": lambda cfg: limit_source_read(cfg, BIG_RANDOM),
    "src_compressible": lambda cfg: limit_source_read(cfg, BIG_COMPRESSIBLE),
}


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass
class Results:
    values: dict = field(default_factory=dict)  # (tool key or "limit", measure key) -> [values]
    failures: list = field(default_factory=list)

    def add(self, who, what, value):
        self.values.setdefault((who, what), []).append(value)

    def median(self, who, what):
        values = self.values.get((who, what), [])
        return statistics.median(values) if values else None


def attempt(results, who, what, label, fn):
    """Runs one measurement; a failure is recorded and reported, and the benchmark goes on."""
    try:
        return fn()
    except (OSError, subprocess.SubprocessError, MountFailed, TimeoutError) as exc:
        message = f"{label}: {type(exc).__name__}: {exc}"
        log(f"  FAILED {message}")
        results.failures.append(message)
        return None


def run_benchmark(cfg):
    results = Results()
    for run_no in range(1, cfg.runs + 1):
        log(f"run {run_no} of {cfg.runs}")
        for key, fn in LIMITS.items():
            value = attempt(results, "limit", key, f"run {run_no} limit {key}", lambda: fn(cfg))
            if value is not None:
                results.add("limit", key, value)
                log(f"  limit {key}: {value:.1f} MB/s")
        # Alternate which tool goes first, so neither always follows the other.
        order = TOOLS if run_no % 2 else TOOLS[::-1]
        peak = {}
        for measure in MEASURES:
            for tool in order:
                label = f"run {run_no} {tool.label}, {measure.label}"
                outcome = attempt(results, tool.key, measure.key, label,
                                  lambda: measure_mount(cfg, tool, measure, run_no))
                if outcome is None:
                    continue
                value, rss = outcome
                results.add(tool.key, measure.key, value)
                if rss is not None:
                    peak[tool.key] = max(peak.get(tool.key, 0), rss)
                log(f"  {tool.label:12} {measure.label}: {value:.3f} {measure.unit}"
                    f"  (RSS peak {rss / 1024 if rss else 0:.0f} MiB)")
        # Peak RSS of a run: the highest high-water mark over that tool's mounts in the run.
        for key, kib in peak.items():
            results.add(key, "rss", kib / 1024)
    return results


# ---------------------------------------------------------------------------------------------
# Reporting


def fmt(value, unit):
    if value is None:
        return "failed"
    if unit in ("MB/s", "reads/s", "MiB"):
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return ""
    return f"{numerator / denominator:.2f}"


def table_rows(results):
    rows = []
    rss = Measure("rss", "daemon peak RSS", "MiB", False, None)
    for measure in MEASURES + [rss]:
        g = results.median("genmount", measure.key)
        r = results.median("restic", measure.key)
        # Oriented so that > 1 always means genmount is better: speeds g/r, times and memory r/g.
        versus = ratio(g, r) if measure.higher_is_better else ratio(r, g)
        source = packs = of_packs = ""
        if measure.limit:
            source = fmt(results.median("limit", measure.limit), "MB/s")
            pack_speed = results.median("limit", "packs")
            packs = fmt(pack_speed, "MB/s")
            of_packs = ratio(g, pack_speed)
        rows.append([f"{measure.label} ({measure.unit})", fmt(g, measure.unit), fmt(r, measure.unit),
                     versus, source, packs, of_packs])
    return rows


HEADER = ["measurement", "genmount", "restic mount", "genmount vs restic mount (>1: genmount better)",
          "source file read", "raw pack read", "genmount / raw pack read"]


def markdown_table(rows):
    widths = [max(len(row[i]) for row in [HEADER] + rows) for i in range(len(HEADER))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "| " + " | ".join("-" * w if i == 0 else "-" * (w - 1) + ":"
                             for i, w in enumerate(widths)) + " |"
    return "\n".join([line(HEADER), rule] + [line(row) for row in rows])


def first_line(args):
    try:
        return run(args, 30).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def machine(cfg):
    meminfo = Path("/proc/meminfo").read_text().split()
    memory_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / MiB
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    commit = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    if commit != "unknown" and subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"],
                                              capture_output=True).returncode == 1:
        commit += " (with uncommitted changes)"
    return {
        "cpus": os.cpu_count(), "cpu": cpu, "memory_gib": memory_gib, "kernel": os.uname().release,
        "restic": first_line(["restic", "version"]), "commit": commit,
        "genmount": first_line([cfg.genmount, "--version"]),
    }


def write_markdown(cfg, results, table, sizes, info, elapsed):
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        "# genmount benchmark",
        "",
        f"Made by `ci/bench.sh` on {now:%Y-%m-%d %H:%M} UTC in {elapsed / 60:.0f} min: the median of "
        f"{cfg.runs} run{'s' if cfg.runs > 1 else ''}, genmount and `restic mount` alternating on the "
        "same restic repository.",
        "",
        f"- Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory_gib']:.1f} GiB memory, "
        f"Linux {info['kernel']}",
        f"- Tools: {info['genmount']} at commit {info['commit']}; {info['restic']}",
        f"- Data set: two files of {cfg.big_mb} MiB (random bytes; compressible log lines), "
        f"{cfg.small:,} small files of 0-8 KiB in {min(SMALL_DIRS, cfg.small)} folders "
        f"({sizes['small_bytes'] / MiB:.0f} MiB), a tree of {cfg.tree:,} files in "
        f"{sizes['tree_dirs']:,} folders; one snapshot (`restic backup .`)",
        f"- Repository: format 2 (compressed), {sizes['repo_bytes'] / MiB:.0f} MiB, "
        f"{sizes['packs']:,} pack files of {sizes['pack_bytes'] / MiB:.0f} MiB",
        "",
        table,
        "",
        "Every measurement is cold: each runs on a fresh mount whose local cache directory starts "
        "empty, with the page cache dropped (`echo 3 > /proc/sys/vm/drop_caches`) once the mount is "
        "ready; the mount-to-first-byte time drops it before starting the daemon. MB = 10^6 bytes.",
        "",
        "- *genmount vs restic mount*: genmount ÷ restic mount for speeds (MB/s, reads/s), "
        "restic mount ÷ genmount for times and memory, so above 1 always means genmount is better.",
        "- *source file read*: the same file read straight from the disk it was backed up from; "
        "*raw pack read*: every pack file under the repository's `data/` read straight from disk, "
        "over their total size: the limits a mount could approach.",
        f"- Random reads: {cfg.random_reads:,} `pread`s of 4 KiB at seeded 4 KiB-aligned offsets, "
        "readahead off (`POSIX_FADV_RANDOM`).",
        "- Daemon peak RSS: the highest `VmHWM` of the daemon, read just before each unmount, over a "
        "run's mounts.",
    ]
    if results.failures:
        lines += ["", "Failed measurements (not in the medians):", ""]
        lines += [f"- {failure}" for failure in results.failures]
    cfg.results.parent.mkdir(parents=True, exist_ok=True)
    cfg.results.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------


def prepare_dir(cfg):
    # BENCH_DIR's data and repository are deleted and remade when the recipe changes, so refuse a
    # directory that has other things in it and is not ours.
    own = cfg.dir / ".genmount-bench"
    if cfg.dir.exists() and any(cfg.dir.iterdir()) and not own.exists():
        sys.exit(f"bench.py: {cfg.dir} is not empty and not a benchmark directory; choose another BENCH_DIR")
    cfg.dir.mkdir(parents=True, exist_ok=True)
    own.touch()
    ensure_unmounted(cfg.mnt)  # a mount left by an earlier, killed run
    cfg.mnt.mkdir(exist_ok=True)
    shutil.rmtree(cfg.logs, ignore_errors=True)
    cfg.logs.mkdir()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=ENV_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    cfg = load_config()
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (through ci/bench.sh): it mounts and drops the page cache")
    # Turn SIGTERM and SIGHUP into an exception like Ctrl-C, so every mount's cleanup still runs.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, _: sys.exit(128 + signum))

    began = time.monotonic()
    try:
        prepare_dir(cfg)
        make_dataset(cfg)
        sizes = dataset_sizes(cfg)
        results = run_benchmark(cfg)
    finally:
        ensure_unmounted(cfg.mnt)
    elapsed = time.monotonic() - began

    (cfg.dir / "results.json").write_text(json.dumps(
        {f"{who}/{what}": values for (who, what), values in results.values.items()}
        | {"failures": results.failures}, indent=1))
    table = markdown_table(table_rows(results))
    write_markdown(cfg, results, table, sizes, machine(cfg), elapsed)
    print()
    print(table)
    print()
    print(f"Medians of {cfg.runs} run(s) in {elapsed / 60:.1f} min; written to {cfg.results} "
          f"(every run's values: {cfg.dir / 'results.json'}).")
    if results.failures:
        print(f"{len(results.failures)} measurement(s) failed; see {cfg.logs}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the mounts are already down: each one's cleanup ran on the way out
        sys.exit("bench.py: interrupted")
