#!/usr/bin/env bash
# Install nginx from Debian for bench/crawl.py, which serves its generated news site with it
# (a stdlib Python server is slower than the crawler it should feed). Idempotent; needs root or sudo.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The bench starts its own nginx on a loopback port with its own configuration; the package's
# service is not needed (in containers policy-rc.d keeps it from starting anyway).
$sudo apt-get install -y -qq --no-install-recommends nginx >/dev/null
