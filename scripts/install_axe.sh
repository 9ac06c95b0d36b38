#!/usr/bin/env bash
# axe-core for the accessibility tests (tests/payers/test_axe_browser.py), from the npm registry into the
# git-ignored folder var/node/ (npm is on the CI machine). `make test` runs this when the file is missing;
# the tests run it too. Fails loudly when npm is missing or the package cannot be fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1
target=var/node/node_modules/axe-core/axe.min.js
if [ -f "$target" ] && grep -q "axe v$AXE_VERSION" "$target"; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
    echo "FATAL: npm is needed to install axe-core $AXE_VERSION for the accessibility tests (apt-get install npm)." >&2
    exit 1
fi
mkdir -p var/node
npm install --prefix var/node --no-save --no-package-lock --no-audit --no-fund --silent "axe-core@$AXE_VERSION"
if ! grep -q "axe v$AXE_VERSION" "$target" 2>/dev/null; then
    echo "FATAL: npm did not install axe-core $AXE_VERSION into var/node (see the npm output above)." >&2
    exit 1
fi
echo "axe-core $AXE_VERSION installed in var/node"
