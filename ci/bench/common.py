"""Shared plumbing of the benchmark: its settings, commands, the page cache, and mounts.

Everything a section needs to start a daemon on a fresh mount, wait for it, read its memory and take
it down again (or to run a plain, unmounted target the same way), so that every section measures under
the same conditions: a cold page cache, an empty local cache, one mount at a time, a timeout.
"""

from __future__ import annotations  # `int | None` annotations on Debian 11's Python 3.9 too

import contextlib
import datetime
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent.parent  # the genmount checkout this package belongs to
SECTIONS = ("restic", "folders", "borg", "scale")
PASSWORD = "genmount-bench\n"  # restic's password and borg's passphrase
SEED = 20261124

ENV_HELP = """\
environment:
  GENMOUNT_BIN        the genmount binary (ci/bench.sh sets it; required here)
  BENCH_SECTIONS      comma-separated sections to run: restic, folders, borg, scale (default: all)
  BENCH_DIR           work directory (default /tmp/genmount-bench); the data sets are kept and reused
  BENCH_OUT           where copies and restores go (default /dev/shm/genmount-bench-out: memory)
  BENCH_BIG_MB        size of each big file in MiB (default 1024)
  BENCH_SMALL         number of small files, 0-8 KiB each (default 20000)
  BENCH_TREE          number of files in the metadata tree, 100 per directory (default 100000)
  BENCH_SCALE_N       tiny files of the scale section's repository, 100 per folder (default 300000)
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
        sys.exit(f"bench: {name}={value!r} is not a whole number")
    if number < minimum:
        sys.exit(f"bench: {name} must be at least {minimum}")
    return number


@dataclass
class Config:
    genmount: Path
    dir: Path
    sections: list
    big_mb: int
    small: int
    tree: int
    scale_n: int
    runs: int
    random_reads: int
    timeout: int
    results: Path
    mount_timeout: int = 120

    @property
    def data(self):
        return self.dir / "data"  # the source tree: big files, small files, the tree

    @property
    def password(self):
        return self.dir / "password"

    @property
    def mnt(self):
        return self.dir / "mnt"

    @property
    def out(self):
        # Where copies and restores go, emptied after each measurement: memory (tmpfs), the same for
        # every tool, so that what is compared is reading and the tools' own work, not the writeback
        # of this VM's disk.
        return Path(os.environ.get("BENCH_OUT") or "/dev/shm/genmount-bench-out")

    @property
    def logs(self):
        return self.dir / "logs"

    @property
    def big_bytes(self):
        return self.big_mb * MiB


def load_config():
    binary = os.environ.get("GENMOUNT_BIN", "")
    if not binary or not os.access(binary, os.X_OK):
        sys.exit("bench: set GENMOUNT_BIN to the genmount binary (ci/bench.sh does)")
    sections = [s.strip() for s in os.environ.get("BENCH_SECTIONS", "").split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        sys.exit(f"bench: unknown BENCH_SECTIONS {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    return Config(
        genmount=Path(binary).resolve(),
        dir=Path(os.environ.get("BENCH_DIR") or "/tmp/genmount-bench").resolve(),
        sections=[s for s in SECTIONS if s in sections] if sections else list(SECTIONS),
        big_mb=env_int("BENCH_BIG_MB", 1024, 1),
        small=env_int("BENCH_SMALL", 20000, 1),
        tree=env_int("BENCH_TREE", 100000, 1),
        scale_n=env_int("BENCH_SCALE_N", 300000, 100),
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
    wait_for_idle_disks()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def disk_busy_ms():
    """Milliseconds every block device has spent on I/O since boot (io_ticks, /sys/block/*/stat)."""
    total = 0
    for stat in Path("/sys/block").glob("*/stat"):
        if stat.parent.name.startswith(("loop", "zram", "ram")):
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(stat.read_text().split()[9])
    return total


def wait_for_idle_disks(quiet=0.25, most=20.0):
    """Waits until the disks have done no I/O for `quiet` seconds (at most `most`), so that no
    measurement starts while the disk still works for the one before it."""
    deadline = time.monotonic() + most
    last = disk_busy_ms()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = disk_busy_ms()
        if now == last:
            return
        last = now


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class MountFailed(Exception):
    pass


def is_mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def ensure_unmounted(path):
    """Takes down whatever is mounted at `path`, lazily if it is busy or its daemon is gone."""
    for args in (["fusermount3", "-u", path], ["fusermount3", "-uz", path], ["umount", "-l", path]):
        if not is_mounted(path):
            return
        subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if is_mounted(path):
        raise MountFailed(f"{path} is still mounted and could not be unmounted")


def proc_status_kib(pid, key):
    """A memory line of /proc/PID/status (VmHWM: the peak, VmRSS: now) in KiB, None if gone."""
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    return None


# ---------------------------------------------------------------------------------------------
# Targets: what a measurement runs against. A daemon is a fresh mount; a plain target is a path on
# disk (or nothing, for a command such as `restic restore` that reads the repository itself).


@dataclass
class Session:
    """One measurement's target: `root` is where the data appears, `started` when it was started."""
    target: object
    root: Path | None
    started: float
    cache: Path
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    aborted: bool = False
    peak_rss_kib: int | None = None
    extra: dict = field(default_factory=dict)  # side values a measurement records (key -> value)

    def record(self, key, value):
        self.extra[key] = value

    def rss_mib(self):
        """The daemon's resident memory now, in MiB (None without a daemon)."""
        kib = proc_status_kib(self.proc.pid, "VmRSS") if self.proc else None
        return kib / 1024 if kib is not None else None

    def abort(self):
        # The watchdog: killing the daemon aborts the FUSE connection, so anything blocked on the
        # mount gets an error instead of hanging; the measurement then fails as timed out.
        self.aborted = True
        self.proc.kill()

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise MountFailed(f"{self.target.label} exited with {self.proc.returncode}: " + " | ".join(tail))


@dataclass
class Plain:
    """A target without a daemon: files straight from disk at `root`, or none (root None)."""
    key: str
    label: str
    root: Path | None = None

    @contextlib.contextmanager
    def session(self, cfg, log_name, cold_start=False):
        cache = fresh_dir(cfg.dir / "cache" / self.key)
        fresh_dir(cfg.out)
        if cold_start:
            drop_caches()
        try:
            yield Session(self, self.root, time.monotonic(), cache)
        finally:
            shutil.rmtree(cfg.out, ignore_errors=True)


@dataclass
class Daemon:
    """A FUSE daemon. `command(cfg, cache)` gives its arguments (it mounts on cfg.mnt and stays in the
    foreground); the data appears at cfg.mnt / `root`; `stop_signal` makes it unmount and exit (None:
    `fusermount3 -u` does)."""
    key: str
    label: str
    command: object
    root: str
    stop_signal: int | None
    env: dict = field(default_factory=dict)

    @contextlib.contextmanager
    def session(self, cfg, log_name, cold_start=False):
        """Starts a fresh mount with an empty cache, yields it once `root` is a directory (or at once
        with cold_start), reads its peak RSS when the body is done, and always unmounts.

        Each measurement gets its own mount so that no daemon cache carries over between them; the
        local cache starts empty for every tool so that every mount is a first mount."""
        cache = fresh_dir(cfg.dir / "cache" / self.key)
        fresh_dir(cfg.out)
        ensure_unmounted(cfg.mnt)
        if cold_start:
            drop_caches()
        log_path = cfg.logs / f"{log_name}.log"
        with open(log_path, "wb") as log_file:
            started = time.monotonic()
            # A session of its own: a Ctrl-C at the terminal reaches only this script, which then
            # unmounts in order instead of racing the daemons.
            proc = subprocess.Popen([str(a) for a in self.command(cfg, cache)], stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, **self.env})
        s = Session(self, cfg.mnt / self.root, started, cache, proc, log_path)
        watchdog = threading.Timer(cfg.timeout, s.abort)
        watchdog.start()
        try:
            if not cold_start:
                wait_until(cfg, s, lambda: os.path.isdir(s.root), f"{s.root} to appear")
            yield s
            s.check_alive()
            s.peak_rss_kib = proc_status_kib(proc.pid, "VmHWM")  # just before unmounting
        except Exception as exc:
            if s.aborted:
                raise TimeoutError(f"aborted after {cfg.timeout} s (BENCH_TIMEOUT)") from exc
            raise
        finally:
            watchdog.cancel()
            self.stop(cfg, s)
            shutil.rmtree(cfg.out, ignore_errors=True)

    def stop(self, cfg, s):
        """Unmounts the way a user would (the daemon's own signal), and forcibly if that hangs."""
        if s.proc.poll() is None:
            if self.stop_signal is None:  # `borg umount` is this: the daemon exits once unmounted
                subprocess.run(["fusermount3", "-u", str(cfg.mnt)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                s.proc.send_signal(self.stop_signal)
            try:
                s.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                ensure_unmounted(cfg.mnt)
                s.proc.kill()
                s.proc.wait(timeout=30)
        ensure_unmounted(cfg.mnt)


def wait_until(cfg, s, ready, what):
    """Polls `ready()` (errors count as not yet) until it holds; seconds since the daemon started.

    restic mount serves an empty snapshots/ for a moment after the mount appears, so readiness is
    the data's directory being there, not the mount being in /proc/mounts."""
    deadline = s.started + cfg.mount_timeout
    while True:
        with contextlib.suppress(OSError):
            if ready():
                return time.monotonic() - s.started
        s.check_alive()
        if time.monotonic() > deadline:
            raise MountFailed(f"no {what} within {cfg.mount_timeout} s")
        time.sleep(0.005)


def prepare_dir(cfg):
    # BENCH_DIR's data and repositories are deleted and remade when a recipe changes, so refuse a
    # directory that has other things in it and is not ours.
    own = cfg.dir / ".genmount-bench"
    if cfg.dir.exists() and any(cfg.dir.iterdir()) and not own.exists():
        sys.exit(f"bench: {cfg.dir} is not empty and not a benchmark directory; choose another BENCH_DIR")
    cfg.dir.mkdir(parents=True, exist_ok=True)
    own.touch()
    (cfg.dir / "dataset.json").unlink(missing_ok=True)  # ci/bench.py's marker, before the sections
    ensure_unmounted(cfg.mnt)  # a mount left by an earlier, killed run
    cfg.mnt.mkdir(exist_ok=True)
    fresh_dir(cfg.logs)
    cfg.password.write_text(PASSWORD)
