#!/usr/bin/env bash
# Installs what the tests and the demo start, as root on Debian 12 or Ubuntu 22.04 and newer.
# Those are GnuPG, pass, Debian's docker-credential-pass (served by the tests' local release
# mirror), dockerd (unless one is installed already) and the CNCF distribution registry. Then it
# installs the npm packages and fetches pass's upstream release tarball from the distribution's
# source archive (the byte-identical password-store_1.7.4.orig.tar.xz). The tests serve that
# tarball to the action on runners without pass.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gnupg gpg-agent pass util-linux tree docker-registry golang-docker-credential-helpers
  apache2-utils openssl xz-utils ca-certificates dpkg-dev
)
# GitHub's images ship Docker's own packages, which conflict with the distribution's docker.io.
command -v dockerd >/dev/null || packages+=(docker.io)

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

npm ci --no-audit --no-fund

tarball=__tests__/.downloads/password-store-1.7.4.tar.xz
sha256=cfa9faf659f2ed6b38e7a7c3fb43e177d00edbacc6265e6e32215ff40e3793c0
if ! echo "$sha256  $tarball" | sha256sum --check --status 2>/dev/null; then
  mkdir -p "$(dirname "$tarball")"
  # A deb-src twin of the distribution's own deb822 source list (debian.sources on Debian 12,
  # ubuntu.sources on Ubuntu 24.04).
  for list in /etc/apt/sources.list.d/{debian,ubuntu}.sources; do
    [ -f "$list" ] && break
  done
  sources=/etc/apt/sources.list.d/docker-pass-login-src.sources
  sed 's/^Types: deb$/Types: deb-src/' "$list" >"$sources"
  apt-get update -qq
  download=$(mktemp -d)
  # The Debian packaging files of the source package can be missing from a mirror. Only the
  # upstream tarball is needed, so a partial download is fine here.
  (cd "$download" && apt-get source --download-only pass >/dev/null 2>&1) || true
  rm -f "$sources"
  mv "$download/password-store_1.7.4.orig.tar.xz" "$tarball"
  rm -rf "$download"
  echo "$sha256  $tarball" | sha256sum --check --status
fi
