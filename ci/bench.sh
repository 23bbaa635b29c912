#!/usr/bin/env bash
# genmount's performance benchmark, the entry point: as root on a fresh Debian machine, installs what
# the benchmark needs, builds genmount (unless GENMOUNT_BIN names a binary to use), then hands over to
# ci/bench.py, which makes the data set, measures genmount against `restic mount` and writes
# ci/bench-results.md. Every setting is an environment variable; see `python3 ci/bench.py --help`.
#
#   sudo bash ci/bench.sh
#   sudo GENMOUNT_BIN=/path/to/genmount BENCH_BIG_MB=256 BENCH_RUNS=1 bash ci/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "ci/bench.sh: $*" >&2; exit 1; }

# Mounting and dropping the page cache (echo 3 > /proc/sys/vm/drop_caches) both need root.
[ "$(id -u)" = 0 ] || fail "run as root: the benchmark mounts and drops the page cache"

# Install only what is missing, so a second run does not wait for apt.
missing=()
command -v restic >/dev/null || missing+=(restic)
command -v fusermount3 >/dev/null || missing+=(fuse3)
command -v python3 >/dev/null || missing+=(python3)
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

exec python3 ci/bench.py "$@"
