"""The markdown: numbers formatted, ratios oriented, tables aligned, the machine described, and the
sections' parts put together into one results file."""

from __future__ import annotations

import datetime
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .common import MiB, ROOT, run


@dataclass
class Part:
    """What a section hands to the report."""
    title: str
    intro: list  # bullet lines: data set, repository, tools
    header: list
    rows: list
    notes: list  # bullet lines explaining the columns
    failures: list = field(default_factory=list)
    values: dict = field(default_factory=dict)  # every run's values, for results.json
    minutes: float = 0.0

    def table(self):
        return markdown_table(self.header, self.rows)


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


def versus(mine, other, higher_is_better):
    """Oriented so that > 1 always means `mine` is better: speeds mine/other, times and memory
    other/mine."""
    return ratio(mine, other) if higher_is_better else ratio(other, mine)


def target_met(mine, other, higher_is_better, goal):
    """The issue's goal for a ratio (at least `goal`, oriented as `versus`), and whether it is met."""
    text = versus(mine, other, higher_is_better)
    if not text:
        return f"≥{goal}"
    return f"≥{goal}: {'yes' if float(text) >= goal else 'no'}"


def pair_rows(results, other, specs):
    """Rows of genmount against one other target: label, both medians, the oriented ratio and the
    issue's goal for it. specs: (results key, label, unit, higher is better, goal or None)."""
    rows = []
    for key, label, unit, higher, goal in specs:
        g, o = results.median("genmount", key), results.median(other, key)
        rows.append([f"{label} ({unit})", fmt(g, unit), fmt(o, unit), versus(g, o, higher),
                     target_met(g, o, higher, goal) if goal else ""])
    return rows


def specs_of(measures, goals, rss=True):
    """pair_rows' specs of `measures`, with their goals (key -> goal), then the daemon's peak RSS."""
    specs = [(m.key, m.label, m.unit, m.higher_is_better, goals.get(m.key)) for m in measures]
    return specs + ([("rss", "daemon peak RSS", "MiB", False, goals.get("rss"))] if rss else [])


def markdown_table(header, rows):
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "| " + " | ".join("-" * w if i == 0 else "-" * (w - 1) + ":"
                             for i, w in enumerate(widths)) + " |"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


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
    tools = [f"{first_line([cfg.genmount, '--version'])} at commit {commit}"]
    if {"restic", "scale"} & set(cfg.sections):
        tools.append(first_line(["restic", "version"]))
    if "borg" in cfg.sections:
        tools.append(first_line(["borg", "--version"]))
    return [f"Machine: {os.cpu_count()} CPUs ({cpu}), {memory_gib:.1f} GiB memory, "
            f"Linux {os.uname().release}",
            "Tools: " + "; ".join(tools)]


COMMON_NOTES = [
    "Every measurement is cold: each runs on a fresh mount (or a fresh `restic restore`) whose local "
    "cache directory starts empty, with the page cache dropped (`echo 3 > /proc/sys/vm/drop_caches`) "
    "once the mount is ready; the times from mount start drop it before starting the daemon. "
    "MB = 10^6 bytes.",
    "",
    "- Ratio columns are oriented so that above 1 always means genmount is better: genmount ÷ the "
    "other for speeds (MB/s, reads/s), the other ÷ genmount for times and memory. *target* is the "
    "goal of the issue named in the section for that ratio, and whether this run meets it.",
    "- Daemon peak RSS: the highest `VmHWM` of the daemon, read just before each unmount, over a "
    "run's mounts.",
    "- Copies (`cp -r`, `restic restore`) go to a fresh directory in memory (tmpfs, BENCH_OUT), the "
    "same for every tool.",
]


def write_markdown(cfg, parts, elapsed):
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        "# genmount benchmark",
        "",
        f"Made by `ci/bench.sh` on {now:%Y-%m-%d %H:%M} UTC in {elapsed / 60:.0f} min: the median of "
        f"{cfg.runs} run{'s' if cfg.runs > 1 else ''} per measurement, genmount and the other tools "
        "taking turns in the same run, the order rotated from run to run (sections: " + ", ".join(cfg.sections) + ").",
        "",
    ]
    lines += [f"- {line}" for line in machine(cfg)]
    lines += ["", *COMMON_NOTES]
    for part in parts:
        lines += ["", f"## {part.title}", "", f"In {part.minutes:.1f} min.", ""]
        lines += [f"- {line}" for line in part.intro]
        lines += ["", part.table(), ""]
        lines += [f"- {line}" for line in part.notes]
        if part.failures:
            lines += ["", "Failed measurements (not in the medians):", ""]
            lines += [f"- {failure}" for failure in part.failures]
    cfg.results.parent.mkdir(parents=True, exist_ok=True)
    cfg.results.write_text("\n".join(lines) + "\n")
