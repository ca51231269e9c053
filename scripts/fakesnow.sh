#!/usr/bin/env bash
# The Snowflake emulator the Snowflake export test talks to: fakesnow's server mode (it speaks
# the connector's REST protocol over DuckDB) and the official Python connector that reads the
# tables back, in a venv cached under ~/.cache/waymark/fakesnow-venv. Idempotent.
#
#   scripts/fakesnow.sh install   creates or checks the venv; prints the path of its python
#   scripts/fakesnow.sh start DIR starts fakesnow on a free port of 127.0.0.1 in the background,
#                                 its data in memory, its log in DIR/fakesnow.log; prints
#                                 `PID PORT` once it answers
set -euo pipefail
venv="${WAYMARK_FAKESNOW_VENV:-$HOME/.cache/waymark/fakesnow-venv}"
packages=("fakesnow[server]==0.12.1" "snowflake-connector-python<5")

install() {
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
    if ! "$venv/bin/python" -c 'import fakesnow, snowflake.connector, uvicorn' >/dev/null 2>&1 \
        || [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("fakesnow"))')" != "0.12.1" ]]; then
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}" >&2
    fi
    echo "$venv/bin/python"
}

free_port() {
    "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir="$1"
    install >/dev/null
    mkdir -p "$dir"
    local port pid
    for _ in 1 2 3; do
        port="$(free_port)"
        "$venv/bin/fakesnow" -s --host 127.0.0.1 -p "$port" >"$dir/fakesnow.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 150); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if "$venv/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
                echo "$pid $port"
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "fakesnow did not start: see $dir/fakesnow.log" >&2
    return 1
}

case "${1:-install}" in
    install) install ;;
    start) start "${2:?start needs a directory}" ;;
    *) echo "usage: $0 install | start DIR" >&2; exit 2 ;;
esac
