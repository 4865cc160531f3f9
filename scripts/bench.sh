#!/usr/bin/env bash
# Every performance and reliability figure of the book
# (docs/src/development/performance.md), with one command.
#
#   scripts/bench.sh          # the full run: about 25 minutes on a 2-core machine
#   scripts/bench.sh --quick  # a smoke run of every part: about 4 minutes
#
# Parts (each prints its own table; all JSON lines are collected):
#   1. catch-up time / optimum across the whole dial     cargo bench -p piclock-core --features testing --bench catch_up
#   2. tick leading edge, pulse length, duty: idle, both cores loaded, D-Bus flood;
#      D-Bus property read latency under the flood       cargo bench -p piclockd --features testing --bench tick_timing
#   3. daemon RSS and CPU while ticking; NTP offset vs chronyd on loopback
#                                                        cargo bench -p piclockd --bench footprint
# Run it on a quiet machine, as root (real-time priority, mlockall): timing
# figures from a busy machine measure the machine.
# Results: target/bench/results.json (one object per part) and the tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

quick=no
[ "${1:-}" = "--quick" ] && quick=yes
if [ "$quick" = yes ]; then
  ticks=100 minutes=1 syncs=5 step=600
else
  ticks=600 minutes=10 syncs=20 step=60
fi
out=target/bench
mkdir -p "$out"
: >"$out/results.jsonl"

part() {
  local name=$1
  shift
  echo
  echo "### $name"
  echo "\$ $*"
  "$@" 2>&1 | tee "$out/$name.log" | grep -v '^JSON: '
  grep '^JSON: ' "$out/$name.log" | sed 's/^JSON: //' >>"$out/results.jsonl"
}

echo "### building (release)"
cargo build --release -q -p piclockd -p piclockctl
part catch_up cargo bench -q -p piclock-core --features testing --bench catch_up -- --step-s "$step"
part tick_timing cargo bench -q -p piclockd --features testing --bench tick_timing -- \
  --ticks "$ticks" --interval-ms 100 --conditions idle,loaded,flood
part footprint cargo bench -q -p piclockd --bench footprint -- --minutes "$minutes" --syncs "$syncs"

python3 - "$out/results.jsonl" >"$out/results.json" <<'PY'
import json, sys
parts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(json.dumps({p.get("bench", "catch_up"): p for p in parts}, indent=1))
PY
python3 - "$out/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = []
c = r.get("catch_up", {})
rows.append(("catch-up / optimum, whole dial (worst)", f'{c.get("worst_ratio", float("nan")):.4f}', "<= 1.01"))
for cond in r.get("tick_timing", {}).get("conditions", []):
    e, d = cond.get("edge_us") or {}, cond.get("duty_abs_err_pct") or {}
    l = cond.get("length_abs_err_us") or {}
    rows.append((f'tick edge µs p50/p99/max, {cond["name"]} ({cond["ticks"]} ticks)',
                 f'{e.get("p50")} / {e.get("p99")} / {e.get("max")}', "p99 < 20, max < 200"))
    rows.append((f'pulse length |err| µs p50/p99, duty |err| % p50/p99, {cond["name"]}',
                 f'{l.get("p50")} / {l.get("p99")}; {d.get("p50")} / {d.get("p99")}', "duty < 5 %"))
for f in r.get("tick_timing", {}).get("dbus_flood", []):
    pr = f["property_read_us"]
    rows.append(("D-Bus property read µs p50/p99 under flood", f'{pr["p50"]} / {pr["p99"]} ({f["calls_per_s"]:.0f} calls/s)', ""))
fp = r.get("footprint", {})
if fp:
    rows.append(("daemon RSS / peak MB", f'{fp["rss_kb"]/1024:.1f} / {fp["rss_peak_kb"]/1024:.1f}', "< 8"))
    rows.append(("daemon CPU besides the busy-wait, % of a core", f'{fp["cpu_besides_spin_pct"]:.2f} (total {fp["cpu_pct"]:.2f}, over {fp["minutes"]:.1f} min)', "< 1"))
    n = fp["ntp"]
    rows.append(("NTP |offset| vs chronyd µs p50/max", f'{n["abs_offset_us_p50"]:.0f} / {n["abs_offset_us_max"]:.0f} ({n["syncs"]} syncs)', "< 1000"))
print("\n### summary (target/bench/results.json)")
print("| measure | value | target |\n|---|---|---|")
for m, v, t in rows:
    print(f"| {m} | {v} | {t} |")
PY
