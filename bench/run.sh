#!/usr/bin/env bash
# Core pipeline benchmark (issue 2): waymark against the SQLite ceiling and the seed's Python
# approach, over the same generated input, in one script on one machine.
#
#   bench/run.sh            # 1,000,000 records (FLOWS=71000)
#   FLOWS=7100 bench/run.sh # a quick 100k-record run
#
# Prints a Markdown table; raw figures are left in bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=${FLOWS:-71000}
percommit_records=${PERCOMMIT_RECORDS:-20000}
out=bench/out
mkdir -p "$out"
cargo build --release --quiet
bin=target/release/waymark
baseline=../shared/bench/seed_baseline.py

"$bin" simulate --flows "$flows" --seed 1 -o "$out/input.log" 2> "$out/simulate.txt"
"$bin" bench --input "$out/input.log" --dir "$out" > "$out/waymark.json"

rm -f "$out/py_batched.db" "$out/py_percommit.db"
python3 "$baseline" "$out/input.log" "$out/py_batched.db" --commit-every 100000 > "$out/py_batched.txt"
# One commit per record takes milliseconds each: it is measured on the first records only.
head -n "$percommit_records" "$out/input.log" > "$out/input_head.log"
python3 "$baseline" "$out/input_head.log" "$out/py_percommit.db" --commit-every 1 > "$out/py_percommit.txt"

python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
w = json.load(open(f"{out}/waymark.json"))
def rate(name):
    m = re.search(r"= ([\d,]+) records/s", open(f"{out}/{name}").read())
    return float(m.group(1).replace(",", ""))
batched, percommit = rate("py_batched.txt"), rate("py_percommit.txt")
e2e = w["end_to_end_records_per_sec"]
rows = [
    ("records in the input", f'{w["records"]:,}', ""),
    ("parse + normalize, one core", f'{w["parse_normalize_per_sec"]:,.0f} records/s', "target ≥ 2,000,000"),
    ("whole core (checks, parse, normalize, correlate)", f'{w["core_per_sec"]:,.0f} records/s', ""),
    ("SQLite ceiling (same rows pre-parsed, same schema and indexes)", f'{w["sqlite_ceiling_rows_per_sec"]:,.0f} rows/s', ""),
    ("end to end, file → SQLite", f'{e2e:,.0f} records/s ({w["end_to_end_rows_per_sec"]:,.0f} rows/s)', ""),
    ("end to end / SQLite ceiling (rows/s)", f'{w["end_to_end_vs_ceiling"]:.2f}', "target ≥ 0.80"),
    ("seed approach in Python, batched commits", f"{batched:,.0f} records/s", ""),
    ("end to end / Python batched", f"{e2e / batched:.1f} ×", "target ≥ 3"),
    ("seed approach in Python, one commit per record", f"{percommit:,.0f} records/s", ""),
    ("end to end / Python per-record commit", f"{e2e / percommit:,.0f} ×", "target ≥ 500"),
]
print("| measure | figure | target |\n|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} |")
PY
