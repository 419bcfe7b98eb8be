#!/usr/bin/env bash
# Installs what the tests and the demo start, on Debian 12 or Ubuntu, as root: GnuPG, pass,
# Debian's docker-credential-pass (served by the tests' local release mirror), dockerd and the
# CNCF distribution registry; then the npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  gnupg gpg-agent pass util-linux tree \
  docker.io docker-registry golang-docker-credential-helpers \
  apache2-utils openssl xz-utils ca-certificates >/dev/null

npm ci --no-audit --no-fund
