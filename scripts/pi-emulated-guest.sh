#!/bin/busybox sh
# /init of the emulated Raspberry Pi 3 (scripts/pi-emulated.sh builds the
# initramfs around it; docs/src/development/emulated-pi.md). Runs under
# busybox as PID 1 on Debian's arm64 kernel, QEMU's raspi3b machine.
#
# The real piclockd (no --simulate, no config file: the coil lines are
# found by the names GPIO12 and GPIO13) on a private bus, its state on
# tmpfs, with the kernel's gpio:gpio_value and gpio:gpio_direction trace
# on. Every step is written to the trace as a marker (`pe: <verb> k=v ...`,
# the protocol pi-trace-check reads):
#
#   set-hands   the hands set to the true time (paused while set)
#   tick        60 s of normal ticks
#   forward     the hands set $catchup s behind: fast-forward catch-up
#   reverse     the hands set $catchup s ahead: reverse catch-up
#   sigterm     belief read while paused; SIGTERM in the middle of a pulse
#   sigkill     restart (position from the journal); SIGKILL in the
#               middle of a pulse
#   restart     restart (the journal's move in flight); settling pulse and
#               catch-up; belief; a second daemon while the lines are held;
#               SIGTERM while paused
#   rtc         (QEMU 10: a DS1338 at 0x68 on I2C bus 1) the daemon over
#               i2c-dev, then with the kernel's rtc-ds1307 bound
#
# Everything goes to /out, which is written as a tar to the SD card
# (/dev/mmcblk0) at the end; the host reads it back. Kernel command line:
# pe.epoch=<host's Unix time> pe.catchup=<s> pe.rtc=<0|1>.

/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin NO_COLOR=1 HOME=/root
T=/sys/kernel/tracing
OUT=/out
STATE=/run/piclock
catchup=120
rtc=0
pid=
export DBUS_SESSION_BUS_ADDRESS=unix:path=/run/bus

say() { echo "pi-emulated: guest: $*"; }
mark() {
  echo "pe: $*" >"$T/trace_marker"
  say "$*"
}

# Writes /out to the SD card and leaves QEMU (the watchdog resets the
# machine, and QEMU runs with -no-reboot).
finish() {
  echo 0 >"$T/tracing_on" 2>/dev/null
  dmesg >"$OUT/dmesg.txt"
  cat "$T/trace" >"$OUT/trace.txt" 2>/dev/null && gzip -1 "$OUT/trace.txt"
  for _ in $(seq 50); do [ -b /dev/mmcblk0 ] && break; sleep 0.1; done
  tar -cf /dev/mmcblk0 -C "$OUT" . && sync
  say "results written ($(du -sk "$OUT" | cut -f1) kB)"
  reboot -f
  sleep 30
}

die() {
  say "ERROR: $*"
  echo "$*" >>"$OUT/guest-errors.txt"
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  finish
}

