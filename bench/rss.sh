#!/usr/bin/env bash
# Peak memory of `waymark ingest` and `waymark consume` (issue 15): 1,000,000 and 10,000,000
# simulated records into a fresh store, peak RSS from `/usr/bin/time -v`; target under 100 MiB,
# flat in the input. For `consume` the records are first produced into librdkafka's mock
# cluster (`waymark mock-broker`, another process; it keeps 5 MiB per partition, so the topic
# gets 12 partitions per million records, lz4) and consumed until idle.
#
#   bench/rss.sh              # 1M and 10M records (the 10M input is 1.3 GB under bench/out/)
#   SIZES=1 bench/rss.sh      # 1M only
#   BASE=path/to/waymark bench/rss.sh   # also measure another build, same inputs, same run
#   KAFKA=0 bench/rss.sh      # ingest only
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
cargo build --release -p waymark --quiet
bin=$out/waymark-rss-bench   # a copy: a shared CARGO_TARGET_DIR may be rebuilt meanwhile
cp "${CARGO_TARGET_DIR:-target}/release/waymark" "$bin"
[ -x /usr/bin/time ] || { apt-get install -y time > /dev/null 2>&1 || { apt-get update -qq && apt-get install -y time > /dev/null; }; }
measure() { # label binary input [brokers]: ingest the input, or consume it from the brokers
  rm -f "$out/rss.db"*
  if [ -z "${4:-}" ]; then
    /usr/bin/time -v "$2" --db "$out/rss.db" -q ingest "$3" > "$out/rss-ingest.txt" 2> "$out/rss-time.txt"
  else
    /usr/bin/time -v "$2" --db "$out/rss.db" -q consume --brokers "$4" --group "rss-$RANDOM" \
      --exit-when-idle 2 > "$out/rss-ingest.txt" 2> "$out/rss-time.txt"
  fi
  python3 - "$1" "$out" <<'PY'
import re, sys
label, out = sys.argv[1], sys.argv[2]
t = open(f"{out}/rss-time.txt").read()
kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
cpu = float(re.search(r"User time \(seconds\): (\S+)", t).group(1)) + float(re.search(r"System time \(seconds\): (\S+)", t).group(1))
rate = re.search(r"([\d,]+) records/s", open(f"{out}/rss-ingest.txt").read()).group(1)
print(f"{label}: peak RSS {kb / 1024:.1f} MiB, {rate} records/s, wall {wall}, CPU {cpu:.1f} s")
PY
}
for m in ${SIZES:-1 10}; do
  input=$out/input-${m}M.log
  [ -s "$input" ] || "$bin" simulate --flows $((71000 * m)) --seed 1 -o "$input" 2> /dev/null
  echo "ingest of $(wc -l < "$input") records ($(du -m "$input" | cut -f1) MiB):"
  measure "  this build" "$bin" "$input"
  [ -z "${BASE:-}" ] || measure "  $BASE" "$BASE" "$input"
done
[ "${KAFKA:-1}" = 0 ] && exit 0
for m in ${SIZES:-1 10}; do
  "$bin" mock-broker --partitions $((12 * m)) > "$out/rss-bootstrap.txt" 2> /dev/null &
  mock=$!
  for _ in $(seq 50); do [ -s "$out/rss-bootstrap.txt" ] && break; sleep 0.1; done
  brokers=$(head -n1 "$out/rss-bootstrap.txt")
  "$bin" simulate --flows $((71000 * m)) --seed 1 --brokers "$brokers" 2> /dev/null
  echo "consume of $(wc -l < "$out/input-${m}M.log") records from $((12 * m)) partitions:"
  measure "  this build" "$bin" - "$brokers"
  [ -z "${BASE:-}" ] || measure "  $BASE" "$BASE" - "$brokers"
  kill "$mock"
  wait "$mock" 2> /dev/null || true
done
