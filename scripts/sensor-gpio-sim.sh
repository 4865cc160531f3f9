#!/usr/bin/env bash
# The hand sensors' real edge-event adapter (gpiocdev) against a real kernel
# (docs/src/development/tests.md, "On a real kernel"): Debian's own x86_64
# kernel under QEMU (TCG), with an out-of-tree gpio-sim module built from
# Debian's kernel source (Debian's kernels have no GPIO_SIM), boots a
# busybox initramfs that mounts this machine's / read-only over 9p (with a
# tmpfs overlay), makes a gpio-sim chip whose lines are named GPIO12, GPIO13
# (the coil) and GPIO17 (the seconds sensor), and runs
# piclockd/tests/gpio_sim.rs in place: the real piclockd (no --simulate)
# pulses the coil lines, a player steps modelled hands on the pulses and
# pulls the sensor line while they pass 12, and the daemon must correct a
# belief set 4 steps off. Exits non-zero when the test fails; its output is
# printed.
#
#   scripts/sensor-gpio-sim.sh
#
# Cached under target/gpio-sim/: the kernel image and modules, the module,
# the initramfs (about 1.5-2 min and 210 MB of downloads the first time).
# GPIO_SIM_TIMEOUT (seconds, default 600) bounds the guest's run;
# GPIO_SIM_VERBOSE=1 prints every pulse the player sees.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

cache=$root/target/gpio-sim
mkdir -p "$cache"
timeout_s=${GPIO_SIM_TIMEOUT:-600}

# QEMU matching an installed qemu-system-common (backports or not).
command -v qemu-system-x86_64 >/dev/null 2>&1 || deps_apt_matching qemu-system-x86 qemu-system-common
abi=${GPIO_SIM_ABI:-$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-//p' | sed -n 1p)}
deps_apt busybox-static cpio kmod xz-utils gcc make libc6-dev "linux-headers-$abi" linux-source-6.1

# The kernel and its modules, unpacked (not installed).
kernel=$cache/kernel-$abi
if [ ! -f "$kernel/boot/vmlinuz-$abi" ]; then
  # (as a user _apt can write for, so that apt need not warn about it)
  (cd /tmp && apt-get download -qq "linux-image-$abi" && mv linux-image-"$abi"_*.deb "$cache/")
  rm -rf "$kernel"
  dpkg-deb -x "$cache"/linux-image-"$abi"_*.deb "$kernel"
fi
[ -f "$kernel/lib/modules/$abi/modules.dep" ] || depmod -b "$kernel" "$abi"

# gpio-sim and the interrupt simulator it needs, from the same source; on
# 6.1 irq_to_desc is not exported to modules: generic_handle_irq instead.
mod=$cache/module-$abi
if [ ! -f "$mod/gpiosim.ko" ]; then
  rm -rf "$mod" && mkdir -p "$mod"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$mod" --strip-components=3 \
    linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$mod" --strip-components=3 linux-source-6.1/kernel/irq/irq_sim.c
  sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$mod/irq_sim.c"
  grep -q 'generic_handle_irq(irqnum)' "$mod/irq_sim.c"
  printf 'obj-m := gpiosim.o\ngpiosim-y := gpio-sim.o irq_sim.o\n' >"$mod/Kbuild"
  make -s -C "/usr/src/linux-headers-$abi" M="$mod" modules
fi

# The test binary and the daemon, built here, run in place in the guest.
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build -q -p piclockd --bin piclockd
test_bin=$(CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo test -q -p piclockd --test gpio_sim --no-run \
  --message-format=json | grep '"name":"gpio_sim"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$test_bin" ] || { echo "sensor-gpio-sim: no test binary" >&2; exit 1; }

# The modules the guest loads, with their dependencies, in order.
modules() {
  local m dep
  for m in "$@"; do
    for dep in $(modinfo -b "$kernel" -k "$abi" -F depends "$m" | tr ',' ' '); do
      modules "$dep"
    done
    echo "$m"
  done
}
initrd=$cache/initramfs-$abi
rm -rf "$initrd" && mkdir -p "$initrd"/{bin,modules,proc,sys,dev,host,out,upper,newroot}
cp /bin/busybox "$initrd/bin/busybox"
order=()
for m in $(modules virtio_pci 9pnet_virtio 9p overlay configfs | awk '!seen[$0]++'); do
  f=$(modinfo -b "$kernel" -k "$abi" -n "$m")
  case "$f" in
    *.xz) xz -dc "$f" >"$initrd/modules/$m.ko" ;;
    *) cp "$f" "$initrd/modules/$m.ko" ;;
  esac
  order+=("$m")
