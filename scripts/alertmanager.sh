#!/usr/bin/env bash
# Installs Debian's Prometheus Alertmanager for the end-to-end alert test
# (crates/waymark/tests/alerts.rs), idempotently: nothing happens when the binary is there.
# The test starts it itself on 127.0.0.1 with a generated config and a free port; the service
# the package installs is not used (and not started here).
set -euo pipefail
if command -v prometheus-alertmanager >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends prometheus-alertmanager >/dev/null ||
    { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends prometheus-alertmanager >/dev/null; }
# The package's service would listen on :9093; the test runs its own instance.
command -v systemctl >/dev/null 2>&1 && $SUDO systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
command -v prometheus-alertmanager >/dev/null
