#!/usr/bin/env bash
# Dashboard benchmark (issue 10): server time per page (p50/p95 over REQUESTS sequential
# requests each, loopback, measured by curl's time_total) for every page of the dashboard, on a
# store built by `waymark simulate` + `ingest` + `scan --audit fixtures/etl`. Not a test: run it
# by hand. The issue's target is p95 < 100 ms on 10,000,000 events (FLOWS=720000).
#
#   bench/dashboard.sh                        # ~1M events (FLOWS=72000)
#   FLOWS=720000 bench/dashboard.sh           # ~10M events (long to build)
set -euo pipefail
cd "$(dirname "$0")/.."
flows=${FLOWS:-72000}
requests=${REQUESTS:-40}
out=bench/out
mkdir -p "$out"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p waymark
bin=$CARGO_TARGET_DIR/release/waymark
db=$out/dashboard.db

if [ ! -s "$db" ] || [ "$(cat "$out/dashboard.flows" 2>/dev/null)" != "$flows" ]; then
    rm -f "$db" "$db"-*
    "$bin" simulate --flows "$flows" --seed 1 --noise 0.01 -o "$out/dashboard-input.log" 2> "$out/dashboard-simulate.txt"
    "$bin" --db "$db" ingest "$out/dashboard-input.log" > /dev/null 2> "$out/dashboard-ingest.txt"
    "$bin" --db "$db" scan --audit fixtures/etl > /dev/null 2>&1
    rm -f "$out/dashboard-input.log"
    echo "$flows" > "$out/dashboard.flows"
fi
events=$("$bin" --db "$db" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
"$bin" --db "$db" sql "SELECT DISTINCT correlation_id FROM events WHERE position % 997 = 0 LIMIT $requests" \
    | tail -n +2 | awk 'NF' > "$out/dashboard-ids.txt"
run=$("$bin" --db "$db" runs --json --status FAILURE 2>/dev/null | head -n1 \
    | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["run_key"])' 2>/dev/null || true)

"$bin" --db "$db" serve --listen 127.0.0.1:0 > "$out/dashboard-listen.txt" 2> "$out/dashboard-serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/dashboard-listen.txt" ] && break; sleep 0.1; done
base=$(sed -n 's/.*listening on //p' "$out/dashboard-listen.txt")

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
: > "$out/dashboard-times.txt"
measure() { # name url...
    local name=$1; shift
    curl -fsS -o /dev/null "$1"   # warm
    for url in "$@"; do
        for _ in $(seq $(( requests / $# > 0 ? requests / $# : 1 ))); do
            echo "$name $(curl -fsS -o /dev/null -w '%{time_total}' "$url")" >> "$out/dashboard-times.txt"
        done
    done
}
measure overview "$base/"
measure flows "$base/flows"
measure flows-filtered "$base/flows?system=cmf&since=2025-05-04"
flow_urls=(); while read -r id; do flow_urls+=("$base/flows/$id"); done < "$out/dashboard-ids.txt"
measure flow "${flow_urls[@]}"
measure runs "$base/runs"
measure runs-failed "$base/runs?status=FAILURE"
if [ -n "$run" ]; then measure run "$base/runs/$(enc "$run")"; fi
measure scan-results "$base/scan-results"
measure dead-letters "$base/dead-letters"
measure orphans "$base/orphans"

python3 - "$out/dashboard-times.txt" "$events" "$requests" <<'PY'
import sys, collections
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, t = line.split()
    times[name].append(float(t) * 1e3)
print(f"store: {int(sys.argv[2]):,} events; {sys.argv[3]} sequential requests per page (loopback, curl time_total)")
worst = 0.0
for name, ts in times.items():
    ts.sort()
    p = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]
    worst = max(worst, p(0.95))
    print(f"  {name:<15} p50 {p(0.5):7.1f} ms   p95 {p(0.95):7.1f} ms   (n={len(ts)})")
print(f"worst p95: {worst:.1f} ms (target < 100 ms)")
PY
