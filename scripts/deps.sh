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

# Never pipe into `grep -q` or `head` under `set -o pipefail`: they exit at
# the first match or line, the writer then dies of SIGPIPE, and the pipeline
# fails (141) although the line was there. Feed them a here-string, or use
# first_line, instead.
first_line() { printf '%s\n' "${1%%$'\n'*}"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Whether Debian package $1 is installed.
is_installed() {
  grep -q "install ok installed" <<<"$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)"
}

# Installs those of the Debian packages given that are missing.
deps_apt() {
  local missing=() p
  for p in "$@"; do
    is_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
deps_apt "${PACKAGES[@]}"

# Installs Debian package $1, unless installed, at the version of the
# installed package $2 (QEMU's packages must be of one version), or as
# deps_apt does when $2 is not installed. A backports version (~bpo) is
# taken with -t <codename>-backports, so that apt also takes backports'
# versions of its dependencies (without it: "held broken packages").
deps_apt_matching() {
  local pkg=$1 version codename release=()
  is_installed "$pkg" && return 0
  version=$(dpkg-query -W -f='${Version}' "$2" 2>/dev/null || true)
  [ -n "$version" ] || { deps_apt "$pkg"; return; }
  case "$version" in
    *bpo*)
      codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
      pi_backports_source "$codename" >&2 # the apt source, if it is gone (updates the lists)
      release=(-t "$codename-backports")
      ;;
    *) as_root apt-get update -qq ;;
  esac
  echo "deps: installing $pkg $version (the version of $2)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${release[@]}" "$pkg=$version" >/dev/null
}

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

# mdbook builds the book in docs/ (scripts/docs-check.sh, a stage of
# scripts/test.sh), pinned; installed with cargo when missing. --debug and
# only the search feature (no local server or file watcher): about 1 min
# on 2 cores, and it builds the book in a second.
MDBOOK_VERSION=0.5.4
deps_mdbook() {
  if [ "$(PATH="$HOME/.cargo/bin:$PATH" mdbook --version 2>/dev/null)" != "mdbook v$MDBOOK_VERSION" ]; then
    echo "deps: installing mdbook $MDBOOK_VERSION (cargo install, about 1 min)"
    cargo install mdbook --locked --debug --no-default-features --features search --version "$MDBOOK_VERSION"
  fi
}

# ARM cross-builds (docs/src/development/arm-builds.md; .cargo/config.toml
# names the linkers and the qemu runners): Debian's cross gcc and C
# libraries, qemu-user to run the ARM binaries and tests here, and Rust's
# standard library for both targets. About 375 MB of Debian packages and
# 270 MB of Rust libraries (20 s here), so not part of the plain run:
# scripts/arm-check.sh calls it, and `scripts/deps.sh --cross` runs it too.
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
# The emulated Raspberry Pi 3 (scripts/pi-emulated.sh;
# docs/src/development/emulated-pi.md): qemu-system-arm, cpio, and what
# deps_cross installs (the arm64 build). The RTC part needs a QEMU whose raspi3b has
# the BCM2835's I2C controller (QEMU 10; Debian 12's QEMU 7.2 has none):
# when the installed one has not, this takes qemu-system-arm from
# <codename>-backports, whose apt source it derives from the machine's own
# Debian entry (never a host name of its own), if that archive can be
# reached. Sets PI_QEMU_RTC_SKIP: empty when the RTC part can run, else why
# it cannot.
deps_pi_emulated() {
  deps_cross
  deps_apt cpio
  deps_apt_matching qemu-system-arm qemu-user
  PI_QEMU_RTC_SKIP=""
  pi_qemu_has_i2c && return 0
  local codename why
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ -z "$codename" ]; then
    why="no VERSION_CODENAME in /etc/os-release to find its backports by"
  elif ! why=$(pi_backports_source "$codename"); then
    :
  elif ! grep -q -- "$codename-backports" <<<"$(apt-cache madison qemu-system-arm)"; then
    why="$codename-backports has no qemu-system-arm here (is the archive reachable? apt-get update said so above)"
  else
    echo "deps: installing qemu-system-arm from $codename-backports (the RTC part needs its raspi3b I2C controller)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t "$codename-backports" qemu-system-arm >/dev/null
    why=""
  fi
  pi_qemu_has_i2c && return 0
  PI_QEMU_RTC_SKIP="$(first_line "$(qemu-system-aarch64 --version)") has no I2C controller on raspi3b${why:+; $why}"
}

# Whether this QEMU can put a DS1338 on raspi3b's I2C bus 1: QEMU starts
# (stopped, -S) with the device and quits at once, or fails naming the bus.
pi_qemu_has_i2c() {
  command -v qemu-system-aarch64 >/dev/null 2>&1 &&
    echo quit | timeout 20 qemu-system-aarch64 -M raspi3b -m 1G -nodefaults -display none -S \
      -monitor stdio -device ds1338,bus=i2c-bus.1,address=0x68 >/dev/null 2>&1
}

# Adds an apt source for $1-backports made from the machine's own Debian
# entry for $1 (deb822 .sources or one-line sources.list; security
# archives left out), unless one exists, and updates the package lists.
# Prints why not and fails when there is no entry to derive it from.
pi_backports_source() {
  local codename=$1 file=/etc/apt/sources.list.d/piclock-$1-backports.sources derived=""
  if grep -rqs -- "$codename-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    as_root apt-get update -qq || true
    return 0
  fi
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    derived+=$(awk -v c="$codename" 'BEGIN { RS = ""; ORS = "\n\n" }
      { p = "\n" $0 }
      p ~ ("\nSuites:([^\n]* )?" c "( |\n|$)") && p !~ /security/ {
        gsub(/\nSuites:[^\n]*/, "\nSuites: " c "-backports", p); print substr(p, 2) }' "$f")
  done
  if [ -z "$derived" ] && [ -e /etc/apt/sources.list ]; then
    derived=$(awk -v c="$codename" '$1 == "deb" && $0 !~ /security/ {
      for (i = 2; i <= NF; i++) if ($i == c) { $i = c "-backports"; print; break } }' /etc/apt/sources.list)
    file=/etc/apt/sources.list.d/piclock-$codename-backports.list
  fi
  if [ -z "$derived" ]; then
    echo "no Debian source entry for $codename in /etc/apt to derive $codename-backports from"
    return 1
  fi
  echo "deps: adding $file (the machine's Debian entry, suite $codename-backports)" >&2
  printf '# Added by scripts/deps.sh (deps_pi_emulated): the machine'"'"'s own Debian entry, suite %s-backports.\n%s\n' \
    "$codename" "$derived" | as_root tee "$file" >/dev/null
  as_root apt-get update -qq || true
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  deps_cargo_deb
  deps_mdbook
  if [ "${1:-}" = "--cross" ]; then
    deps_cross
  fi
fi
