#!/usr/bin/env bash
# Installs what genmount's tests need on a fresh Debian machine, then runs every check:
# formatting, clippy, and the unit and FUSE integration tests (run as root: they mount).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # fuse3: fusermount3 and mount.fuse3; restic and rclone: the real peers the tests use; util-linux,
    # bsdutils and mount: setpriv, script and mount(8), which tests run as a user would.
    apt-get install -y -qq fuse3 restic rclone attr util-linux bsdutils mount >/dev/null
fi
[ -e /dev/fuse ] || { echo "ci/test.sh: /dev/fuse is missing; the tests need FUSE" >&2; exit 1; }

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# The OpenDAL backends (S3, B2, Azure, GCS, SFTP…) are a feature: make sure it still compiles.
cargo check --locked --features opendal
