#!/usr/bin/env bash
# Measures what the position journal costs an SD card: piclockd ticking at
# real speed with the syncing file store (fdatasync per journal write, as on
# a Pi without FRAM), the journal file on a fresh ext4 file system of its own
# (a loop device, mounted noatime like Raspberry Pi OS's root).
#
#   sudo scripts/sd-wear.sh [SECONDS]      # default 600 (the book's figure)
#
# Prints, over the run: the ticks, the daemon's write_bytes (/proc/PID/io:
# the bytes it sent towards the block layer), and the bytes the loop device
# really wrote (/sys/block/loopN/stat: data, the ext4 journal and metadata
# together), each also per tick and per day. The simulated movement stands in
# for the coil; the journal and the file store are the hardware's code.
# Needs root (losetup, mount) and a debug build (cargo build --bins).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
[ "$(id -u)" -eq 0 ] || { echo "sd-wear.sh: needs root (loop device and mount)" >&2; exit 1; }
bin=${PICLOCK_BIN:-target/debug}
for b in piclockd piclockctl; do
    [ -x "$bin/$b" ] || { echo "sd-wear.sh: $bin/$b is missing: cargo build --bins" >&2; exit 1; }
done

work=$(mktemp -d)
loop=
cleanup() {
    [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    [ -n "${bus:-}" ] && kill "$bus" 2>/dev/null
    mountpoint -q "$work/mnt" 2>/dev/null && umount "$work/mnt"
    mountpoint -q "$work/state" 2>/dev/null && umount "$work/state"
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$work"
}
trap cleanup EXIT

# An ext4 file system with 4 KiB blocks and a journal, as on a Pi's SD card
# (mke2fs would choose 1 KiB blocks for an image this small).
truncate -s 256M "$work/disk.img"
mkfs.ext4 -q -F -b 4096 "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img")
mkdir "$work/mnt" "$work/state"
mount -o noatime "$loop" "$work/mnt"
# Only the position journal lives on that file system: the state directory
# is a tmpfs (the simulator rewrites its hands' file there every tick, which
# real hardware does not have), with the journal file linked to the ext4
# one. tmpfs pages are not counted in write_bytes either.
mount -t tmpfs -o size=8M,mode=0700 tmpfs "$work/state"
touch "$work/mnt/position"
ln -s "$work/mnt/position" "$work/state/position"
dev=$(basename "$loop")
written_bytes() { awk '{ print $7 * 512 }' "/sys/block/$dev/stat"; }

printf '[store]\nposition = "file"\n' >"$work/piclockd.toml"
dbus-daemon --session --nofork --address="unix:path=$work/bus" --print-address=1 >/dev/null &
bus=$!
export DBUS_SESSION_BUS_ADDRESS="unix:path=$work/bus"
for _ in $(seq 50); do [ -S "$work/bus" ] && break; sleep 0.1; done
"$bin/piclockd" --simulate --session --config "$work/piclockd.toml" --state-dir "$work/state" \
    2>"$work/piclockd.log" &
daemon=$!
prop() {
    busctl --user get-property org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 "$1" | awk '{ print $2 }'
}
for _ in $(seq 100); do busctl --user status org.piclock.Clock1 >/dev/null 2>&1 && break; sleep 0.1; done
# Hands on the true time: plain ticking, one step a second (the steady state).
now=$(prop TimeUSec)
"$bin/piclockctl" --user set-hands "$(date -d "@$(( now / 1000000 + 1 ))" +%-I:%M:%S)" >/dev/null
for _ in $(seq 100); do [ "$(prop State)" = '"ticking"' ] && break; sleep 0.2; done
[ "$(prop State)" = '"ticking"' ] || { echo "sd-wear.sh: the daemon is not ticking" >&2; cat "$work/piclockd.log" >&2; exit 1; }
sleep 2

ticks0=$(prop TickCount)
io0=$(awk '/^write_bytes/ { print $2 }' "/proc/$daemon/io")
dev0=$(written_bytes)
sleep "$secs"
sync -f "$work/mnt"
ticks1=$(prop TickCount)
io1=$(awk '/^write_bytes/ { print $2 }' "/proc/$daemon/io")
dev1=$(written_bytes)
kill -0 "$daemon" || { echo "sd-wear.sh: the daemon died" >&2; cat "$work/piclockd.log" >&2; exit 1; }
grep 'position store' "$work/piclockd.log" | sed 's/^/piclockd: /' || true

ticks=$((ticks1 - ticks0))
[ "$ticks" -gt 0 ] || { echo "sd-wear.sh: no ticks in $secs s" >&2; exit 1; }
awk -v s="$secs" -v t="$ticks" -v io=$((io1 - io0)) -v dv=$((dev1 - dev0)) 'BEGIN {
    day = 86400 / s
    printf "run: %d s at real speed, %d ticks\n", s, t
    printf "daemon write_bytes: %d B = %.0f B/tick = %.0f MB/day\n", io, io / t, io * day / 1e6
    printf "loop device wrote:  %d B = %.0f B/tick = %.0f MB/day (data + ext4 journal + metadata)\n", dv, dv / t, dv * day / 1e6
}'
