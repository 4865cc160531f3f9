#!/usr/bin/env bash
# The real daemon on an emulated Raspberry Pi 3
# (docs/src/development/emulated-pi.md): QEMU's raspi3b machine runs Debian's own arm64 kernel
# with the Pi 3's device tree, so piclockd meets the real pinctrl-bcm2835
# driver, the GPIO character device (uAPI v2) and the line names GPIO12
# and GPIO13; the kernel's gpio:gpio_value trace records every line change.
#
#   1. deps: qemu-system-arm (QEMU 10 from backports when reachable, for
#      the RTC part), cpio, the arm64 cross build (scripts/deps.sh);
#   2. guest packages, by name, for arm64 (apt-get download with an apt
#      configuration of its own that reads the machine's Debian sources):
#      the kernel, busybox-static, dbus-daemon and the libraries the guest's
#      programs link against; cached under target/pi-emulated/ (in
#      CARGO_TARGET_DIR if set);
#   3. builds: piclockd, piclockctl, pi-gpio-probe for aarch64 (dev
#      profile), pi-trace-check for the host;
#   4. an initramfs: busybox, dbus-daemon, our binaries, their libraries
#      (found from their ELF NEEDED entries), four kernel modules, and
#      scripts/pi-emulated-guest.sh as /init;
#   5. boots it (-icount: the guest's clock counts instructions, so host
#      load does not reach the pulses' timing); the guest writes its
#      results as a tar to an SD card image, read back here;
#   6. pi-trace-check judges them and prints the figures.
#
#   scripts/pi-emulated.sh                     # the cross-built dev daemon
#   scripts/pi-emulated.sh --piclockd FILE     # another arm64 piclockd (a packaged one, a broken one)
#
# PI_EMULATED_CATCHUP (seconds, 60..=300, default 120): how far the hands are set
# behind and ahead for the forward and reverse catch-ups. Exits non-zero
# when a check fails; the guest's results stay in target/pi-emulated/run/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

# Cargo's target directory (CARGO_TARGET_DIR, as cargo reads it).
tdir=${CARGO_TARGET_DIR:-target}
piclockd_bin=$tdir/aarch64-unknown-linux-gnu/debug/piclockd
while [ $# -gt 0 ]; do
  case "$1" in
    --piclockd)
      piclockd_bin=$2
      shift 2
      ;;
    *)
      echo "usage: scripts/pi-emulated.sh [--piclockd FILE]" >&2
      exit 2
      ;;
  esac
done
catchup=${PI_EMULATED_CATCHUP:-120}
case "$catchup" in '' | *[!0-9]*) echo "PI_EMULATED_CATCHUP: seconds, got $catchup" >&2 && exit 2 ;; esac
# At least 60 s (the checker wants 60 fast and 30 reverse moves); at most
# 300 s, which the trace buffer holds.
[ "$catchup" -ge 60 ] && [ "$catchup" -le 300 ] || {
  echo "PI_EMULATED_CATCHUP: 60..=300 seconds, got $catchup" >&2
  exit 2
}

start=$SECONDS
step() { echo "pi-emulated: [$((SECONDS - start)) s] $*"; }
fail() {
  echo "pi-emulated: FAIL: $*" >&2
  exit 1
}

cache=$tdir/pi-emulated
target=aarch64-unknown-linux-gnu
# The guest's programs and what they link against (checked below from the
# ELF files themselves: a missing library fails the build of the initramfs).
GUEST_PACKAGES=(
  busybox-static libc6 libgcc-s1
  dbus-daemon libdbus-1-3 libexpat1 libsystemd0 libapparmor1 libaudit1 libcap-ng0 libselinux1
  libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1 libpcre2-8-0
)
# The kernel modules the guest loads: the watchdog (to leave QEMU), the SD
# host (the results), the I2C controller and i2c-dev (the RTC part).
GUEST_MODULES=(watchdog/bcm2835_wdt mmc/host/bcm2835 i2c/busses/i2c-bcm2835 i2c/i2c-dev)

step "dependencies"
deps_pi_emulated
step "$(first_line "$(qemu-system-aarch64 --version)")"

