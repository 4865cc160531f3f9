#!/usr/bin/env bash
# Runs the whole system on the simulated movement and shows it working:
# a private bus, piclockd --simulate at 60x speed, the hands set one hour
# behind, and piclockctl watching them catch up (20 virtual minutes, about
# 20 real seconds), then ticking in sync. Nothing is installed system-wide
# besides the packages; everything else lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "### Building PiClock (the first build takes a few minutes)"
cargo build --bins
work=$(mktemp -d)
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ -n "${bus:-}" ] && kill "$bus" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
dbus-daemon --session --nofork --address="unix:path=$work/bus" --print-address=1 >/dev/null &
bus=$!
export DBUS_SESSION_BUS_ADDRESS="unix:path=$work/bus"
for _ in $(seq 50); do [ -S "$work/bus" ] && break; sleep 0.1; done

./target/debug/piclockd --simulate --session --speed 60 --state-dir "$work/state" 2>"$work/piclockd.log" &
daemon=$!
for _ in $(seq 100); do busctl --user status org.piclock.Clock1 >/dev/null 2>&1 && break; sleep 0.1; done

ctl() { ./target/debug/piclockctl --user "$@"; }
echo "### A fresh simulated clock does not know where its hands are:"
ctl status
now=$(busctl --user get-property org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 TimeUSec | awk '{print $2}')
# What the dial should show one hour ago, in the daemon's (the system's) time zone.
hands=$(date -d "@$(( now / 1000000 - 3600 ))" +%-I:%M:%S)
echo
echo "### Telling it the hands show $hands (one hour behind), as after a spring-forward:"
echo "\$ busctl --user call org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 SetHandPosition sb $hands false"
busctl --user call org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 SetHandPosition sb "$hands" false
for i in $(seq 12); do
  echo
  echo "### after $((i * 2)) s (real; $((i * 2)) virtual minutes):"
  sleep 2
  ctl status
  state=$(busctl --user get-property org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 State | awk '{print $2}')
  [ "$state" = '"ticking"' ] && break
done
echo
echo "### Pausing, then comparing the daemon's belief with the simulated hands:"
busctl --user call org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 Pause b false
echo "piclockd HandPosition: $(busctl --user get-property org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 HandPosition)"
echo "simulated hands ($work/state/virtual-movement.json):"
grep -E '"(position|missed_pulses)"' "$work/state/virtual-movement.json"