setup() {
  mount -t proc proc /proc
  mount -t sysfs sys /sys
  mount -t devtmpfs dev /dev
  mount -t tmpfs tmp /tmp
  mount -t tmpfs run /run
  mount -t tracefs tracefs "$T"
  mkdir -p "$OUT" "$STATE" /root
  # Every program of the guest on core 0. Under -icount QEMU runs the four
  # emulated cores one after another on one host thread, and the guest's
  # clock advances while any of them runs: work on another core (piclockctl,
  # the shell) would stop the tick thread's core for up to a timer tick in
  # the middle of a pulse, which no Pi does. On one core the tick thread's
  # real-time priority decides, as it does on a Pi. (maxcpus=1 would do the
  # same, but the cores left offline spin in QEMU's boot stub and keep the
  # guest's clock from skipping idle time: ten times slower.)
  taskset -p 1 $$ >/dev/null
  # The watchdog, to leave QEMU; the SD host (sdhost), for the results.
  insmod /lib/modules/bcm2835_wdt.ko
  insmod /lib/modules/bcm2835.ko
  for a in $(cat /proc/cmdline); do
    case $a in
      pe.epoch=*) date -s "@${a#pe.epoch=}" >/dev/null ;;
      pe.catchup=*) catchup=${a#pe.catchup=} ;;
      pe.rtc=*) rtc=${a#pe.rtc=} ;;
    esac
  done
  say "booted: $(uname -r), $(date -u), uptime $(cut -d' ' -f1 /proc/uptime) s"
  # The chips as sysfs shows them: the trace names lines by global number.
  for c in /sys/class/gpio/gpiochip*; do
    dev=$(basename "$(ls -d "$c"/device/gpiochip* | head -1)")
    echo "dev=$dev label=$(cat "$c/label") base=$(cat "$c/base") ngpio=$(cat "$c/ngpio")"
  done >"$OUT/chips.txt"
  cp /proc/iomem "$OUT/iomem.txt"
  cat >/etc/bus.conf <<EOF
<busconfig><type>session</type><listen>unix:path=/run/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
EOF
  dbus-daemon --config-file=/etc/bus.conf --fork || die "dbus-daemon did not start"
  # One ring buffer per emulated core; about 30 bytes an event, and a
  # catch-up of 120 s makes about 450 000.
  echo 49152 >"$T/buffer_size_kb"
  echo mono >"$T/trace_clock"
  echo 1 >"$T/events/gpio/gpio_value/enable"
  echo 1 >"$T/events/gpio/gpio_direction/enable"
  echo 1 >"$T/tracing_on"
}

ctl() { piclockctl --user "$@"; }
prop() { ctl show -p "$1" --value; }

# Starts piclockd as run $1 and waits until it answers on the bus (the
# coil lines are requested before it connects).
start() {
  run=$1
  piclockd --session --state-dir "$STATE" 2>"$OUT/piclockd-$run.log" &
  pid=$!
  mark "start run=$run pid=$pid"
  for _ in $(seq 120); do
    prop Version >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "run $run: piclockd exited: $(tail -3 "$OUT/piclockd-$run.log")"
    sleep 0.5
  done
  prop Version >/dev/null || die "run $run: piclockd did not answer on the bus"
  mark "up run=$run"
}

# Waits (at most $2 s) until State is $1.
wait_state() {
  for _ in $(seq "$2"); do
    [ "$(prop State)" = "$1" ] && return 0
    sleep 1
  done
  die "State is $(prop State), not $1, after $2 s"
}

# H:MM:SS of the true time plus $1 s, on the 12-hour dial (the guest's
# zone is UTC, as the daemon's: there is no zone database).
dial_time() {
  s=$((($(date +%s) + $1 + 43200) % 43200))
  h=$((s / 3600))
  [ "$h" -eq 0 ] && h=12
  printf '%d:%02d:%02d' "$h" $((s / 60 % 60)) $((s % 60))
}

# Sets the hands to the true time plus $1 s, paused meanwhile, so that no
# pulse falls between the setting and its marker.
crown() {
  ctl pause >/dev/null || die "pause"
  ctl set-hands "$(dial_time "$1")" || die "set-hands"
  mark "crown pos=$(prop HandPosition)"
  mark "resume"
  ctl resume >/dev/null || die "resume"
}

# Pauses and writes the daemon's belief (label $1).
belief() {
  ctl pause >/dev/null || die "pause"
  mark "belief label=$1 pos=$(prop HandPosition) certain=$(prop PositionCertain) state=$(prop State)"
}

# What the daemon's log says it recovered from the journal.
journal() {
  rec=$(grep -o 'hand position [0-9]* recovered\|while moving [0-9]* -> [0-9]*' "$OUT/piclockd-$1.log" | head -1)
  case $rec in
    hand*) mark "journal run=$1 pos=$(echo "$rec" | cut -d' ' -f3)" ;;
    while*) mark "journal run=$1 from=$(echo "$rec" | cut -d' ' -f3) to=$(echo "$rec" | cut -d' ' -f5)" ;;
    *) die "run $1: no recovered position in its log" ;;
  esac
}

