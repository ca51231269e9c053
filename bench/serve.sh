#!/usr/bin/env bash
# HTTP API benchmark (issue 9): `GET /api/v1/flows/{id}` for random correlation ids from 64
# concurrent clients over loopback, against a store of about 10,000,000 events built by
# `waymark simulate` + `waymark ingest`. Reports requests/s and p50/p99 latency (target p99
# < 10 ms). Not a test: run it by hand.
#
#   bench/serve.sh                   # ~10M events (FLOWS=720000), 30 s of load
#   FLOWS=72000 DURATION=10 bench/serve.sh   # ~1M events, quicker
#
# The load generator is `oha` (cargo install oha --root ~/.cache/waymark/oha) when present,
# else Debian's `wrk` (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
flows=${FLOWS:-720000}
duration=${DURATION:-30}
clients=${CLIENTS:-64}
out=bench/out
mkdir -p "$out"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p waymark
bin=$CARGO_TARGET_DIR/release/waymark
db=$out/serve.db

if [ ! -s "$db" ] || [ "$(cat "$out/serve.flows" 2>/dev/null)" != "$flows" ]; then
    rm -f "$db" "$db"-*
    "$bin" simulate --flows "$flows" --seed 1 -o "$out/serve-input.log" 2> "$out/serve-simulate.txt"
    "$bin" --db "$db" ingest --json "$out/serve-input.log" > "$out/serve-ingest.json"
    rm -f "$out/serve-input.log"
    echo "$flows" > "$out/serve.flows"
fi
events=$("$bin" --db "$db" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')

# 10,000 ids spread over the whole store.
"$bin" --db "$db" sql "SELECT DISTINCT correlation_id FROM events WHERE position % 997 = 0 LIMIT 10000" \
    | tail -n +2 | awk 'NF' > "$out/serve-ids.txt"
ids=$(wc -l < "$out/serve-ids.txt")

"$bin" --db "$db" serve --listen 127.0.0.1:0 > "$out/serve-listen.txt" 2> "$out/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/serve-listen.txt" ] && break; sleep 0.1; done
base=$(sed -n 's/.*listening on //p' "$out/serve-listen.txt")
curl -fsS "$base/api/v1/flows/$(head -n1 "$out/serve-ids.txt")" > /dev/null

oha=$HOME/.cache/waymark/oha/bin/oha
if [ -x "$oha" ]; then
    # oha takes one URL: random ids come from a URL list file.
    sed "s|^|$base/api/v1/flows/|" "$out/serve-ids.txt" > "$out/serve-urls.txt"
    "$oha" --no-tui -c "$clients" -z "${duration}s" --urls-from-file "$out/serve-urls.txt" \
        --output-format json > "$out/serve-oha.json"
    python3 - "$out/serve-oha.json" "$events" "$ids" "$clients" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
print(f"store: {int(sys.argv[2]):,} events; {sys.argv[3]} random ids; {sys.argv[4]} clients (oha)")
print(f"requests/s {s['requestsPerSec']:.0f}  p50 {p['p50']*1e3:.2f} ms  p99 {p['p99']*1e3:.2f} ms  success {s['successRate']:.4f}")
PY
else
    cat > "$out/serve-wrk.lua" <<LUA
local ids = {}
for line in io.lines("$out/serve-ids.txt") do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/flows/" .. ids[math.random(#ids)])
end
done = function(summary, latency, requests)
  io.write(string.format("WRK requests/s %.0f  p50 %.2f ms  p99 %.2f ms  errors %d non2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.errors.status))
end
LUA
    wrk -t 2 -c "$clients" -d "${duration}s" -s "$out/serve-wrk.lua" "$base" > "$out/serve-wrk.txt"
    echo "store: $events events; $ids random ids; $clients clients (wrk)"
    grep '^WRK' "$out/serve-wrk.txt" | sed 's/^WRK //'
    # The baseline, in the same run: /health (no store, no JSON of size) on the same server,
    # the same clients and duration — what the HTTP stack and this machine allow at the time.
    cat > "$out/serve-health.lua" <<LUA
done = function(summary, latency, requests)
  io.write(string.format("WRK requests/s %.0f  p50 %.2f ms  p99 %.2f ms\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3))
end
LUA
    wrk -t 2 -c "$clients" -d "${duration}s" -s "$out/serve-health.lua" "$base/health" > "$out/serve-health.txt"
    echo "baseline GET /health: $(grep '^WRK' "$out/serve-health.txt" | sed 's/^WRK //')"
    python3 - "$out/serve-wrk.txt" "$out/serve-health.txt" <<'PY'
import re, sys
rate = lambda p: float(re.search(r"requests/s (\d+)", open(p).read()).group(1))
print(f"flows/health throughput ratio: {rate(sys.argv[1]) / rate(sys.argv[2]):.2f}")
PY
fi
echo "serve RSS after the load: $(ps -o rss= -p $server | awk '{printf "%.0f MiB", $1/1024}')"
kill $server; wait $server 2>/dev/null || true

# serve's memory while a file source ingests at full speed: RSS_FLOWS flows (default 72,000,
# about 1M records) written before serve starts, followed from the start; the peak resident
# set (VmHWM) once every record is stored.
rss_flows=${RSS_FLOWS:-72000}
rm -rf "$out/rss-serve" && mkdir -p "$out/rss-serve/logs"
"$bin" simulate --flows "$rss_flows" --seed 2 -o "$out/rss-serve/logs/app.log" 2> /dev/null
records=$(wc -l < "$out/rss-serve/logs/app.log")
printf '[[source]]\ntype = "file"\nname = "flows"\npaths = ["%s/*.log"]\n' "$PWD/$out/rss-serve/logs" > "$out/rss-serve/serve.toml"
start=$(date +%s.%N)
"$bin" --db "$out/rss-serve/w.db" --config "$out/rss-serve/serve.toml" serve --listen 127.0.0.1:0 \
    > "$out/rss-serve/listen.txt" 2> "$out/rss-serve/serve.log" &
server=$!
for _ in $(seq 100); do [ -s "$out/rss-serve/listen.txt" ] && break; sleep 0.1; done
base=$(sed -n 's/.*listening on //p' "$out/rss-serve/listen.txt")
while :; do
    got=$(curl -fsS "$base/metrics" | awk '/^waymark_records_received_total\{source="flows"\}/ {print $2}')
    [ "${got:-0}" -ge "$records" ] && break
    sleep 0.5
done
end=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$server/status)
echo "serve following a file: $records records in $(echo "$end - $start" | bc) s; peak RSS (VmHWM) $hwm MiB (target < 150 MiB)"
