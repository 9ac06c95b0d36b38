#!/usr/bin/env bash
# A cluster on one machine, under faults (deploy/cluster.py; docs/deploy.md, "A cluster under faults"):
#
#   deploy/cluster.sh check           # the long form: 5 minutes of load (make cluster)
#   deploy/cluster.sh check --short   # the short form CI runs (make cluster-short)
#   deploy/cluster.sh down            # remove what an interrupted run left (namespaces, bridge)
#
# Needs root (ip netns). Installs what is missing from Debian (nginx, openssl, socat, iproute2); locust
# goes into its own venv under var/ (it pins pytest<10, so it stays out of the test environment).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
if [ "${#need[@]}" -gt 0 ]; then deploy/install-packages.sh "${need[@]}"; fi

python="${BILLPAY_PYTHON:-.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "no Python environment at $python: run 'make install' first (or set BILLPAY_PYTHON)" >&2
    exit 1
fi
exec "$python" deploy/cluster.py "${@:-check}"
