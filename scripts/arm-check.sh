#!/usr/bin/env bash
# The ARM builds, run on this x86_64 machine under qemu-user
# (docs/src/development/arm-builds.md): for each target, runs the core's unit and property tests under
# qemu-user, cross-builds piclockd and piclockctl (dev profile), checks what
# the binaries are, then runs the ARM daemon on the simulated movement on a
# private bus, sets its hands one hour behind with the ARM piclockctl, waits
# until it ticks again, pauses it and compares its belief with the simulated
# hands. Prints every check and its timings; exits
# non-zero on the first failure (its working directory and logs are kept).
#
#   scripts/arm-check.sh                 # both targets
#   scripts/arm-check.sh arm64           # aarch64-unknown-linux-gnu only
#   scripts/arm-check.sh armhf           # armv7-unknown-linux-gnueabihf only
#
# ARM_CHECK_TIMEOUT (seconds, default 120) bounds the catch-up: one hour
# behind at 60x speed is 20 virtual minutes, about 20 real seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
deps_cross
export PATH="$HOME/.cargo/bin:$PATH"

timeout_s=${ARM_CHECK_TIMEOUT:-120}
targets=()
for a in "${@:-arm64 armhf}"; do
  for t in $a; do
    case "$t" in
      arm64 | aarch64 | aarch64-unknown-linux-gnu) targets+=(aarch64-unknown-linux-gnu) ;;
      armhf | armv7 | armv7-unknown-linux-gnueabihf) targets+=(armv7-unknown-linux-gnueabihf) ;;
      *)
        echo "arm-check: unknown target $t (arm64 or armhf)" >&2
        exit 2
        ;;
    esac
  done
done

work=$(mktemp -d -t piclock-arm.XXXXXX)
daemon="" bus="" ok=no
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ -n "$bus" ] && kill "$bus" 2>/dev/null && wait "$bus" 2>/dev/null
  if [ "$ok" = yes ]; then rm -rf "$work"; else echo "arm-check: logs kept in $work" >&2; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "  ok: $*"; }

# A private session-type bus that admits this user (as testkit's Bus::start).
cat >"$work/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$work/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF

