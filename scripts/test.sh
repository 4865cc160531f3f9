#!/usr/bin/env bash
# The full test suite: installs what it needs, then formatting, the book and
# its links, lints, unit and property tests, integration tests on private
# buses, the system-file checks,
# the packaging checks (on the debug build), and the package installed and
# run by systemd in a booted Debian 12 container.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
deps_cargo_deb
deps_mdbook
export PATH="$HOME/.cargo/bin:$PATH"
start=$SECONDS
# Prints the time spent so far before each stage (CI has 90 minutes; the
# suite stays under 60 here).
stage() { echo "== [$((SECONDS - start)) s] $*"; }

# Every property test of the run (the cargo test stage and the ARM one) draws
# its cases from one seed, printed here and by each failing test; after the
# failures kept in proptest-regressions/, which run first. Replay a failure
# with the seed printed (docs/src/development/tests.md, "Property tests"):
#   PROPTEST_RNG_SEED=<seed> cargo test -p <crate> <test name>
export PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' \n')}
echo "== property tests: PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED (replay: PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED cargo test -p <crate> <test name>)"

stage "cargo fmt --check"
cargo fmt --all -- --check
stage "the book: mdbook build docs, every link and anchor checked (scripts/docs-check.sh)"
bash scripts/docs-check.sh
stage "cargo clippy"
cargo clippy --workspace --all-targets --features piclockd/testing -- -D warnings
stage "cargo test"
cargo test --workspace
stage "fuzz: every target for 3 s (scripts/fuzz.sh; longer runs: fuzz/README.md)"
FUZZ_SANITIZER=none FUZZ_BUILD=dev bash scripts/fuzz.sh 3
stage "systemd unit checks"
if [ "$(id -u)" -eq 0 ]; then bash systemd/check.sh; else sudo bash systemd/check.sh; fi
stage "polkit checks (real polkitd on a private system bus)"
if [ "$(id -u)" -eq 0 ]; then bash polkit/check.sh; else sudo bash polkit/check.sh; fi
stage "ARM under qemu-user (scripts/arm-check.sh): core tests, arm64 and armhf daemons catch up 1 h at 60x"
bash scripts/arm-check.sh
stage "emulated Raspberry Pi 3 (scripts/pi-emulated.sh): the arm64 daemon on the real BCM2835 GPIO driver, its pulses from the kernel's trace through the movement model; the RTC paths on a DS1338"
bash scripts/pi-emulated.sh
stage "hand sensors on a real kernel (scripts/sensor-gpio-sim.sh): x86 kernel with gpio-sim under QEMU, the real edge events correct a belief 4 steps off"
bash scripts/sensor-gpio-sim.sh
stage "packaging checks (make install/uninstall, .deb contents for amd64, arm64, armhf, maintainer scripts, udev rules, lintian)"
bash scripts/package-check.sh
stage "installed on a real systemd (the amd64 .deb in a booted Debian 12 container: systemd/nspawn-check.sh)"
deb=$(compgen -G "${CARGO_TARGET_DIR:-target}/package-check/piclock_*_amd64.deb") || {
    echo "no piclock_*_amd64.deb in ${CARGO_TARGET_DIR:-target}/package-check/ (scripts/package-check.sh builds it)" >&2
    exit 1
}
if [ "$(id -u)" -eq 0 ]; then bash systemd/nspawn-check.sh "$deb"; else sudo bash systemd/nspawn-check.sh "$deb"; fi
stage "all tests passed"
