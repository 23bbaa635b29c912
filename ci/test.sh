#!/usr/bin/env bash
# Installs what genmount's tests need on a fresh Debian machine, then runs every check:
# formatting, clippy, the unit and FUSE integration tests (run as root: they mount), the Windows
# and macOS builds (ci/cross.sh) and the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # fuse3: fusermount3 and mount.fuse3; restic, borgbackup and rclone: the real peers the tests
    # use; util-linux, bsdutils and mount: setpriv, script and mount(8), which tests run as a user
    # would; curl, davfs2 and chromium: the real WebDAV and browser clients of `genmount serve`.
    apt-get install -y -qq fuse3 restic borgbackup rclone attr util-linux bsdutils mount curl tar \
        openssl davfs2 chromium >/dev/null
    # borg 1.1 and 1.4 beside Debian's 1.2, for tests/borg_versions.rs: a venv each under /opt/borg,
    # built by pip from PyPI's source against Debian's libraries (libcrypto, liblz4, libzstd, libacl;
    # libxxhash for 1.4: 1.1 bundles its own). 1.4's setup.py looks for them with pkg-config while
    # pip only prepares its metadata: without the -dev packages even `pip download` fails there. Only
    # the `borg` command is needed (no llfuse). A venv that already has its version is kept.
    apt-get install -y -qq python3-venv python3-dev build-essential pkg-config libssl-dev \
        liblz4-dev libzstd-dev libxxhash-dev libacl1-dev >/dev/null
    for version in 1.1.18 1.4.5; do
        venv=/opt/borg/${version%.*}
        if [ "$("$venv/bin/borg" --version 2>/dev/null)" != "borg $version" ]; then
            rm -rf "$venv"
            /usr/bin/python3 -m venv "$venv"
            "$venv/bin/pip" install -q --no-cache-dir "borgbackup==$version"
        fi
    done
fi
[ -e /dev/fuse ] || { echo "ci/test.sh: /dev/fuse is missing; the tests need FUSE" >&2; exit 1; }

cargo fmt --all -- --check
# The fuzz crate is a workspace of its own: `--all` above does not reach it.
cargo fmt --manifest-path ci/fuzz/Cargo.toml --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# The OpenDAL backends (S3, B2, Azure, GCS, SFTP…) are a feature: make sure it still compiles.
cargo check --locked --features opendal

# Windows and macOS: compiled and linted, tests included; the neutral logic run under wine.
bash ci/cross.sh

# Fuzzing: the code that turns repository data into names and nodes (ci/fuzz/fuzz_targets), each
# target for a bounded time (about 5 minutes in all with the build, on 2 cores). No sanitizer: the
# code the targets reach has no unsafe code (src/'s few libc calls are borg's lock, passphrase fd and
# ssh pipe), and panics and overflow checks need none; so the default toolchain can build it
# when there is no nightly. The fuzz crate has its own target dir and Cargo.lock: after a change to
# genmount's dependencies, refresh it: `cp Cargo.lock ci/fuzz/ && cargo metadata --manifest-path
# ci/fuzz/Cargo.toml >/dev/null`. A crash fails the step and leaves its input in
# ci/fuzz/artifacts/<target>/; once fixed, it goes to ci/fuzz/seeds/<target>/, run first every time.
fuzz_seconds=30
toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1; then toolchain=(+nightly); fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version '^0.13'
cargo "${toolchain[@]}" fetch --locked --manifest-path ci/fuzz/Cargo.toml
fuzz_options=(--fuzz-dir ci/fuzz --target-dir ci/fuzz/target --sanitizer none)
cargo "${toolchain[@]}" fuzz build "${fuzz_options[@]}"
for target in names restic_node win_names naming; do
    corpus=(ci/fuzz/corpus/"$target")
    [ -d ci/fuzz/seeds/"$target" ] && corpus+=(ci/fuzz/seeds/"$target")
    mkdir -p "${corpus[0]}"
    cargo "${toolchain[@]}" fuzz run "${fuzz_options[@]}" "$target" "${corpus[@]}" -- \
        -max_total_time="$fuzz_seconds" -timeout=10 -verbosity=0 -print_final_stats=1
done
