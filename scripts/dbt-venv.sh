#!/usr/bin/env bash
# A Python virtual environment with dbt-core 1.10, dbt-duckdb and openlineage-dbt (`dbt-ol`),
# for the real-dbt tests (crates/waymark/tests/real_dbt.rs). Idempotent: the venv is cached under
# ~/.cache/waymark/dbt-venv and rebuilt only when missing or broken. dbt 1.11+ downloads a parser
# at install time, so 1.10 is pinned. Prints the path of the `dbt` executable.
set -euo pipefail
cache="${WAYMARK_CACHE:-$HOME/.cache/waymark}"
venv="$cache/dbt-venv"
want='dbt-core==1.10.*'
if [ -x "$venv/bin/dbt" ] && "$venv/bin/dbt" --version 2>/dev/null | grep -q 'installed: 1\.10\.'; then
    # openlineage-dbt leaves dbt-core as it is; added to a venv made before it was needed.
    [ -x "$venv/bin/dbt-ol" ] || "$venv/bin/pip" install --quiet --disable-pip-version-check openlineage-dbt >&2
    echo "$venv/bin/dbt"
    exit 0
fi
mkdir -p "$cache"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "$want" 'dbt-duckdb' >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check openlineage-dbt >&2
"$venv/bin/dbt" --version >&2
echo "$venv/bin/dbt"
