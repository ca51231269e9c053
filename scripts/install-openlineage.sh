#!/usr/bin/env bash
# Installs the official OpenLineage Python client (pip `openlineage-python`) in a venv cached
# under ~/.cache/waymark/, idempotently, and prints the venv's python. Used by the serve tests
# (crates/waymark/tests/serve.rs) to post RunEvents to `waymark serve`.
set -euo pipefail
venv="${WAYMARK_CACHE:-$HOME/.cache/waymark}/openlineage-venv"
version="${OPENLINEAGE_VERSION:-1.33.0}"
if ! "$venv/bin/python" -c "import openlineage.client" >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "openlineage-python==$version" >&2
fi
echo "$venv/bin/python"
