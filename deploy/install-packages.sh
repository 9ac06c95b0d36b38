#!/usr/bin/env bash
# Install Debian packages (as root) without letting their maintainer scripts start services: Debian starts a
# freshly installed nginx on port 80, and nothing here should run but what deploy/up.sh starts itself.
# Used by .ci/run and deploy/up.sh:  deploy/install-packages.sh nginx openssl
set -euo pipefail
[ "$#" -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing system packages: $* (and not root on Debian to install them)" >&2
    exit 1
fi
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    # invoke-rc.d asks this script before starting a service; 101 means "not allowed".
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "== installing $*"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
