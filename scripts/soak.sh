#!/usr/bin/env bash
# The property-test soak (not part of scripts/test.sh or CI): every property
# test of every crate with many more cases than the suite draws, natively and
# under qemu-user for aarch64. Run it before calling a change to a property
# test's code, or to the code it tests, done (docs/src/development/tests.md, "Property tests").
#
#   scripts/soak.sh                    # 100000 cases natively, 20000 on aarch64
#   SOAK_CASES=20000 SOAK_ARM_CASES=0 scripts/soak.sh   # quicker, no ARM part
#
# PROPTEST_RNG_SEED fixes the seed (printed either way). A failure is kept by
# proptest in the crate's proptest-regressions/ folder: commit it with the fix.
# Prints the cases and the minutes each part took.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

SOAK_CASES=${SOAK_CASES:-100000}
SOAK_ARM_CASES=${SOAK_ARM_CASES:-20000}
export PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' \n')}
echo "soak: PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED, $SOAK_CASES cases natively, $SOAK_ARM_CASES under qemu-aarch64"

start=$SECONDS
minutes() { awk -v s="$1" 'BEGIN { printf "%.1f", s / 60 }'; }

# Every test binary that holds property tests, and the filters that pick
# them (the core's whole library: its other unit tests take seconds).
# Optimised builds (Cargo.toml's soak profile): the same code, about ten
# times as many cases a minute.
PARTS=(
  "-p piclock-core --lib|"
  "-p piclockd --lib|conformance ntp::packet::tests"
  "-p piclockd --test ntp|parse_reply_fuzz"
  "-p piclockctl --bin piclockctl|calibrate::tests::bursts_come_back"
)

# Runs one part with $1 cases, cargo's extra arguments in $2; prints its
# minutes and how many tests passed; fails naming the log.
run_part() {
  local cases=$1 cargo_args=$2 part=$3 log t0 passed
  local args=${part%%|*} filters=${part#*|}
  log=$(mktemp --suffix=.soak.log)
  t0=$SECONDS
  # shellcheck disable=SC2086
  if ! PROPTEST_CASES=$cases cargo test --profile soak $cargo_args $args -- $filters >"$log" 2>&1; then
    grep -E 'FAILED|panicked|^error|PROPTEST_RNG_SEED|minimal failing input' "$log" | sed -n 1,40p >&2 || true
    echo "soak: FAILED: cargo test --profile soak $cargo_args $args with $cases cases ($log)" >&2
    exit 1
  fi
  passed=$(awk '/^test result: ok/ { n += $4 } END { print n + 0 }' "$log")
  [ "$passed" -gt 0 ] || { echo "soak: no test ran for $args ($log)" >&2; exit 1; }
  echo "soak: $args: $passed tests passed (property tests at $cases cases), $(minutes $((SECONDS - t0))) min"
  rm -f "$log"
}

echo "== building the test binaries (soak profile)"
cargo test --profile soak -p piclock-core -p piclockd -p piclockctl --no-run -q 2>&1 | grep -v "^ *Executable" || true
for part in "${PARTS[@]}"; do
  run_part "$SOAK_CASES" "" "$part"
done
native=$((SECONDS - start))

if [ "$SOAK_ARM_CASES" -gt 0 ]; then
  deps_cross
  t0=$SECONDS
  # The core under qemu-aarch64 (the runner of .cargo/config.toml): the
  # journal, planners and waveforms on a 64-bit ARM.
  run_part "$SOAK_ARM_CASES" "--target aarch64-unknown-linux-gnu" "${PARTS[0]}"
  arm=$((SECONDS - t0))
else
  arm=0
fi
echo "soak: passed in $(minutes $((SECONDS - start))) min ($(minutes "$native") native, $(minutes "$arm") aarch64)"
