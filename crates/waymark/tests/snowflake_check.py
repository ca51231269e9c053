"""Reads the Snowflake tables back through the official Python connector (from the venv that
scripts/fakesnow.sh creates) and waymark's own rows (its JSON lines exports), both in one
canonical form, for tests/snowflake.rs to compare.

usage: snowflake_check.py PORT DATABASE SCHEMA TABLE=WAYMARK_JSONL...
prints one JSON object: {TABLE: {"snowflake": [rows], "waymark": [rows], "columns": [...]}}
"""

import datetime
import decimal
import json
import sys

import snowflake.connector

LISTS = {"source_name", "target_name"}
KEYS = {
    "LOGSCAN_RESULTS": ["id"],
    "ETL_LOG_AUDIT": ["run_key"],
    "EVENTS": ["source_id", "position"],
}


def canonical_time(v):
    """Microsecond UTC text, from a naive (UTC) datetime or waymark's RFC 3339 text."""
    if v is None:
        return None
    if isinstance(v, str):
        v = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    if v.tzinfo is not None:
        v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return v.strftime("%Y-%m-%dT%H:%M:%S.%f")


def canonical(name, v, is_time):
    if v is None:
        return None
    if name in LISTS:
        return json.loads(v) if isinstance(v, str) else list(v)
    if is_time:
        return canonical_time(v)
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def main():
    port, database, schema = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    conn = snowflake.connector.connect(
        user="waymark",
        password="test-password",
        account="fakesnow",
        host="127.0.0.1",
        port=port,
        protocol="http",
        database=database,
        schema=schema,
    )
    cur = conn.cursor()
    out = {}
    for arg in sys.argv[4:]:
        table, path = arg.split("=", 1)
        key = KEYS[table]
        with open(path) as f:
            mine = [json.loads(line) for line in f if line.strip()]
        cur.execute(f'SELECT * FROM "{table}" LIMIT 0')
        names = [d[0].lower() for d in cur.description]
        # A time column: the warehouse's type codes 6-8 (TIMESTAMP_*).
        times = [d[0] for d in cur.description if d[1] in (6, 7, 8)]
        # The emulator sends a NULL timestamp in Arrow as a struct of NULLs, which the connector
        # reads as the epoch: whether it is NULL is asked of the warehouse itself.
        nulls = "".join(f', "{t}" IS NULL AS "{t}__NULL"' for t in times)
        cur.execute(f'SELECT *{nulls} FROM "{table}"')
        theirs = []
        for row in cur.fetchall():
            r = dict(zip(names, row))
            for i, t in enumerate(times):
                if row[len(names) + i]:
                    r[t.lower()] = None
            theirs.append(r)
        times = {t.lower() for t in times}

        def canon(rows):
            rows = [{n: canonical(n, r.get(n), n in times) for n in names} for r in rows]
            return sorted(rows, key=lambda r: [r[k] for k in key])

        out[table] = {"columns": names, "snowflake": canon(theirs), "waymark": canon(mine)}
    print(json.dumps(out))


main()
