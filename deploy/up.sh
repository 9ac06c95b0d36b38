#!/usr/bin/env bash
# The production stack of docs/deploy.md on this one machine, walked and taken down again:
#
#   deploy/up.sh            # nginx + gunicorn + Celery worker + one beat from deploy/systemd, the walk, down
#   deploy/up.sh up|down    # bring it up and leave it running / stop it
#
# Installs nginx and openssl from Debian when missing (needs root); uses PostgreSQL on 127.0.0.1:5432 and
# Redis on 127.0.0.1:6379 as the machine runs them (database billpay_deploy, Redis db 6: override with
# DEPLOY_DATABASE_URL / DEPLOY_REDIS_URL). Python: BILLPAY_PYTHON, else the repository's .venv (make install).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing: ${need[*]} (run as root on Debian to have them installed, or install them)" >&2
        exit 1
    fi
    echo "== installing ${need[*]}"
    # Debian starts a freshly installed nginx on port 80; this machine's nginx is only ever started by the
    # walk, with its own configuration, so keep the package's service from starting (policy-rc.d: 101).
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

python="${BILLPAY_PYTHON:-.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "no Python environment at $python: run 'make install' first (or set BILLPAY_PYTHON)" >&2
    exit 1
fi
exec "$python" deploy/stack.py "${1:-check}"
