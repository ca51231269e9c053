"""Builds the benchmark corpus: copies of /work/shared/corpus and fixtures/etl, in numbered
folders, until the total reaches the target size. Output goes to bench/out/ (git-ignored: the
loghub licence forbids committing copies).

Usage: python3 build_corpus.py OUT_DIR [MIB]
"""

import os
import shutil
import sys

from rules import ROOT

SOURCES = ["/work/shared/corpus", str(ROOT / "fixtures/etl")]


def files():
    out = []
    for src in SOURCES:
        for root, _, names in os.walk(src):
            for n in sorted(names):
                p = os.path.join(root, n)
                if os.path.isfile(p) and not n.endswith(".expected.json"):
                    out.append((src, p))
    return out


def main(out_dir, mib):
    target = mib * 2**20
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    listing = files()
    total, copy = 0, 0
    while total < target:
        for src, p in listing:
            rel = os.path.relpath(p, os.path.dirname(src))
            dest = os.path.join(out_dir, f"copy_{copy:03}", rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(p, dest)
            total += os.path.getsize(p)
            if total >= target:
                break
        copy += 1
    print(f"{out_dir}: {total / 2**20:.0f} MiB in {copy} copies of {len(listing)} files")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024)
