#!/bin/sh
# changeover-set-libc6 VERSION — puts every installed package built from glibc (libc6, libc-bin,
# and locales / libc-l10n when present) at exactly VERSION, downgrading if need be, and pins
# them there with priority 1001 so that later apt-get installs keep that version.
# Used by the postgres and redis Dockerfiles (each build context gets a copy of this file).
set -eu
version=${1:-}
apt-get update >/dev/null
if [ -z "$version" ]; then
  echo "LIBC6_VERSION build arg is required; libc6 versions in this image's apt index:" >&2
  apt-cache madison libc6 >&2
  exit 1
fi
if ! apt-cache madison libc6 | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$version"; then
  echo "libc6 $version is not in this image's apt index; it has:" >&2
  apt-cache madison libc6 >&2
  exit 1
fi
pkgs=$(dpkg-query -W -f '${db:Status-Abbrev} ${source:Package} ${Package}\n' \
       | awk '$1 == "ii" && $2 == "glibc" { print $3 }')
cat >/etc/apt/preferences.d/changeover-libc6 <<EOF
# Written by changeover-set-libc6: this image's glibc packages stay at $version.
Package: libc6 libc-bin libc-l10n locales locales-all libc6-dev libc-dev-bin
Pin: version $version
Pin-Priority: 1001
EOF
args=""
for p in $pkgs; do args="$args $p=$version"; done
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --allow-downgrades $args
rm -rf /var/lib/apt/lists/*
mkdir -p /etc/changeover
dpkg-query -W -f '${Version}\n' libc6 >/etc/changeover/libc6
installed=$(cat /etc/changeover/libc6)
if [ "$installed" != "$version" ]; then
  echo "libc6 is $installed after the install, not $version" >&2
  exit 1
fi
echo "glibc packages at $version:$args"
