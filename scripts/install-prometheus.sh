#!/usr/bin/env bash
# Installs Prometheus (Debian's `prometheus` package) idempotently and prints the path of the
# server binary. The serve tests start it themselves on 127.0.0.1 with a generated config;
# the package's own service is not needed (and is stopped where systemd runs it).
set -euo pipefail
if ! command -v prometheus >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    # The package's service would listen on 0.0.0.0:9090; policy-rc.d keeps it from starting.
    $sudo apt-get install -y -qq --no-install-recommends prometheus >&2
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        $sudo systemctl stop prometheus >&2 || true
    fi
fi
command -v prometheus
