"""The entry point: reads the settings, runs the chosen sections in order, and writes the markdown
(and every run's values as JSON beside the data sets).

This is a measurement, not a test: no timing is judged. Run it through ci/bench.sh, as root (it
mounts, and drops the page cache with /proc/sys/vm/drop_caches). Python standard library only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time

from .common import ENV_HELP, ensure_unmounted, load_config, log, prepare_dir
from .report import write_markdown


def main():
    parser = argparse.ArgumentParser(
        prog="ci/bench.sh", epilog=ENV_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="genmount's performance benchmark: genmount against restic mount, restic "
                    "restore, the disk and borg mount, each in its section.")
    parser.parse_args()
    cfg = load_config()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (through ci/bench.sh): it mounts and drops the page cache")
    # Turn SIGTERM and SIGHUP into an exception like Ctrl-C, so every mount's cleanup still runs.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, _: sys.exit(128 + signum))

    began = time.monotonic()
    parts = []
    try:
        prepare_dir(cfg)
        for name in cfg.sections:
            log(f"section {name}")
            section_began = time.monotonic()
            part = importlib.import_module(f".{name}", __package__).run_section(cfg)
            part.minutes = (time.monotonic() - section_began) / 60
            log(f"section {name} done in {part.minutes:.1f} min")
            parts.append(part)
    finally:
        ensure_unmounted(cfg.mnt)
    elapsed = time.monotonic() - began

    (cfg.dir / "results.json").write_text(json.dumps(
        {name: {f"{who}/{what}": values for (who, what), values in part.values.items()}
         | {"failures": part.failures, "minutes": part.minutes}
         for name, part in zip(cfg.sections, parts)}, indent=1))
    write_markdown(cfg, parts, elapsed)
    for part in parts:
        print(f"\n{part.title} ({part.minutes:.1f} min)\n\n{part.table()}")
    print(f"\nMedians of {cfg.runs} run(s) in {elapsed / 60:.1f} min; written to {cfg.results} "
          f"(every run's values: {cfg.dir / 'results.json'}).")
    failures = sum(len(part.failures) for part in parts)
    if failures:
        print(f"{failures} measurement(s) failed; see {cfg.logs}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the mounts are already down: each one's cleanup ran on the way out
        sys.exit("bench: interrupted")