run1() {
  mark "scenario name=set-hands"
  start 1
  [ "$(prop State)" = needs-position ] || die "a fresh state directory should need the position"
  crown 0
  wait_state ticking 10
  mark "scenario name=tick"
  sleep 62
  mark "scenario name=forward"
  crown "-$catchup"
  wait_state ticking $((catchup + 30))
  sleep 2
  mark "scenario name=reverse"
  crown "$catchup"
  wait_state ticking $((catchup + 30))
  sleep 2
  mark "scenario name=sigterm"
  belief run1-paused
  mark "resume"
  ctl resume >/dev/null
  sleep 1
  pi-gpio-probe signal-mid-pulse "$pid" 1 TERM || die "SIGTERM mid-pulse"
  wait "$pid"
  mark "exited run=1 rc=$?"
  pi-gpio-probe levels after-sigterm
}

run2() {
  mark "scenario name=sigkill"
  start 2
  journal 2
  sleep 1
  pi-gpio-probe signal-mid-pulse "$pid" 2 KILL || die "SIGKILL mid-pulse"
  wait "$pid"
  sleep 1
  pi-gpio-probe levels after-sigkill-1s
}

run3() {
  mark "scenario name=restart"
  start 3
  journal 3
  wait_state ticking 60
  sleep 2
  belief run3-paused
  mark "scenario name=second-daemon"
  timeout 60 piclockd --session --state-dir "$STATE" >"$OUT/second.log" 2>&1
  echo $? >"$OUT/second.rc"
  mark "second rc=$(cat "$OUT/second.rc")"
  say "second daemon: $(grep -o 'coil: .*' "$OUT/second.log")"
  pi-gpio-probe levels second-daemon-refused
  mark "sigterm run=3"
  kill -TERM "$pid"
  wait "$pid"
  mark "exited run=3 rc=$?"
  pi-gpio-probe levels after-sigterm
}

# The DS1338 at 0x68 on I2C bus 1: the daemon over i2c-dev, then with the
# kernel's driver bound (the dtoverlay=i2c-rtc case). Fresh state: the
# hands' position is unknown, so these daemons never pulse.
rtc_paths() {
  echo 0 >"$T/tracing_on"
  insmod /lib/modules/i2c-bcm2835.ko
  insmod /lib/modules/i2c-dev.ko
  for _ in $(seq 20); do [ -e /dev/i2c-1 ] && break; sleep 0.1; done
  i2cdetect -y -r 1 >"$OUT/i2cdetect-i2c-dev.txt" 2>&1
  rtc_run i2c-dev
  echo ds1338 0x68 >/sys/bus/i2c/devices/i2c-1/new_device
  for _ in $(seq 20); do [ -e /dev/rtc0 ] && break; sleep 0.1; done
  i2cdetect -y -r 1 >"$OUT/i2cdetect-kernel.txt" 2>&1
  echo "$(readlink -f /sys/class/rtc/rtc0/device) $(cat /sys/class/rtc/rtc0/name)" >"$OUT/rtc0.txt"
  rtc_run kernel
}

rtc_run() {
  rm -rf /run/piclock-rtc
  piclockd --session --state-dir /run/piclock-rtc 2>"$OUT/rtc-$1.log" &
  rpid=$!
  for _ in $(seq 60); do
    prop Version >/dev/null 2>&1 && break
    sleep 0.5
  done
  ctl status --json >"$OUT/rtc-$1.json" || die "rtc $1: status"
  ctl status >"$OUT/rtc-$1.txt"
  say "RTC via $1: $(prop RTCDevice)"
  kill -TERM "$rpid"
  wait "$rpid"
}

setup
run1
run2
run3
[ "$rtc" = 1 ] && rtc_paths
finish
