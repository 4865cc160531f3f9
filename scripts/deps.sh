#!/usr/bin/env bash
# Installs what PiClock needs to build, run and test on Debian 12 / Raspberry Pi OS:
# Debian packages (as root, or through sudo) and a Rust toolchain (rustup) if
# cargo is missing. Safe to run again: it installs only what is missing.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config curl ca-certificates  # building
  libgtk-4-dev                                      # piclock-gtk
  xvfb xdotool imagemagick librsvg2-common          # piclock-gtk tests (X server, keys, screenshots, SVG icon)
  desktop-file-utils                                # desktop-file-validate (piclock-gtk's .desktop file)
  dbus dbus-bin libglib2.0-bin                      # dbus-daemon, busctl, gdbus (tests, demo)
  systemd                                           # systemd-analyze (unit checks)
  polkitd libxml2-utils util-linux passwd           # polkit checks (pkcheck, xmllint, setpriv, useradd)
  rt-tests stress-ng                                # timing benchmark (cyclictest, load)
  chrony                                            # a real NTP server on loopback (tests)
  faketime                                          # libfaketime: step the system clock under the daemon (tests)
  openssh-client openssh-server                     # piclockctl -H over a real sshd on loopback (tests)
  dpkg-dev lintian                                  # .deb packages: cargo-deb (dpkg-shlibdeps), checks
  systemd-container debootstrap                     # the booted Debian 12 container (systemd/nspawn-check.sh)
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs those of the Debian packages given that are missing.
deps_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
deps_apt "${PACKAGES[@]}"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: installing the Rust toolchain with rustup (Debian's rustc is too old)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
fi
for c in clippy rustfmt; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    rustup component add "$c"
  fi
done

# cargo-deb builds the .deb packages (scripts/package.sh), pinned; installed
# with cargo when missing. --debug: 1.5 min instead of 2-2.5 on 2 cores, and
# it packages as fast (the work is strip and compression). Run by
# scripts/deps.sh itself and by scripts/test.sh, not by demo.sh or bench.sh.
CARGO_DEB_VERSION=3.8.0
deps_cargo_deb() {
  if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "deps: installing cargo-deb $CARGO_DEB_VERSION (cargo install, about 1.5 min)"
    cargo install cargo-deb --locked --debug --version "$CARGO_DEB_VERSION"
  fi
}

# ARM cross-builds (README.md, "ARM builds"; .cargo/config.toml names the
# linkers and the qemu runners): Debian's cross gcc and C libraries, qemu-user
# to run the ARM binaries and tests here, and Rust's standard library for both
# targets. About 375 MB of Debian packages and 270 MB of Rust libraries (20 s
# here), so not part of the plain run: scripts/arm-check.sh calls it, and
# `scripts/deps.sh --cross` runs it too.
CROSS_PACKAGES=(
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross     # arm64: linker, C library (qemu's -L root)
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross   # armhf (ARMv7 hard-float): the same
  qemu-user                                       # qemu-aarch64, qemu-arm (no binfmt registration)
)
CROSS_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
deps_cross() {
  deps_apt "${CROSS_PACKAGES[@]}"
  local installed t
  installed=$(rustup target list --installed 2>/dev/null) || {
    echo "deps: rustup is missing: the ARM targets need a rustup toolchain" >&2
    return 1
  }
  for t in "${CROSS_TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
  done
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  deps_cargo_deb
  if [ "${1:-}" = "--cross" ]; then
    deps_cross
  fi
fi
