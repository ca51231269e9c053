#!/usr/bin/env bash
# PostgreSQL store benchmark (issue 12): waymark end to end, file → PostgreSQL, against the
# PostgreSQL ceiling: the same event rows, already parsed, COPY'd straight into the same schema
# with its indexes. Both on the private cluster of scripts/pg.sh (fsync off: a test server),
# each into a fresh database. Not a test: figures only.
#
#   bench/pg.sh              # 1,000,000 records (FLOWS=71000)
#   FLOWS=7100 bench/pg.sh   # a quick 100k-record run
#   RUNS=3                   # runs; the best of each side is reported
#   KAFKA_FLOWS=35000        # then Kafka → PostgreSQL with 1, 2 and 3 consumers (0: skip)
#
# The Kafka part: ~500,000 records produced once (lz4) into a 6-partition topic of the mock
# cluster (`waymark mock-broker`, in this machine's cores too), then for N = 1, 2, 3 a fresh
# database and N `waymark consume` processes of a new group started at once. The rate is
# events / (the last consumer's last commit − the first one's first message), from each
# consumer's `--json` report (its active span ends `--exit-when-idle` before it exits); the
# CPU seconds of each consumer come from /usr/bin/time.
#
# Prints a Markdown table; raw figures are left in bench/out/pg/.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=${FLOWS:-71000}
runs=${RUNS:-3}
out=bench/out/pg
mkdir -p "$out"
# BIN=path/to/waymark uses a release build made beforehand (with the postgres feature).
if [ -z "${BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
    cargo build --release --quiet -p waymark --features postgres
fi
bin=${BIN:-$CARGO_TARGET_DIR/release/waymark}
eval "$(scripts/pg.sh start)"
base=${WAYMARK_TEST_PG%/*}
admin() { psql -qAt "$WAYMARK_TEST_PG" -v ON_ERROR_STOP=1 "$@"; }
fresh() { admin -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
now() { date +%s.%N; }

"$bin" simulate --flows "$flows" --seed 1 -o "$out/input.log" 2>"$out/simulate.txt"
records=$(wc -l <"$out/input.log")

best_e2e=0
best_ceiling=0
for run in $(seq 1 "$runs"); do
    # End to end: the file through waymark into an empty store (schema created first, untimed).
    fresh bench_e2e
    "$bin" --db "$base/bench_e2e" status >/dev/null
    t0=$(now)
    "$bin" --db "$base/bench_e2e" ingest "$out/input.log" >"$out/ingest.txt"
    t1=$(now)
    events=$(psql -qAt "$base/bench_e2e" -c "SELECT count(*) FROM events")
    e2e=$(python3 -c "print($events / ($t1 - $t0))")

    # Ceiling: the same rows, pre-parsed, COPY'd (binary) into the same schema and indexes.
    psql -q "$base/bench_e2e" -c "\\copy (SELECT source_id, position, system_id, checkpoint_id, timestamp, status, correlation_id, failure_reason, ts_us, batch_id FROM events) TO '$out/events.bin' WITH (FORMAT binary)"
    fresh bench_ceiling
    "$bin" --db "$base/bench_ceiling" status >/dev/null
    t0=$(now)
    psql -q "$base/bench_ceiling" -c "\\copy events (source_id, position, system_id, checkpoint_id, timestamp, status, correlation_id, failure_reason, ts_us, batch_id) FROM '$out/events.bin' WITH (FORMAT binary)"
    t1=$(now)
    ceiling=$(python3 -c "print($events / ($t1 - $t0))")
    echo "run $run: end to end $e2e events/s, ceiling $ceiling events/s" | tee -a "$out/runs.txt" >&2
    best_e2e=$(python3 -c "print(max($best_e2e, $e2e))")
    best_ceiling=$(python3 -c "print(max($best_ceiling, $ceiling))")
done

python3 - "$records" "$events" "$best_e2e" "$best_ceiling" "$runs" >"$out/table.md" <<'PY'
import sys
records, events, e2e, ceiling, runs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"| PostgreSQL store (best of {runs}) | figure |")
print("|---|---|")
print(f"| records in the input | {records:,} ({events:,} events) |")
print(f"| ceiling: the events pre-parsed, binary COPY into the schema with its indexes | {ceiling:,.0f} events/s |")
print(f"| waymark ingest, file → PostgreSQL, end to end | {e2e:,.0f} events/s ({e2e * records / events:,.0f} records/s) |")
print(f"| end to end / ceiling | {e2e / ceiling:.2f} (target ≥ 0.8) |")
PY
cat "$out/table.md"

kafka_flows=${KAFKA_FLOWS:-35000}
[ "$kafka_flows" -gt 0 ] || exit 0
idle=3
"$bin" mock-broker --partitions 6 >"$out/bootstrap.txt" 2>"$out/mock.log" &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s "$out/bootstrap.txt" ] && break; sleep 0.1; done
brokers=$(head -n1 "$out/bootstrap.txt")
"$bin" simulate --flows "$kafka_flows" --seed 1 --brokers "$brokers" 2>"$out/produce.txt"
echo
echo "| Kafka → PostgreSQL, 6 partitions | events | events/s | per consumer: events, CPU s (user+sys), active s |"
echo "|---|---|---|---|"
for n in 1 2 3; do
    fresh bench_kafka
    "$bin" --db "$base/bench_kafka" status >/dev/null
    pids=()
    for i in $(seq 1 "$n"); do
        /usr/bin/time -f "%U %S" -o "$out/cpu-$n-$i.txt" \
            "$bin" --db "$base/bench_kafka" consume --brokers "$brokers" --group "bench-$n-$$" \
            --exit-when-idle "$idle" --json >"$out/consume-$n-$i.json" 2>"$out/consume-$n-$i.log" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    events=$(psql -qAt "$base/bench_kafka" -c "SELECT count(*) FROM events")
    python3 - "$out" "$n" "$events" "$idle" <<'PY'
import json, sys
out, n, events, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ends, begins, parts, missing = [], [], [], 0
for i in range(1, n + 1):
    c = json.load(open(f"{out}/consume-{n}-{i}.json"))
    u, s = map(float, open(f"{out}/cpu-{n}-{i}.txt").read().split()[-2:])
    end = c["elapsed_secs"] - idle
    ends.append(end)
    begins.append(end - c["active_secs"])
    missing += c["offsets_missing"]
    parts.append(f'{c["events"]:,}, {u + s:.1f} s, {c["active_secs"]:.1f} s')
assert missing == 0, "the mock broker dropped records: fewer flows or more partitions"
span = max(ends) - min(begins)
print(f"| {n} consumer{'s' if n > 1 else ''} | {events:,} | {events / span:,.0f} | {'; '.join(parts)} |")
PY
done
