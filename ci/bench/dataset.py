"""The data sets: the source tree every section but scale backs up (big files, small files, a tree),
and the bookkeeping that makes each part once and reuses it while its recipe stays the same."""

from __future__ import annotations

import json
import os
import random
import shutil

from .common import MiB, SEED, log

# Bump when a recipe changes, so that an old data set in BENCH_DIR is made again.
DATASET_VERSION = 2
BIG_RANDOM = "big-random.bin"
BIG_COMPRESSIBLE = "big-compressible.bin"
SMALL_DIRS = 100
FILES_PER_DIR = 100  # in the tree and in the scale section's folders


def ensure(cfg, part, recipe, paths, make):
    """Makes `paths` with `make()` unless BENCH_DIR holds them made from the same `recipe`.

    A part's marker (BENCH_DIR/PART.json) is written last, so a part interrupted while being made
    is made again; a part that depends on another puts that one's recipe into its own."""
    recipe = {"version": DATASET_VERSION, **recipe}
    marker = cfg.dir / f"{part}.json"
    if marker.exists() and all(p.exists() for p in paths) and json.loads(marker.read_text()) == recipe:
        log(f"reusing {part} in {cfg.dir}")
        return recipe
    marker.unlink(missing_ok=True)
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    log(f"making {part} in {cfg.dir}")
    make()
    marker.write_text(json.dumps(recipe))
    return recipe


def write_random_file(path, size):
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))


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


def write_tree(root, count, dir_prefix="d", digits=4):
    """`count` files of a few bytes (each its own name), FILES_PER_DIR to a folder: metadata is what
    is walked here."""
    for i in range(count):
        directory = root / f"{dir_prefix}{i // FILES_PER_DIR:0{digits}d}"
        if i % FILES_PER_DIR == 0:
            directory.mkdir(parents=True)
        name = f"f{i % FILES_PER_DIR:03d}"
        (directory / name).write_text(f"{directory.name}/{name}\n")


def tree_dirs(count):
    return -(-count // FILES_PER_DIR)


def source_recipe(cfg):
    return {"big_mb": cfg.big_mb, "small": cfg.small, "tree": cfg.tree}


def ensure_source(cfg):
    """The source tree in BENCH_DIR/data: two big files, the small files, the tree."""
    def make():
        cfg.data.mkdir()
        write_random_file(cfg.data / BIG_RANDOM, cfg.big_bytes)
        write_compressible_file(cfg.data / BIG_COMPRESSIBLE, cfg.big_bytes)
        write_small_files(cfg.data / "small", cfg.small, random.Random(SEED))
        write_tree(cfg.data / "tree", cfg.tree)

    return ensure(cfg, "source", source_recipe(cfg), [cfg.data], make)


def total_size(paths):
    return sum(p.stat().st_size for p in paths if p.is_file())


def source_sizes(cfg):
    return {
        "small_bytes": total_size((cfg.data / "small").rglob("*")),
        "tree_dirs": tree_dirs(cfg.tree),
    }


def describe_source(cfg, sizes, with_compressible=True):
    """The source data set, in a sentence."""
    big = (f"two files of {cfg.big_mb} MiB (random bytes; compressible log lines)" if with_compressible
           else f"a file of {cfg.big_mb} MiB of random bytes")
    return (f"{big}, {cfg.small:,} small files of 0-8 KiB in {min(SMALL_DIRS, cfg.small)} folders "
            f"({sizes['small_bytes'] / MiB:.0f} MiB), a tree of {cfg.tree:,} files in "
            f"{sizes['tree_dirs']:,} folders")
