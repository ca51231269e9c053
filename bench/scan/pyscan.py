"""The plain Python scanner (the seed's LogScanner approach): every rule's re.search on every
line in turn. It only counts matched lines; it stores nothing, which flatters it.

Usage: python3 pyscan.py DIR_OR_FILE... ; prints files, bytes, lines, matched lines, seconds.
"""

import os
import re
import sys
import time

from rules import rules

SEVERITY = {"ERROR": 3, "WARNING": 2, "INFO": 1}


def main(paths):
    compiled = []
    for name, severity, pattern in rules():
        # Python's re has no (?i:...) scoped groups before 3.11's support for them;
        # 3.11 supports them, and multi-line ^/$ as in waymark.
        compiled.append((name, SEVERITY[severity], re.compile(pattern.encode(), re.M)))
    files = nbytes = nlines = nmatches = 0
    started = time.monotonic()
    for path in walk(paths):
        files += 1
        with open(path, "rb") as f:
            for line in f:
                nbytes += len(line)
                nlines += 1
                line = line.rstrip(b"\r\n")
                best = None
                for name, sev, regex in compiled:
                    if regex.search(line) and (best is None or sev > best[1]):
                        best = (name, sev)
                if best:
                    nmatches += 1
    elapsed = time.monotonic() - started
    print(f"files={files} bytes={nbytes} lines={nlines} matches={nmatches} secs={elapsed:.2f} "
          f"MiB/s={nbytes / elapsed / 2**20:.1f}")


def walk(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for n in sorted(names):
                    yield os.path.join(root, n)
        else:
            yield p


if __name__ == "__main__":
    main(sys.argv[1:])
