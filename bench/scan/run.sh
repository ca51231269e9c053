#!/usr/bin/env bash
# Benchmark of `waymark scan` against ripgrep (and a plain Python scanner) on the same files
# with the same patterns, page cache warm: the built-in rule pack, and a literal-heavy list of
# 16 everyday rules (bench/scan/literal-rules.txt). Usage: bench/scan/run.sh [MIB]
# (default 300; writes only under bench/out/). RUNS=5 by default: the machine is shared, so
# each figure is given as min–max over the runs and the ratio is of the medians, and the
# scanners are run in turn (rg, waymark, rg, waymark, ...) so that a change of load hits both.
# BASE=path/to/waymark adds an older waymark binary (e.g. one built from main) to each turn:
# the comparison with the change's baseline in the same run.
# Needs: cargo, python3 (3.11+); ripgrep is installed from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
MIB="${1:-300}"
OUT=bench/out
CORPUS=$OUT/scan-corpus
mkdir -p $OUT
command -v rg > /dev/null || { apt-get install -y ripgrep > /dev/null 2>&1 || { apt-get update -qq && apt-get install -y ripgrep > /dev/null; }; }
cargo build --release -p waymark -q
BIN=$OUT/waymark-scan-bench   # a copy: a shared CARGO_TARGET_DIR may be rebuilt meanwhile
cp "${CARGO_TARGET_DIR:-target}/release/waymark" $BIN
[ -d $CORPUS ] && [ "$(du -sm $CORPUS | cut -f1)" -ge "$MIB" ] || python3 bench/scan/build_corpus.py $CORPUS "$MIB"
python3 bench/scan/rules.py > $OUT/scan-patterns.txt
BYTES=$(du -sb $CORPUS | cut -f1)
echo "corpus: $CORPUS, $((BYTES / 1048576)) MiB, $(find $CORPUS -type f | wc -l) files; ripgrep $(rg --version | head -1 | cut -d' ' -f2)"
cat $(find $CORPUS -type f) > /dev/null   # warm the page cache for every run alike

RUNS="${RUNS:-5}"
BASE="${BASE:-}"
if [ -n "$BASE" ]; then cp "$BASE" $OUT/waymark-scan-base; BASE=$OUT/waymark-scan-base; fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# once LABEL COMMAND...: one run, its wall and CPU (user+sys) seconds appended to $OUT/t-LABEL.
once() {
  local label=$1; shift
  rm -f $OUT/scan.db*
  /usr/bin/time -f "%e %U %S" -o "$OUT/t-$label.one" "$@" > "$OUT/scan-$label.out"
  cat "$OUT/t-$label.one" >> "$OUT/t-$label"
}
# compare NAME RG_PATTERNS [WAYMARK ARGS...]: one line of figures, and the match counts.
compare() {
  local name=$1 patterns=$2; shift 2
  : > $OUT/t-rg; : > $OUT/t-wm; : > $OUT/t-base
  for _ in $(seq "$RUNS"); do
    once rg rg -n --no-heading -f "$patterns" $CORPUS
    once wm $BIN --db $OUT/scan.db scan --json "$@" $CORPUS
    [ -z "$BASE" ] || once base $BASE --db $OUT/scan.db scan --json "$@" $CORPUS
  done
  python3 - "$OUT" "$name" "$BYTES" <<'PY'
import os, statistics as st, sys
out, name, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
def runs(label):
    rows = [list(map(float, l.split())) for l in open(f"{out}/t-{label}") if l.strip()]
    return [r[0] for r in rows], [r[1] + r[2] for r in rows]
(rw, rc), (ww, wc) = runs("rg"), runs("wm")
mib = size / 2**20
print(f"{name}: rg {min(rw):.2f}–{max(rw):.2f} s wall, waymark {min(ww):.2f}–{max(ww):.2f} s "
      f"({mib / st.median(ww):.0f} MiB/s); waymark/rg speed (median wall) "
      f"{st.median(rw) / st.median(ww):.2f} ×, CPU (user+sys) {st.median(rc) / st.median(wc):.2f} ×")
if os.path.getsize(f"{out}/t-base"):
    bw, bc = runs("base")
    print(f"  baseline waymark {min(bw):.2f}–{max(bw):.2f} s: its speed/rg {st.median(rw) / st.median(bw):.2f} ×; "
          f"this waymark / baseline: {st.median(bw) / st.median(ww):.2f} × (wall), "
          f"{st.median(bc) / st.median(wc):.2f} × (CPU)")
PY
  local rg_lines wm_lines tail
  rg_lines=$(wc -l < $OUT/scan-rg.out)
  wm_lines=$(python3 -c "import json; print(json.load(open('$OUT/scan-wm.out'))['matches'])")
  tail=$(python3 bench/scan/unterminated.py $OUT/scan-rg.out)
  echo "  matching lines: ripgrep $rg_lines ($tail on last lines without a newline), waymark $wm_lines stored"
  # waymark scans a last line without a newline once its file has been quiet (`--quiet-secs`,
  # 5 s): the corpus is older than that, so every ripgrep line should be there.
  [ "$rg_lines" -eq "$wm_lines" ] && echo "  counts agree" || echo "  COUNTS DIFFER"
  if [ -n "$BASE" ]; then
    base_lines=$(python3 -c "import json; print(json.load(open('$OUT/scan-base.out'))['matches'])")
    [ "$base_lines" -eq "$wm_lines" ] && echo "  baseline stores the same count" || echo "  BASELINE COUNT DIFFERS: $base_lines"
  fi
  echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
compare "built-in pack ($(wc -l < $OUT/scan-patterns.txt) line rules)" $OUT/scan-patterns.txt
compare "literal-heavy list (16 rules)" bench/scan/literal-rules.txt --rules-file bench/scan/literal-rules.txt
rm -f $OUT/scan.db*
$BIN --db $OUT/scan.db scan --json $CORPUS > /dev/null
s=$(date +%s.%N); $BIN --db $OUT/scan.db scan --json $CORPUS > /dev/null; e=$(date +%s.%N)
python3 -c "import sys; print(f'rescan with nothing new: {float(sys.argv[2]) - float(sys.argv[1]):.2f} s')" "$s" "$e"
[ "${PYTHON:-1}" = 0 ] && exit 0
# Python is ~2 orders slower: measured on one copy of the corpus (its throughput is the figure).
ONE=$CORPUS/copy_000
ONE_BYTES=$(du -sb $ONE | cut -f1)
echo "python on $ONE ($((ONE_BYTES / 1048576)) MiB):"
python3 bench/scan/pyscan.py $ONE
rm -f $OUT/scan1.db*
s=$(date +%s.%N); $BIN --db $OUT/scan1.db scan --json $ONE > /dev/null; e=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'waymark on the same copy: {s:.2f} s {int(sys.argv[3])/s/2**20:.1f} MiB/s')" "$s" "$e" "$ONE_BYTES"
