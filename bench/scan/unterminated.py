"""Counts the matches ripgrep reports on a file's last line when that line has no final
newline: waymark leaves such a line for later (the file may still be written), so these are
the expected difference between the two counts.

Usage: python3 unterminated.py RG_OUTPUT   (the output of `rg -n --no-heading`)
"""

import sys

last = {}
for raw in open(sys.argv[1], "rb"):
    path, rest = raw.split(b":", 1)
    line = int(rest.split(b":", 1)[0])
    last[path] = max(last.get(path, 0), line)
n = 0
for path, line in last.items():
    data = open(path, "rb").read()
    if data and not data.endswith(b"\n") and data.count(b"\n") + 1 == line:
        n += 1
print(n)
