"""Compares what two `waymark scan` runs stored: every `logscan_results` row and every
`scanned_files` row, without their ids and scan times (which differ between runs). Used to
check that a faster scanner stores exactly what the one before it stored.

Usage: python3 same_rows.py A.db B.db   (exit 1 and a sample of the differences if they differ)
"""

import sqlite3
import sys

RESULTS = """SELECT f.file_path, r.file_path, r.system_type, r.line_number, r.byte_offset, r.rule,
    r.severity, r.line, r.line_timestamp
    FROM logscan_results r JOIN scanned_files f USING (logscan_id)"""
FILES = """SELECT file_path, system_type, evidence, dev, inode, size, mtime, position, line_number,
    identity, state FROM scanned_files"""


def rows(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    return sorted(con.execute(sql).fetchall(), key=repr)


def main(a, b):
    same = True
    for name, sql in (("logscan_results", RESULTS), ("scanned_files", FILES)):
        ra, rb = rows(a, sql), rows(b, sql)
        if ra == rb:
            print(f"{name}: {len(ra)} rows, identical")
            continue
        same = False
        sa, sb = set(ra), set(rb)
        print(f"{name}: DIFFER ({len(ra)} and {len(rb)} rows)")
        for r in sorted(sa - sb, key=repr)[:5]:
            print("  only in A:", r)
        for r in sorted(sb - sa, key=repr)[:5]:
            print("  only in B:", r)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