# An apt configuration for arm64 of its own (lists, cache and status under
# target/), reading the machine's own Debian sources.
arm64_apt() {
  local dir=$PWD/$cache/apt
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/preferences.d"
  touch "$dir/status"
  cat >"$dir/apt.conf" <<EOF
Dir::State "$dir";
Dir::State::lists "$dir/lists";
Dir::State::status "$dir/status";
Dir::Cache "$dir/cache";
Dir::Etc::sourcelist "/etc/apt/sources.list";
Dir::Etc::sourceparts "/etc/apt/sources.list.d";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$dir/preferences.d";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
EOF
  if [ -z "$(find "$dir/lists" -name '*_Packages*' -mmin -1440 2>/dev/null | sed -n 1p)" ]; then
    apt-get -c "$dir/apt.conf" update -qq
  fi
}

# Downloads the kernel and the guest packages (apt-get download skips
# those already there, older versions are removed) and unpacks them into
# $root when they changed.
fetch() {
  local conf=$PWD/$cache/apt/apt.conf debs=$cache/debs empty=$cache/apt/empty names pkgs
  abi=$(apt-cache -c "$conf" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/ { sub(/^linux-image-/, "", $2); print $2; exit }')
  [ -n "$abi" ] || fail "no linux-image-arm64 for arm64 in the machine's Debian sources"
  pkgs=("linux-image-$abi-unsigned" "${GUEST_PACKAGES[@]}")
  mkdir -p "$debs" "$empty"
  # The file names of the candidates (printed only where they are not yet).
  names=$(cd "$empty" && apt-get -c "$conf" --print-uris download "${pkgs[@]}" | awk '{ print $2 }')
  [ "$(wc -l <<<"$names")" -eq "${#pkgs[@]}" ] || fail "not every guest package is in the arm64 lists: ${pkgs[*]}"
  (cd "$debs" && apt-get -c "$conf" download -qq "${pkgs[@]}")
  for f in "$debs"/*.deb; do grep -qxF "$(basename "$f")" <<<"$names" || rm -f "$f"; done
  root=$cache/root
  if [ "$(cat "$root/.debs" 2>/dev/null)" != "$names" ]; then
    rm -rf "$root"
    mkdir -p "$root"
    while read -r d; do dpkg-deb -x "$debs/$d" "$root"; done <<<"$names"
    echo "$names" >"$root/.debs"
  fi
}

step "guest packages for arm64 (apt-get download, cached in $cache/debs)"
arm64_apt
fetch
step "kernel $abi; $(grep -c . <<<"$(ls "$cache/debs")") packages"

step "cargo build (aarch64 dev: piclockd, piclockctl, pi-gpio-probe; host: pi-trace-check)"
cargo build -q -p piclockd -p piclockctl -p piclock-pi-emulated --bin piclockd --bin piclockctl --bin pi-gpio-probe --target "$target"
cargo build -q -p piclock-pi-emulated --bin pi-trace-check
[ -f "$piclockd_bin" ] || fail "no piclockd at $piclockd_bin"
grep -q "ARM aarch64" <<<"$(file -b "$piclockd_bin")" || fail "$piclockd_bin is not an arm64 program: $(file -b "$piclockd_bin")"

# The initramfs: our programs (debug info stripped: the guest loads all of
# it into RAM), busybox, dbus-daemon, their libraries, the modules, /init.
initramfs() {
  local fs=$cache/initramfs lib modules
  rm -rf "$fs"
  mkdir -p "$fs"/{bin,usr/bin,lib/aarch64-linux-gnu,lib/modules,etc,proc,sys,dev,tmp,run}
  cp "$root/bin/busybox" "$fs/bin/"
  cp "$root/usr/bin/dbus-daemon" "$fs/usr/bin/"
  aarch64-linux-gnu-strip -o "$fs/usr/bin/piclockd" "$piclockd_bin"
  for b in piclockctl pi-gpio-probe; do aarch64-linux-gnu-strip -o "$fs/usr/bin/$b" "$tdir/$target/debug/$b"; done
  cp scripts/pi-emulated-guest.sh "$fs/init"
  chmod 755 "$fs/init"
  printf 'root:x:0:0:root:/root:/bin/sh\nmessagebus:x:100:101::/nonexistent:/bin/false\n' >"$fs/etc/passwd"
  printf 'root:x:0:\nmessagebus:x:101:\n' >"$fs/etc/group"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$fs/etc/machine-id"
  modules=$root/lib/modules/$abi/kernel/drivers
  for m in "${GUEST_MODULES[@]}"; do cp "$modules/$m.ko" "$fs/lib/modules/"; done
  # Libraries: the closure of the ELF NEEDED entries, from the packages.
  local todo=("$fs/usr/bin/piclockd" "$fs/usr/bin/piclockctl" "$fs/usr/bin/pi-gpio-probe" "$fs/usr/bin/dbus-daemon")
  local seen=" " f
  while [ "${#todo[@]}" -gt 0 ]; do
    f=${todo[0]}
    todo=("${todo[@]:1}")
    for lib in $(aarch64-linux-gnu-readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ "$seen" == *" $lib "* ]] && continue
      seen+="$lib "
      local src
      src=$(find "$root/lib" "$root/usr/lib" -name "$lib" -print -quit)
      [ -n "$src" ] || fail "no $lib in the guest packages (needed by $(basename "$f")): add its package to GUEST_PACKAGES"
      cp -L "$src" "$fs/lib/aarch64-linux-gnu/$lib"
      todo+=("$fs/lib/aarch64-linux-gnu/$lib")
    done
  done
  cp -L "$root/lib/ld-linux-aarch64.so.1" "$fs/lib/"
  (cd "$fs" && find . | cpio -o -H newc --quiet) >"$cache/initrd.cpio"
  echo "$(wc -w <<<"$seen") libraries"
}

step "initramfs: $(initramfs), $(du -m "$cache/initrd.cpio" | cut -f1) MB"

run=$cache/run
rm -rf "$run"
mkdir -p "$run/results"
truncate -s 64M "$run/sd.img"
qemu_args=(
  -M raspi3b -m 1G -nographic -no-reboot -icount shift=0,sleep=off
  -kernel "$root/boot/vmlinuz-$abi" -dtb "$root/usr/lib/linux-image-$abi/broadcom/bcm2837-rpi-3-b.dtb"
  -initrd "$cache/initrd.cpio" -drive "if=sd,format=raw,file=$run/sd.img"
)
rtc=1
if [ -n "$PI_QEMU_RTC_SKIP" ]; then
  # In CI a part that cannot run is a failure, not a skip.
  [ "${CI:-}" != true ] || fail "CI=true and the RTC part cannot run: $PI_QEMU_RTC_SKIP"
  rtc=0
  step "RTC part SKIPPED: $PI_QEMU_RTC_SKIP"
else
  # The DS1338 follows the guest's (virtual) clock, as the guest's system clock does.
  qemu_args+=(-device ds1338,bus=i2c-bus.1,address=0x68 -rtc base=utc,clock=vm)
fi
# iomem=relaxed: pi-gpio-probe reads the GPIO controller's registers,
# which the pinctrl driver owns, through /dev/mem.
append="console=ttyAMA0,115200 rdinit=/init quiet panic=1 iomem=relaxed pe.epoch=$(date +%s) pe.catchup=$catchup pe.rtc=$rtc"

step "booting the emulated Pi 3 (guest log: $run/console.log)"
boot_start=$SECONDS
timeout 900 qemu-system-aarch64 "${qemu_args[@]}" -append "$append" >"$run/console.log" 2>&1 &
qemu=$!
trap 'kill "$qemu" 2>/dev/null || true' EXIT
tail -n +1 -f --pid="$qemu" "$run/console.log" 2>/dev/null | grep --line-buffered -a '^pi-emulated: guest:' || true
wait "$qemu" || fail "QEMU failed or timed out ($run/console.log)"
step "the guest ran $((SECONDS - boot_start)) s"

tar -xmf "$run/sd.img" -C "$run/results" || fail "no results on the SD card image ($run/console.log)"
[ -f "$run/results/trace.txt.gz" ] && gunzip "$run/results/trace.txt.gz"
[ "$rtc" = 1 ] || echo "$PI_QEMU_RTC_SKIP" >"$run/results/rtc-skipped.txt"
if [ -s "$run/results/guest-errors.txt" ]; then
  fail "the guest script stopped: $(cat "$run/results/guest-errors.txt") (results in $run/results)"
fi
step "checking ($tdir/debug/pi-trace-check $run/results)"
"$tdir/debug/pi-trace-check" "$run/results" || fail "the checks failed (results in $run/results)"
step "passed"