# One target: build, inspect, run. Sets the timings in build_s, up_s, catch_s.
check() {
  local t=$1 qemu root want dir start state
  case "$t" in
    # The same runners as .cargo/config.toml.
    aarch64-*) qemu=qemu-aarch64 root=/usr/aarch64-linux-gnu want="ELF 64-bit LSB .*ARM aarch64" ;;
    armv7-*) qemu=qemu-arm root=/usr/arm-linux-gnueabihf want="ELF 32-bit LSB .*ARM, EABI5" ;;
  esac
  dir="$work/$t"
  mkdir -p "$dir"
  echo "### $t"

  # The core's unit and property tests, run by the runner of
  # .cargo/config.toml (qemu-user).
  start=$SECONDS
  if ! cargo test -p piclock-core --all-features --target "$t" >"$dir/core-tests.log" 2>&1; then
    # The failing tests, their panics, and the seed and minimal input of a
    # failing property test (replay: docs/src/development/tests.md, "Property tests").
    grep -E 'FAILED|panicked|^error|PROPTEST_RNG_SEED|minimal failing input' "$dir/core-tests.log" | head -40 >&2 || true
    fail "the core's tests failed under qemu for $t ($dir/core-tests.log)"
  fi
  local passed
  passed=$(awk '/^test result: ok/ { n += $4 } END { print n + 0 }' "$dir/core-tests.log")
  [ "$passed" -gt 0 ] || fail "no core test ran for $t ($dir/core-tests.log)"
  core_s=$((SECONDS - start))
  pass "core: $passed tests passed under $qemu in ${core_s} s (build included)"

  start=$SECONDS
  cargo build -p piclockd -p piclockctl --target "$t"
  build_s=$((SECONDS - start))
  local bin
  for bin in piclockd piclockctl; do
    local f="target/$t/debug/$bin" desc
    desc=$(file -b "$f")
    [[ "$desc" =~ $want ]] || fail "$f is not what $t should be: $desc"
    desc=${desc%%, BuildID*}
    if [[ "$t" == armv7-* ]]; then
      grep -q "hard-float ABI" <<<"$(readelf -h "$f")" || fail "$f is not hard-float: $(readelf -h "$f" | grep Flags)"
      desc="$desc; $(readelf -h "$f" | grep -o 'Version5 EABI, hard-float ABI')"
    fi
    pass "$bin: $desc"
  done
  ctl() { "$qemu" -L "$root" "target/$t/debug/piclockctl" --user "$@"; }
  prop() { ctl show -p "$1" --value; }

  dbus-daemon --config-file="$work/bus.conf" --nofork >"$dir/bus.log" 2>&1 &
  bus=$!
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$work/bus"
  for _ in $(seq 50); do [ -S "$work/bus" ] && break; sleep 0.1; done
  [ -S "$work/bus" ] || fail "the private bus did not start ($dir/bus.log)"

  start=$SECONDS
  "$qemu" -L "$root" "target/$t/debug/piclockd" --simulate --session --speed 60 \
    --state-dir "$dir/state" 2>"$dir/piclockd.log" &
  daemon=$!
  for _ in $(seq 120); do
    prop Version >/dev/null 2>&1 && break
    kill -0 "$daemon" 2>/dev/null || fail "piclockd exited ($dir/piclockd.log)"
    sleep 0.5
  done
  prop Version >/dev/null || fail "piclockd did not come up on the bus in 60 s ($dir/piclockd.log)"
  up_s=$((SECONDS - start))
  pass "piclockd $(prop Version) serves org.piclock.Clock1 under $qemu after ${up_s} s; State=$(prop State)"

  # The hands one hour behind the daemon's true local time: the wall-clock
  # digits of its local_time, less 3600 s, on its dial.
  local status local_time dial h m s pos hands
  status=$(ctl status --json)
  local_time=$(grep -o '"local_time":"[^"]*"' <<<"$status" | cut -d'"' -f4)
  dial=$(grep -o '"dial_seconds":[0-9]*' <<<"$status" | cut -d: -f2)
  [[ "$local_time" =~ T([0-9]{2}):([0-9]{2}):([0-9]{2}) ]] || fail "no local time in: $status"
  h=$((10#${BASH_REMATCH[1]})) m=$((10#${BASH_REMATCH[2]})) s=$((10#${BASH_REMATCH[3]}))
  pos=$(((h * 3600 + m * 60 + s - 3600 + 2 * dial) % dial))
  h=$((pos / 3600))
  [ "$dial" -eq 43200 ] && [ "$h" -eq 0 ] && h=12
  hands=$(printf '%d:%02d:%02d' "$h" $((pos / 60 % 60)) $((pos % 60)))
  ctl set-hands "$hands" >/dev/null || fail "piclockctl set-hands $hands"
  local offset
  offset=$(prop Offset)
  state=$(prop State)
  [ "$offset" -le -1800 ] || fail "after set-hands $hands (true local time $local_time), Offset=$offset s, not about -3600"
  [ "$state" != ticking ] || fail "after set-hands $hands, State=ticking already"
  pass "true local time $local_time; set-hands $hands; then Offset=${offset} s, State=$state"

  start=$SECONDS
  while :; do
    state=$(prop State)
    [ "$state" = ticking ] && break
    [ $((SECONDS - start)) -lt "$timeout_s" ] || fail "still $state after $timeout_s s (Offset=$(prop Offset))"
    kill -0 "$daemon" 2>/dev/null || fail "piclockd exited ($dir/piclockd.log)"
    sleep 1
  done
  catch_s=$((SECONDS - start))
  offset=$(prop Offset)
  [ "$offset" -eq 0 ] || fail "ticking, but Offset=$offset s"
  pass "State=ticking, Offset=0 after ${catch_s} s"

  ctl pause >/dev/null || fail "piclockctl pause"
  state=$(prop State)
  [ "$state" = paused ] || fail "after pause, State=$state"
  local belief json hands_pos missed
  belief=$(prop HandPosition)
  json=$(cat "$dir/state/virtual-movement.json")
  hands_pos=$(grep -o '"position": *[0-9]*' <<<"$json" | grep -o '[0-9]*$')
  missed=$(grep -o '"missed_pulses": *[0-9]*' <<<"$json" | grep -o '[0-9]*$')
  [ -n "$hands_pos" ] || fail "no position in $dir/state/virtual-movement.json"
  [ "$belief" = "$hands_pos" ] ||
    fail "the daemon believes HandPosition=$belief, the simulated hands are at $hands_pos"
  [ "$missed" = 0 ] || fail "the simulated movement missed $missed pulses"
  pass "paused: HandPosition=$belief = simulated hands' position $hands_pos (virtual-movement.json), missed_pulses=0"

  kill "$daemon" && wait "$daemon" || true
  daemon=""
  grep -q "tick thread stopped" "$dir/piclockd.log" || fail "piclockd did not stop cleanly on SIGTERM ($dir/piclockd.log)"
  kill "$bus" && wait "$bus" 2>/dev/null || true
  bus=""
  rm -f "$work/bus"
  pass "piclockd stopped cleanly on SIGTERM"
}

summary=()
for t in "${targets[@]}"; do
  check "$t"
  summary+=("$t: core tests ${core_s} s, build ${build_s} s, daemon up ${up_s} s, catch-up ${catch_s} s")
done
echo "### arm-check passed"
printf '  %s\n' "${summary[@]}"
ok=yes
