#!/usr/bin/env bash
# Kafka consumption benchmark (issues 5, 15): 1,000,000 records already in a topic of
# librdkafka's mock cluster (a real Kafka-protocol broker on 127.0.0.1, its own process),
# consumed into SQLite by `waymark consume`; compared in the same script with
#   - librdkafka alone: `waymark consume --discard`, the same topic and settings, every message
#     read and dropped (no parsing, no store);
#   - the SQLite ceiling measured by `waymark bench` (same schema, pre-parsed rows).
# The target (issue 15): consume ≥ 0.8 of the lower of the two.
#
#   bench/kafka.sh                       # 1M records (FLOWS=71000), one round
#   RUNS=3 BASE=/path/to/old/waymark bench/kafka.sh
#                                        # 3 rounds; each also consumes with the BASE binary,
#                                        # alternating, so the two are compared under one load
#
# The mock cluster keeps at most 5 MiB per partition; 12 partitions and lz4 keep 1M records
# whole, and the consumer's `offsets_missing` is checked to be 0. Every consume uses a group
# and a store of its own, so each reads the whole topic from its start.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=${FLOWS:-71000}
partitions=${PARTITIONS:-12}
runs=${RUNS:-1}
base=${BASE:-}
out=bench/out
mkdir -p "$out"
cargo build --release --quiet --features kafka
bin=${CARGO_TARGET_DIR:-target}/release/waymark
rm -f "$out"/kafka*.db* "$out"/consume*.json "$out"/discard*.json "$out"/waymark*.json

"$bin" mock-broker --partitions "$partitions" > "$out/bootstrap.txt" 2> "$out/mock.log" &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s "$out/bootstrap.txt" ] && break; sleep 0.1; done
brokers=$(head -n1 "$out/bootstrap.txt")

"$bin" simulate --flows "$flows" --seed 1 -o "$out/input.log" 2> /dev/null
"$bin" simulate --flows "$flows" --seed 1 --brokers "$brokers" 2> "$out/produce.txt"

consume() { # binary, name
    rm -f "$out/kafka-$2.db"*
    "$1" --db "$out/kafka-$2.db" consume --brokers "$brokers" --group "$2" --exit-when-idle 1 \
        --json > "$out/consume-$2.json"
}
for i in $(seq "$runs"); do
    echo "round $i: $(uptime)" >&2
    "$bin" --db "$out/kafka-discard.db" consume --brokers "$brokers" --group "discard$i" \
        --exit-when-idle 1 --discard > "$out/discard-$i.json"
    if [ -n "$base" ]; then consume "$base" "base$i"; fi
    consume "$bin" "new$i"
    "$bin" bench --input "$out/input.log" --dir "$out" --repeat 1 > "$out/waymark-$i.json"
done

python3 - "$out" "$runs" "$base" <<'PY'
import json, sys
out, runs, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("| round | librdkafka alone, records/s | SQLite ceiling, rows/s | lower | consume, rows/s | consume / lower |"
      + (" base consume, rows/s | base / lower |" if base else ""))
print("|---|---|---|---|---|---|" + ("---|---|" if base else ""))
def rate(name):
    c = json.load(open(f"{out}/consume-{name}.json"))
    assert c["offsets_missing"] == 0, "the mock broker dropped records: use more partitions"
    return c, c["events"] / c["active_secs"]
for i in range(1, runs + 1):
    d = json.load(open(f"{out}/discard-{i}.json"))
    w = json.load(open(f"{out}/waymark-{i}.json"))
    alone = d["records"] / d["active_secs"]
    ceiling = w["sqlite_ceiling_rows_per_sec"]
    c, rows = rate(f"new{i}")
    # The client's ceiling in rows: records/s times the share of records that are rows.
    alone_rows = alone * c["events"] / c["records"]
    lower = min(alone_rows, ceiling)
    line = f"| {i} | {alone:,.0f} ({alone_rows:,.0f} rows) | {ceiling:,.0f} | {lower:,.0f} | {rows:,.0f} | {rows / lower:.2f} |"
    if base:
        _, brows = rate(f"base{i}")
        line += f" {brows:,.0f} | {brows / lower:.2f} |"
    print(line)
print(f'\nrecords {c["records"]:,}, events {c["events"]:,}, lag {c["lag"]}, batches {c["batches"]}; '
      "rates from the first message to the last commit (consume) or message (librdkafka alone)")
PY
