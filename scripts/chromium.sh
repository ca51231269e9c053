#!/usr/bin/env bash
# Installs what the dashboard's browser test drives, idempotently: Debian's `chromium` package
# (apt-get, only when missing) and `playwright-core` from npm into ~/.cache/waymark/node (the
# library only: it downloads no browser; the test points it at /usr/bin/chromium).
# Prints two lines: the Chromium binary and the node_modules directory.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
node_dir="${HOME}/.cache/waymark/node"
version="1.49.1"
if [ ! -f "${node_dir}/node_modules/playwright-core/package.json" ] \
    || ! grep -q "\"version\": \"${version}\"" "${node_dir}/node_modules/playwright-core/package.json"; then
    mkdir -p "${node_dir}"
    (cd "${node_dir}" && [ -f package.json ] || echo '{"private":true}' > package.json)
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "${node_dir}" --no-audit --no-fund \
        --silent "playwright-core@${version}" >&2
fi
command -v chromium
echo "${node_dir}/node_modules"
