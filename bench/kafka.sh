#!/usr/bin/env bash
# Kafka consumption benchmark (issue 5): 1,000,000 records already in a topic of librdkafka's
# mock cluster (a real Kafka-protocol broker on 127.0.0.1), consumed into SQLite by
# `waymark consume`; compared with the SQLite ceiling measured by `waymark bench` in the same
# script (same schema, pre-parsed rows).
#
#   bench/kafka.sh              # 1M records (FLOWS=71000)
#
# The mock cluster keeps at most 5 MiB per partition; 12 partitions and lz4 keep 1M records
# whole, and the consumer's `offsets_missing` is checked to be 0.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=${FLOWS:-71000}
partitions=${PARTITIONS:-12}
out=bench/out
mkdir -p "$out"
cargo build --release --quiet --features kafka
bin=target/release/waymark
rm -f "$out"/kafka.db*

"$bin" mock-broker --partitions "$partitions" > "$out/bootstrap.txt" 2> "$out/mock.log" &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s "$out/bootstrap.txt" ] && break; sleep 0.1; done
brokers=$(head -n1 "$out/bootstrap.txt")

"$bin" simulate --flows "$flows" --seed 1 -o "$out/input.log" 2> /dev/null
"$bin" simulate --flows "$flows" --seed 1 --brokers "$brokers" 2> "$out/produce.txt"
"$bin" --db "$out/kafka.db" consume --brokers "$brokers" --exit-when-idle 1 --json > "$out/consume.json"
"$bin" bench --input "$out/input.log" --dir "$out" --repeat 1 > "$out/waymark.json"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
c = json.load(open(f"{out}/consume.json"))
w = json.load(open(f"{out}/waymark.json"))
assert c["offsets_missing"] == 0, "the mock broker dropped records: use more partitions"
active = c["records"] / c["active_secs"]
total = c["records"] / c["elapsed_secs"]
ceiling = w["sqlite_ceiling_rows_per_sec"]
rows = c["events"] / c["active_secs"]
print("| measure | figure |\n|---|---|")
print(f'| records consumed | {c["records"]:,} ({c["events"]:,} events, lag {c["lag"]}) |')
print(f"| consume rate, first message to last commit | {active:,.0f} records/s ({rows:,.0f} rows/s) |")
print(f'| consume rate, whole run incl. group join and idle exit | {total:,.0f} records/s |')
print(f"| SQLite ceiling, same run | {ceiling:,.0f} rows/s |")
print(f"| consume rows/s / ceiling | {rows / ceiling:.2f} (target ≥ 0.70) |")
PY
