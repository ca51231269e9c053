"""Reads a file `waymark export` wrote back with pyarrow, pandas or DuckDB and compares it with
the rows the test read from the store itself.

usage: export_check.py FORMAT FILE EXPECTED_JSON [FORMAT FILE EXPECTED_JSON ...]
EXPECTED_JSON: {"columns": [[name, type], ...], "rows": [[value, ...], ...]} where type is one of
int, float, text, ts (an integer of microseconds or RFC 3339 text), list (JSON array text).
Prints `ok N rows` for each and exits 0 when the file equals the rows, types included; else says what
differs and exits 1.
"""

import datetime as dt
import json
import math
import sys

import pandas as pd
import pyarrow.parquet as pq

ARROW_TYPES = {
    "int": {"int64"},
    "float": {"double"},
    "text": {"string", "large_string"},
    "ts": {"timestamp[us, tz=UTC]"},
    "list": {"list<item: string>", "large_list<item: string>"},
}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def micros(value):
    """A time as microseconds since the epoch, from micros, RFC 3339 text or a datetime."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            raise ValueError(f"time without a zone: {value}")
        return int(value.value // 1000)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"time without a zone: {value}")
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise TypeError(f"not a time: {value!r}")


def canon(value, kind, text_cells):
    """One value in a comparable form; `text_cells`: it came from a CSV cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if text_cells and value == "":
        return None
    if kind == "int":
        if text_cells:
            value = int(value)
        if type(value) is not int:
            raise TypeError(f"not an integer: {value!r}")
        return value
    if kind == "float":
        return float(value)
    if kind == "ts":
        return micros(value)
    if kind == "list":
        if isinstance(value, str):
            value = json.loads(value)
        return [str(v) for v in list(value)]
    if not isinstance(value, str):
        raise TypeError(f"not text: {value!r}")
    return value


def read(fmt, path, columns):
    names = [c[0] for c in columns]
    if fmt == "parquet":
        table = pq.read_table(path)
        schema = {f.name: str(f.type) for f in table.schema}
        if list(schema) != names:
            raise SystemExit(f"columns {list(schema)} != {names}")
        for name, kind in columns:
            if schema[name] not in ARROW_TYPES[kind]:
                raise SystemExit(f"column {name}: parquet type {schema[name]}, expected {kind}")
        # pandas reads it too, times as zoned datetimes.
        frame = table.to_pandas()
        for name, kind in columns:
            if kind == "ts" and str(frame[name].dtype) not in ("datetime64[us, UTC]", "datetime64[ns, UTC]"):
                raise SystemExit(f"column {name}: pandas dtype {frame[name].dtype}")
        return [[row[n] for n in names] for row in table.to_pylist()], False
    if fmt == "csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if list(frame.columns) != names:
            raise SystemExit(f"columns {list(frame.columns)} != {names}")
        return frame.values.tolist(), True
    if fmt == "jsonl":
        frame = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        rows = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                obj = json.loads(line)
                if list(obj) != names:
                    raise SystemExit(f"keys {list(obj)} != {names}")
                rows.append([obj[n] for n in names])
        if len(frame) != len(rows):
            raise SystemExit(f"pandas read {len(frame)} rows, json {len(rows)}")
        return rows, False
    raise SystemExit(f"unknown format {fmt}")


def check(fmt, path, expected_path):
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    columns = expected["columns"]
    got_rows, text_cells = read(fmt, path, columns)
    want = [[canon(v, k, text_cells) for v, (_, k) in zip(r, columns)] for r in expected["rows"]]
    got = [[canon(v, k, text_cells) for v, (_, k) in zip(r, columns)] for r in got_rows]
    if len(got) != len(want):
        raise SystemExit(f"{path}: {len(got)} rows read, {len(want)} in the store")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            diff = [(c[0], gv, wv) for c, gv, wv in zip(columns, g, w) if gv != wv]
            raise SystemExit(f"{path}: row {i} differs (column, file, store): {diff}")
    print(f"ok {len(got)} rows")


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        raise SystemExit(__doc__)
    for i in range(0, len(args), 3):
        check(*args[i : i + 3])


if __name__ == "__main__":
    main()
