#!/usr/bin/env bash
# Builds the Debian packages piclock and piclock-gtk with cargo-deb
# (metadata: [package.metadata.deb] in piclockd/Cargo.toml and
# piclock-gtk/Cargo.toml; maintainer scripts and overrides in debian/).
#
#   scripts/package.sh                  # release build; packages in target/debian/
#   scripts/package.sh --debug OUTDIR   # no build: packages the debug binaries that
#                                       # scripts/test.sh built (scripts/package-check.sh)
#
# Man pages and completions are generated first (make gen, into
# <target>/<profile>/gen/). Needs cargo-deb (scripts/deps.sh installs the pinned
# version) and, for the release build, libgtk-4-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

usage() { echo "usage: scripts/package.sh [--debug OUTDIR]" >&2; exit 2; }
profile=release
out=
case $# in
    0) ;;
    2) [ "$1" = --debug ] || usage; profile=debug; out=$2 ;;
    *) usage ;;
esac
target=${CARGO_TARGET_DIR:-target}
out=${out:-$target/debian}

if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "package.sh: cargo-deb is missing: run scripts/deps.sh" >&2
    exit 1
fi

if [ "$profile" = release ]; then
    # One cargo invocation for the three binaries: the same features as one build.
    cargo build --release --locked -p piclockd -p piclockctl -p piclock-gtk --bins
    # [profile.release] keeps debug info (debug = 1): strip it from the packages.
    deb_flags=(--profile release --strip)
else
    for bin in piclockd piclockctl piclock-gtk; do
        if [ ! -x "$target/debug/$bin" ]; then
            echo "package.sh: $target/debug/$bin is missing: build first (cargo build --workspace --bins)" >&2
            exit 1
        fi
    done
    # cargo-deb warns that it does not support the dev profile: it works, and
    # spares CI a release build (the binaries are stripped all the same).
    deb_flags=(--profile dev --fast --strip)
fi
make --no-print-directory PROFILE="$profile" gen >/dev/null

mkdir -p "$out"
cargo deb -p piclockd --no-build "${deb_flags[@]}" -o "$out/"
cargo deb -p piclock-gtk --no-build "${deb_flags[@]}" -o "$out/"
