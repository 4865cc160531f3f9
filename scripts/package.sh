#!/usr/bin/env bash
# Builds the Debian packages with cargo-deb (metadata: [package.metadata.deb]
# in piclockd/Cargo.toml and piclock-gtk/Cargo.toml; maintainer scripts and
# overrides in debian/): piclock (daemon, CLI, system files, man pages,
# completions) for amd64, arm64 and armhf, and the desktop panel piclock-gtk
# for amd64 only (docs/src/development/arm-builds.md says why).
#
#   scripts/package.sh                        # release builds; packages in target/debian/
#   scripts/package.sh --arch arm64           # only these architectures (comma-separated:
#                                             # amd64, arm64, armhf)
#   scripts/package.sh --debug OUTDIR [--arch LIST]
#                                             # no build: packages the debug binaries that
#                                             # scripts/test.sh built (scripts/package-check.sh)
#
# arm64 is aarch64-unknown-linux-gnu (Raspberry Pi 3, 4, 5, Zero 2 W with a
# 64-bit OS), armhf is armv7-unknown-linux-gnueabihf (Pi 2 and later with a
# 32-bit OS; not the ARMv6 Pi 1 and Zero W v1). They are cross-compiled here
# (.cargo/config.toml; scripts/deps.sh installs the cross linkers and Rust
# targets when they are missing). Man pages and completions are generated
# first by the machine's own piclockctl (make gen, into <target>/<profile>/gen/),
# and shared by all architectures. Needs cargo-deb (scripts/deps.sh installs
# the pinned version) and, for the release build, libgtk-4-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

usage() { echo "usage: scripts/package.sh [--debug OUTDIR] [--arch amd64,arm64,armhf]" >&2; exit 2; }
profile=release
out=
arches=amd64,arm64,armhf
while [ $# -gt 0 ]; do
    case $1 in
        --debug) [ $# -ge 2 ] || usage; profile=debug; out=$2; shift 2 ;;
        --arch) [ $# -ge 2 ] || usage; arches=$2; shift 2 ;;
        *) usage ;;
    esac
done
target=${CARGO_TARGET_DIR:-target}
out=${out:-$target/debian}

# The Rust target of a Debian architecture ("" for this machine's own).
triple_of() {
    case $1 in
        amd64) echo "" ;;
        arm64) echo aarch64-unknown-linux-gnu ;;
        armhf) echo armv7-unknown-linux-gnueabihf ;;
        *) echo "package.sh: unknown architecture '$1' (amd64, arm64 or armhf)" >&2; exit 2 ;;
    esac
}
IFS=, read -r -a arch_list <<<"$arches"
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "package.sh: builds on amd64 (x86_64) only" >&2; exit 1; }
cross=no
for a in "${arch_list[@]}"; do
    [ -n "$(triple_of "$a")" ] && cross=yes
done

if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "package.sh: cargo-deb is missing: run scripts/deps.sh" >&2
    exit 1
fi
if [ "$cross" = yes ] && [ "$profile" = release ]; then
    # shellcheck source=scripts/deps.sh
    source scripts/deps.sh
    deps_cross
fi

# Where cargo puts the binaries of Debian architecture $1.
bin_dir() {
    local t
    t=$(triple_of "$1")
    echo "$target${t:+/$t}/$profile"
}

if [ "$profile" = release ]; then
    # The panel and the machine's own binaries (which generate the man pages)
    # in one cargo invocation: the same features as one build.
    cargo build --release --locked -p piclockd -p piclockctl -p piclock-gtk --bins
    for a in "${arch_list[@]}"; do
        t=$(triple_of "$a")
        [ -z "$t" ] || cargo build --release --locked -p piclockd -p piclockctl --bins --target "$t"
    done
    # [profile.release] keeps debug info (debug = 1): strip it from the packages.
    deb_flags=(--profile release --strip)
else
    for a in amd64 "${arch_list[@]}"; do
        for bin in piclockd piclockctl; do
            if [ ! -x "$(bin_dir "$a")/$bin" ]; then
                echo "package.sh: $(bin_dir "$a")/$bin is missing: build first (cargo build -p piclockd -p piclockctl$(t=$(triple_of "$a"); echo "${t:+ --target $t}"))" >&2
                exit 1
            fi
        done
    done
    # cargo-deb warns that it does not support the dev profile: it works, and
    # spares CI a release build (the binaries are stripped all the same).
    deb_flags=(--profile dev --fast --strip)
fi
make --no-print-directory PROFILE="$profile" gen >/dev/null

mkdir -p "$out"
for a in "${arch_list[@]}"; do
    t=$(triple_of "$a")
    if [ -z "$t" ]; then
        cargo deb -p piclockd --no-build "${deb_flags[@]}" -o "$out/"
        [ -x "$(bin_dir amd64)/piclock-gtk" ] && cargo deb -p piclock-gtk --no-build "${deb_flags[@]}" -o "$out/"
        continue
    fi
    # The generated pages and completions do not depend on the architecture:
    # cargo-deb looks for them next to the target's binaries.
    rm -rf "$(bin_dir "$a")/gen"
    cp -r "$(bin_dir amd64)/gen" "$(bin_dir "$a")/gen"
    cargo deb -p piclockd --no-build "${deb_flags[@]}" --target "$t" -o "$out/"
done
