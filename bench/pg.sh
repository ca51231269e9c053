#!/usr/bin/env bash
# PostgreSQL store benchmark (issue 12): waymark end to end, file → PostgreSQL, against the
# PostgreSQL ceiling: the same event rows, already parsed, COPY'd straight into the same schema
# with its indexes. Both on the private cluster of scripts/pg.sh (fsync off: a test server),
# each into a fresh database. Not a test: figures only.
#
#   bench/pg.sh              # 1,000,000 records (FLOWS=71000)
#   FLOWS=7100 bench/pg.sh   # a quick 100k-record run
#   RUNS=3                   # runs; the best of each side is reported
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

python3 - "$records" "$events" "$best_e2e" "$best_ceiling" "$runs" <<'PY'
import sys
records, events, e2e, ceiling, runs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"| PostgreSQL store (best of {runs}) | figure |")
print("|---|---|")
print(f"| records in the input | {records:,} ({events:,} events) |")
print(f"| ceiling: the events pre-parsed, binary COPY into the schema with its indexes | {ceiling:,.0f} events/s |")
print(f"| waymark ingest, file → PostgreSQL, end to end | {e2e:,.0f} events/s ({e2e * records / events:,.0f} records/s) |")
print(f"| end to end / ceiling | {e2e / ceiling:.2f} (target ≥ 0.8) |")
PY
