#!/usr/bin/env bash
# Fuzzes every parser of outside input (see fuzz/README.md): installs
# cargo-fuzz if missing, builds all targets, runs each for SECONDS (default
# 10), prints one line per target and exits 1 if any target failed (a crash,
# a failed assertion, a timeout or running out of memory), naming the input.
#
#   scripts/fuzz.sh            # 10 s per target
#   scripts/fuzz.sh 3600       # an hour per target
#   FUZZ_SANITIZER=none scripts/fuzz.sh 5   # no AddressSanitizer: faster build and runs
#   FUZZ_SANITIZER=none FUZZ_BUILD=dev scripts/fuzz.sh 3   # CI's short run: unoptimised
#                              # build (half the build time; fewer executions a second)
#   FUZZ_TARGETS="ntp_reply journal_slots" scripts/fuzz.sh 600
#   scripts/fuzz.sh --replay   # no fuzzing: run the committed corpora once (CI)
#
# --replay builds the targets as plain binaries (no cargo-fuzz, no
# instrumentation, the workspace's target directory and dev profile, so most
# dependencies are already built) and runs every committed input of
# fuzz/corpus/ through its target once: the assertions are checked on the
# seeds and on every input that once failed. A regression check, not a search.
#
# Runs on the stable toolchain: cargo fuzz passes nightly-only flags, which
# RUSTC_BOOTSTRAP=1 lets stable rustc accept. The committed seeds in
# fuzz/corpus/<target>/ are only read; what the fuzzers find is kept in
# fuzz/work/corpus/<target>/ (git-ignored), so longer runs build on earlier ones.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--replay" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
    echo "== building fuzz targets for replay"
    cargo build --manifest-path fuzz/Cargo.toml --bins
    failed=0
    for src in fuzz/fuzz_targets/*.rs; do
        t="$(basename "$src" .rs)"
        inputs=(fuzz/corpus/"$t"/*)
        [ -e "${inputs[0]}" ] || { echo "$t: no committed inputs in fuzz/corpus/$t" >&2; failed=1; continue; }
        log="$CARGO_TARGET_DIR/fuzz-replay-$t.log"
        if "$CARGO_TARGET_DIR/debug/$t" "${inputs[@]}" >"$log" 2>&1; then
            echo "$t: ${#inputs[@]} inputs ok"
        else
            failed=1
            echo "$t: FAILED on $(sed -n 's/^Running: //p' "$log" | tail -n 1); log $log" >&2
        fi
    done
    exit "$failed"
fi

SECS="${1:-10}"
if ! [[ "$SECS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS per target, default 10] | --replay" >&2
    exit 2
fi
CARGO_FUZZ_VERSION=0.13.2
SANITIZER="${FUZZ_SANITIZER:-address}"
BUILD=()
case "${FUZZ_BUILD:-release}" in
    release) ;;
    dev) BUILD=(--dev) ;;
    *) echo "FUZZ_BUILD must be release or dev, not '${FUZZ_BUILD}'" >&2; exit 2 ;;
esac
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

cd fuzz
TARGETS="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "== building fuzz targets (sanitizer: $SANITIZER, ${FUZZ_BUILD:-release} build)"
cargo fuzz build "${BUILD[@]}" -s "$SANITIZER"

mkdir -p work/logs
printf '%-18s %12s %10s %8s %8s  %s\n' target runs execs/s cov new result
failed=0
for t in $TARGETS; do
    mkdir -p "work/corpus/$t"
    log="work/logs/$t.log"
    # The working corpus comes first: libFuzzer writes new inputs there only.
    rc=0
    cargo fuzz run "${BUILD[@]}" -s "$SANITIZER" "$t" "work/corpus/$t" "corpus/$t" -- \
        -max_total_time="$SECS" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    runs="$(stat number_of_executed_units)"
    eps="$(stat average_exec_per_sec)"
    new="$(stat new_units_added)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        failed=1
        input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        case "$input" in /*) ;; ?*) input="fuzz/${input#./}" ;; esac
        result="FAILED (exit $rc): ${input:+input $input, }log fuzz/$log"
    fi
    printf '%-18s %12s %10s %8s %8s  %s\n' "$t" "${runs:--}" "${eps:--}" "${cov:--}" "${new:--}" "$result"
done

if [ "$failed" -ne 0 ]; then
    echo "== a fuzz target failed; reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <input> (in fuzz/)" >&2
    exit 1
fi
echo "== all fuzz targets ran ${SECS} s without a failure"
