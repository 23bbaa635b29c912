#!/usr/bin/env bash
# Compiles and lints genmount, tests included, for Windows and macOS on this Linux machine, then
# builds it for windows-gnu and runs its unit tests and `genmount generations` under wine.
#
# What it proves: every line of the Windows and macOS builds type-checks and passes clippy (the
# WinFsp and macFUSE adapters too), and the platform-neutral logic runs on Windows. What it does
# not: nothing is linked for MSVC or macOS, no kernel driver is loaded, nothing is mounted there
# (ci/workflows/ holds the hosting-CI jobs that do that). See the README's "Other platforms".
#
# How: Debian's rustc-web ships the std source, so std is built for each target (-Zbuild-std;
# RUSTC_BOOTSTRAP lets this stable compiler take the flag). There is no MSVC or macOS SDK here:
# bindgen and the C dependencies are pointed at mingw-w64's or Linux's headers, which is enough for
# objects that are never linked. ../shared/notes/cross-check.md tells why each setting is there.
#
# Usage: ci/cross.sh [windows|macos|macos-arm|wine]...   (no argument: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # rustc-web and its std source, clippy, clang for bindgen and the C dependencies, mingw-w64 to
    # link the windows-gnu build, wine to run it, nasm for aws-lc.
    apt-get install -y -qq rustc-web cargo-web rust-web-src rust-web-clippy clang libclang-dev \
        llvm gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 nasm wine64 >/dev/null
fi

# Debian's toolchain, not rustup's: only it has the std source. A target dir of its own, kept
# between runs: after the first run, a change to genmount alone re-checks in seconds.
export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CROSS_TARGET_DIR:-target/cross}
export AWS_LC_SYS_CMAKE_BUILDER=0
build_std=(-Zbuild-std=std,panic_abort --locked)
failed=()
failures=0

# Runs one step, prints one line for it, and counts a failure instead of stopping.
step() {
    local name=$1 log
    shift
    log=$(mktemp)
    local start=$SECONDS
    if "$@" >"$log" 2>&1; then
        echo "cross: $name: ok ($((SECONDS - start)) s)"
    else
        echo "cross: $name: FAILED ($((SECONDS - start)) s); its output:"
        grep -E -A12 '^(error|warning)|panicked at|^failures:' "$log" | head -150 || tail -60 "$log"
        failures=$((failures + 1))
    fi
    rm -f "$log"
}

check_target() {
    local target=$1
    shift
    step "$target: check --all-targets" cargo check "${build_std[@]}" --target "$target" --all-targets "$@"
    step "$target: clippy --all-targets" cargo clippy "${build_std[@]}" --target "$target" --all-targets "$@" -- -D warnings
    [ "$failures" = 0 ]
}

windows() {
    export BINDGEN_EXTRA_CLANG_ARGS="--target=x86_64-w64-mingw32 -Dstatic_assert=_Static_assert -D_ReadWriteBarrier=_ReadWriteBarrier -fms-extensions -fdeclspec"
    export CC_x86_64_pc_windows_msvc=clang CFLAGS_x86_64_pc_windows_msvc="--target=x86_64-w64-mingw32" \
           AR_x86_64_pc_windows_msvc=llvm-lib
    check_target x86_64-pc-windows-msvc
}

# fuser's build script asks pkg-config for macFUSE's `fuse`: a stand-in is enough, nothing links.
macos_env() {
    mkdir -p target/fakepc
    printf 'Name: fuse\nDescription: stand-in\nVersion: 2.9.9\nLibs: -lfuse\nCflags:\n' >target/fakepc/fuse.pc
    export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_PATH=$PWD/target/fakepc
}

macos() {
    macos_env
    export CC_x86_64_apple_darwin=clang CFLAGS_x86_64_apple_darwin="--target=x86_64-linux-gnu -D_GNU_SOURCE" \
           AR_x86_64_apple_darwin=llvm-ar
    check_target x86_64-apple-darwin
}

macos_arm() {
    macos_env
    # The C dependencies become x86-64 Linux objects, as for x86-64 (no macOS SDK or arm64 headers
    # here; objects that are never linked need not match). aws-lc's arm64 assembly cannot be
    # assembled that way, and needs no SDK: a wrapper leaves its target alone.
    local cc=$PWD/target/cross-cc
    printf '%s\n' '#!/bin/sh' \
        'for arg; do case $arg in *.S|*.s) exec clang "$@" ;; esac; done' \
        'exec clang "$@" --target=x86_64-linux-gnu -D_GNU_SOURCE' >"$cc"
    chmod +x "$cc"
    export CC_aarch64_apple_darwin=$cc AR_aarch64_apple_darwin=llvm-ar
    check_target aarch64-apple-darwin
}

wine_run() {
    local target=x86_64-pc-windows-gnu
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine WINEDEBUG=-all WINEPREFIX=$PWD/target/wineprefix
    # Beside the test programs and genmount.exe, where Windows looks for a DLL first.
    local out=$CARGO_TARGET_DIR/$target/debug
    mkdir -p "$out/deps"
    x86_64-w64-mingw32-gcc -shared -O2 -o "$out/bcryptprimitives.dll" ci/wine/bcryptprimitives.c -ladvapi32
    cp "$out/bcryptprimitives.dll" "$out/deps/"
    # --tests too: the integration tests are empty off Linux, but building them builds the real
    # genmount.exe with the same dependency features, so the listing below needs no second build.
    # Dependencies unoptimised (the native build optimises them: a third more to compile), but
    # for restic's key derivation, which would take half a minute without.
    step "$target: unit tests under wine" cargo test "${build_std[@]}" --target "$target" --lib --bins --tests \
        --config 'profile.dev.package."*".opt-level=0' --config 'profile.dev.package.scrypt.opt-level=3' \
        --config 'profile.dev.package.salsa20.opt-level=3'
    step "$target: genmount generations of the demo under wine" wine_generations "$target"
    [ "$failures" = 0 ]
}

# The bundled demo listed by the Windows binary, given Windows paths: the restic repository and
# the same generations as snapshot folders, each by the generations' names.
wine_generations() {
    local exe=$CARGO_TARGET_DIR/$1/debug/genmount.exe
    local expected="2026-11-01_09-00-00 2026-11-08_09-00-00 2026-11-15_09-00-00" listed names
    for repo in 'tests\fixtures\restic-demo' 'dir:tests\fixtures\demo-snapshots'; do
        listed=$(wine "$exe" generations "$repo" --password-file 'tests\fixtures\restic-demo.password' | tr -d '\r')
        echo "$listed"
        names=$(echo "$listed" | awk 'NR > 1 { print $1 }' | xargs)
        [ "$names" = "$expected" ] || { echo "$repo: listed '$names', expected '$expected'" >&2; return 1; }
    done
}

[ $# -gt 0 ] || set -- windows macos macos-arm wine
for what in "$@"; do
    case $what in
        windows) (windows) || failed+=(windows) ;;
        macos) (macos) || failed+=(macos) ;;
        macos-arm) (macos_arm) || failed+=(macos-arm) ;;
        wine) (wine_run) || failed+=(wine) ;;
        *) echo "ci/cross.sh: unknown part $what (windows, macos, macos-arm or wine)" >&2; exit 2 ;;
    esac
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "cross: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "cross: all passed"
