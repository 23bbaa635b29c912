#!/usr/bin/env bash
# genmount's performance benchmark, the entry point: as root on a fresh Debian machine, installs what
# the benchmark needs, builds genmount (unless GENMOUNT_BIN names a binary to use), then hands over to
# the Python package ci/bench/ (`python3 -m bench`), which makes the data sets, measures genmount
# against `restic mount`, `restic restore`, the disk and `borg mount` in sections (BENCH_SECTIONS) and
# writes ci/bench-results.md. Every setting is an environment variable; see `bash ci/bench.sh --help`.
#
#   sudo bash ci/bench.sh
#   sudo GENMOUNT_BIN=/path/to/genmount BENCH_BIG_MB=256 BENCH_RUNS=1 bash ci/bench.sh
#   sudo BENCH_SECTIONS=borg,scale BENCH_SCALE_N=100000 bash ci/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "ci/bench.sh: $*" >&2; exit 1; }

# Measure what users run: a developer's RUST_BACKTRACE makes every error inside rustic_core capture
# a backtrace (genmount makes some on purpose, reading past a pack's end), and RUST_LOG adds logging.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE RUST_LOG

# Mounting and dropping the page cache (echo 3 > /proc/sys/vm/drop_caches) both need root.
[ "$(id -u)" = 0 ] || fail "run as root: the benchmark mounts and drops the page cache"

# Install only what is missing, so a second run does not wait for apt.
missing=()
command -v restic >/dev/null || missing+=(restic)
command -v fusermount3 >/dev/null || missing+=(fuse3)
command -v python3 >/dev/null || missing+=(python3)
# The borg section needs borg 1.x, and `borg mount` needs llfuse or pyfuse3 in borg's own Python.
sections=${BENCH_SECTIONS:-borg}
case ",${sections// /}," in
*,borg,*)
    if ! command -v borg >/dev/null; then
        missing+=(borgbackup python3-llfuse)
    else
        borg_python=$(sed -n '1s/^#! *//p' "$(command -v borg)")
        ${borg_python:-python3} -c 'import llfuse' 2>/dev/null ||
            ${borg_python:-python3} -c 'import pyfuse3' 2>/dev/null || missing+=(python3-llfuse)
    fi
    ;;
esac
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -e /dev/fuse ] || fail "/dev/fuse is missing; the benchmark mounts through FUSE"

if [ -n "${GENMOUNT_BIN:-}" ]; then
    [ -x "$GENMOUNT_BIN" ] || fail "GENMOUNT_BIN=$GENMOUNT_BIN is not an executable file"
else
    command -v cargo >/dev/null || fail "cargo not found: install Rust (rustup.rs) or set GENMOUNT_BIN"
    cargo build --release --locked
    target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
    GENMOUNT_BIN="$target_dir/release/genmount"
fi
export GENMOUNT_BIN

export PYTHONPATH="$PWD/ci${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the checkout
exec python3 -m bench "$@"