done
cp "$mod/gpiosim.ko" "$initrd/modules/"
printf '%s\n' "${order[@]}" >"$initrd/modules/order"
cat >"$initrd/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in \$(cat /modules/order); do insmod /modules/\$m.ko || echo "guest: insmod \$m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host
mount -t 9p -o trans=virtio,version=9p2000.L out /out
mount -t tmpfs tmpfs /upper && mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/host,upperdir=/upper/u,workdir=/upper/w /newroot
mount -t configfs configfs /sys/kernel/config
insmod /modules/gpiosim.ko
c=/sys/kernel/config/gpio-sim/chip0
mkdir -p \$c/bank0 && echo 3 >\$c/bank0/num_lines
for l in 0:GPIO12 1:GPIO13 2:GPIO17; do mkdir \$c/bank0/line\${l%%:*}; echo \${l#*:} >\$c/bank0/line\${l%%:*}/name; done
echo 1 >\$c/live
sim=/sys/devices/platform/\$(cat \$c/dev_name)/\$(cat \$c/bank0/chip_name)
base=none
for g in /sys/class/gpio/gpiochip*; do case \$(cat \$g/label) in gpio-sim*) base=\$(cat \$g/base) ;; esac; done
echo "guest: gpio-sim \$sim, GPIO base \$base"
mount -t tracefs tracefs /sys/kernel/tracing
for d in proc sys dev; do mount --rbind /\$d /newroot/\$d; done
# No tmpfs over /tmp: the checkout (a CI clone may live in /tmp) must stay
# visible; writes there land in the overlay's tmpfs anyway.
mount -t tmpfs tmpfs /newroot/run
chroot /newroot /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PICLOCK_GPIO_SIM=\$sim PICLOCK_GPIO_SIM_BASE=\$base \
  PICLOCK_GPIO_SIM_VERBOSE=${GPIO_SIM_VERBOSE:-} \
  sh -c 'cd $root && $test_bin --nocapture --test-threads=1' >/out/test.log 2>&1
echo \$? >/out/rc
sync
poweroff -f
EOF
chmod +x "$initrd/init"
(cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/initramfs-$abi.cpio.gz"

out=$(mktemp -d -t piclock-gpio-sim.XXXXXX)
echo "sensor-gpio-sim: booting $abi with gpio-sim (QEMU TCG); output in $out"
start=$(date +%s)
# icount: the guest's clock follows the instructions it runs (1 ns each),
# so the daemon's software PWM keeps its periods however busy this machine
# is (without it, nearly every pulse is cut short under TCG). One CPU: the
# player reads the trace when the tick thread (SCHED_FIFO) has finished its
# pulse, never in the middle of it.
timeout "$timeout_s" qemu-system-x86_64 -m 512M -smp 1 -nographic -no-reboot -icount shift=0,sleep=off \
  -kernel "$kernel/boot/vmlinuz-$abi" -initrd "$cache/initramfs-$abi.cpio.gz" \
  -append "console=ttyS0 rdinit=/init quiet panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$out",mount_tag=out,security_model=none \
  >"$out/console.log" 2>&1 || true
cat "$out/test.log" 2>/dev/null || { echo "sensor-gpio-sim: the guest wrote no test output" >&2; tail -n 40 "$out/console.log" >&2; }
rc=$(cat "$out/rc" 2>/dev/null || echo none)
echo "sensor-gpio-sim: guest test exit status $rc after $(($(date +%s) - start)) s"
[ "$rc" = 0 ]
