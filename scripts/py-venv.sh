#!/usr/bin/env bash
# Creates (idempotently) the Python virtual environment the export tests read files back with:
# pyarrow, pandas and DuckDB, cached under ~/.cache/waymark/venv-export. Prints the path of its
# python. Rerunning it with everything installed does nothing but check.
set -euo pipefail
venv="${WAYMARK_EXPORT_VENV:-$HOME/.cache/waymark/venv-export}"
packages=(pyarrow pandas duckdb)
if [[ ! -x "$venv/bin/python" ]]; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 ships venv separately.
        rm -rf "$venv"
        if command -v apt-get >/dev/null 2>&1; then
            apt-get install -y -qq python3-venv >/dev/null 2>&1 \
                || { apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null; }
        fi
        python3 -m venv "$venv"
    fi
fi
if ! "$venv/bin/python" -c 'import pyarrow, pandas, duckdb' >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}" >&2
fi
echo "$venv/bin/python"
