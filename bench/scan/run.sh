#!/usr/bin/env bash
# Benchmark of `waymark scan` against ripgrep and the plain Python scanner, same patterns,
# same files. Usage: bench/scan/run.sh [MIB]   (default 1024; writes only under bench/out/)
# Needs: cargo, python3 (3.11+), ripgrep (`apt-get install -y ripgrep`).
set -euo pipefail
cd "$(dirname "$0")/../.."
MIB="${1:-1024}"
OUT=bench/out
CORPUS=$OUT/scan-corpus
mkdir -p $OUT
cargo build --release -p waymark -q
[ -d $CORPUS ] && [ "$(du -sm $CORPUS | cut -f1)" -ge "$MIB" ] || python3 bench/scan/build_corpus.py $CORPUS "$MIB"
python3 bench/scan/rules.py > $OUT/scan-patterns.txt
BYTES=$(du -sb $CORPUS | cut -f1)
echo "corpus: $CORPUS, $((BYTES / 1048576)) MiB, $(find $CORPUS -type f | wc -l) files; $(wc -l < $OUT/scan-patterns.txt) patterns"
cat $(find $CORPUS -type f) > /dev/null   # warm the page cache for every run alike

RUNS="${RUNS:-3}"
t() { # label, command...: the best wall time of $RUNS runs (the machine is shared), MiB/s
  local label=$1; shift
  local s e best=""
  for _ in $(seq "$RUNS"); do
    [ "$label" = "${label#waymark scan (first}" ] || rm -f $OUT/scan.db*
    s=$(date +%s.%N); "$@" > $OUT/scan-last.out; e=$(date +%s.%N)
    best=$(python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); b=sys.argv[3]; print(min(d, float(b)) if b else d)" "$s" "$e" "$best")
  done
  python3 -c "import sys; s=float(sys.argv[1]); print(f'{sys.argv[2]:<36} {s:7.2f} s {int(sys.argv[3])/s/2**20:8.1f} MiB/s')" "$best" "$label" "$BYTES"
}
t "ripgrep -n (all cores)" rg -n --no-heading -f $OUT/scan-patterns.txt $CORPUS
t "ripgrep -n -j1 (one thread)" rg -j1 -n --no-heading -f $OUT/scan-patterns.txt $CORPUS
t "waymark scan (first scan, stored)" ./target/release/waymark --db $OUT/scan.db scan --json $CORPUS
python3 -c "import json; r=json.load(open('$OUT/scan-last.out')); print('  waymark:', r['files'], 'files,', r['lines'], 'lines,', r['matches'], 'matches stored')"
echo "  ripgrep: $(rg -c -f $OUT/scan-patterns.txt $CORPUS | awk -F: '{s+=$NF} END {print s}') matching lines"
t "waymark scan (rescan, nothing new)" ./target/release/waymark --db $OUT/scan.db scan --json $CORPUS
# Python is ~2 orders slower: measured on one copy of the corpus (its throughput is the figure).
ONE=$CORPUS/copy_000
ONE_BYTES=$(du -sb $ONE | cut -f1)
echo "python on $ONE ($((ONE_BYTES / 1048576)) MiB):"
python3 bench/scan/pyscan.py $ONE
rm -f $OUT/scan1.db*
s=$(date +%s.%N); ./target/release/waymark --db $OUT/scan1.db scan --json $ONE > /dev/null; e=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'waymark on the same copy: {s:.2f} s {int(sys.argv[3])/s/2**20:.1f} MiB/s')" "$s" "$e" "$ONE_BYTES"
