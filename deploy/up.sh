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
if [ "${#need[@]}" -gt 0 ]; then deploy/install-packages.sh "${need[@]}"; fi

python="${BILLPAY_PYTHON:-.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "no Python environment at $python: run 'make install' first (or set BILLPAY_PYTHON)" >&2
    exit 1
fi
exec "$python" deploy/stack.py "${1:-check}"
