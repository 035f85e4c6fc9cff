#!/usr/bin/env bash
# docker/build-images.sh — builds changeover's database images locally, without a registry.
#
# 1. Base: a Debian 12 (bookworm) minbase rootfs made with debootstrap from Debian's mirror,
#    `docker import`ed as changeover/debian:bookworm. The rootfs tarball is cached under
#    $CHANGEOVER_DOCKER_ROOT/cache, so a second run skips debootstrap; the import is skipped
#    when the image exists. With BASE=debian:bookworm (a machine that reaches a registry) no
#    rootfs is made at all.
# 2. The libc6 versions: OLD is the oldest libc6 in the base's apt index, PATCHED the newest
#    (the candidate). Override with OLD_LIBC6=… / PATCHED_LIBC6=….
# 3. Four images from docker/postgres/Dockerfile and docker/redis/Dockerfile:
#      changeover/postgres:15-libc<OLD> (= 15-old)   changeover/postgres:15-patched (= 15-libc<PATCHED>)
#      changeover/redis:7-libc<OLD>     (= 7-old)    changeover/redis:7-patched     (= 7-libc<PATCHED>)
#    (in tags, the '+' of a Debian version becomes '-': 2.36-9+deb12u7 -> 2.36-9-deb12u7).
#
# Uses DOCKER_HOST if set, else changeover's own engine (docker/engine.sh) if its socket exists,
# else docker's default socket. Timings go to stderr and to $CHANGEOVER_DOCKER_ROOT/build-times.txt.
#
# Environment: CHANGEOVER_DOCKER_ROOT [/var/lib/changeover-docker], BASE, OLD_LIBC6,
# PATCHED_LIBC6, MIRROR [http://deb.debian.org/debian], SECURITY_MIRROR
# [http://deb.debian.org/debian-security], REBUILD_BASE=1 (debootstrap and import again),
# ONLY="postgres redis" (which images).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${CHANGEOVER_DOCKER_ROOT:-/var/lib/changeover-docker}
SOCK=${CHANGEOVER_DOCKER_SOCK:-$ROOT/docker.sock}
CACHE=$ROOT/cache
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
LOCAL_BASE=changeover/debian:bookworm
BASE=${BASE:-$LOCAL_BASE}
ONLY=${ONLY:-postgres redis}
TIMES=$ROOT/build-times.txt

if [ -z "${DOCKER_HOST:-}" ] && [ -S "$SOCK" ]; then export DOCKER_HOST="unix://$SOCK"; fi
# The legacy builder: BuildKit needs the buildx plugin, which Debian 12 does not package.
# It supports `--network host` for RUN steps, which is what reaches the mirror here.
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}

say() { echo "build-images: $*" >&2; }
docker version >/dev/null 2>&1 || { say "no Docker engine answers (${DOCKER_HOST:-default socket}); run docker/engine.sh start"; exit 1; }
mkdir -p "$ROOT" "$CACHE"
echo "# build-images.sh $(date -u +%FT%TZ) on $(nproc) cores" >>"$TIMES"

timed() { # timed LABEL command… — runs it, records its wall time
  local label=$1; shift
  local t0=$SECONDS
  "$@"
  local dt=$((SECONDS - t0))
  say "$label: ${dt}s"
  echo "$label: ${dt}s" >>"$TIMES"
}

# --- 1. base image ------------------------------------------------------------------------
ROOTFS_TAR=$CACHE/debian-$SUITE-minbase.tar.gz

ROOTFS_DIR=""
# debootstrap mounts /proc and /sys inside the target: unmount whatever is left there before
# removing the tree, and never remove it while something is still mounted in it.
cleanup_rootfs() {
  [ -n "$ROOTFS_DIR" ] && [ -d "$ROOTFS_DIR" ] || return 0
  awk -v d="$ROOTFS_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" || true; done
  if awk -v d="$ROOTFS_DIR/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    say "mounts remain under $ROOTFS_DIR; not removing it"
  else
    rm -rf --one-file-system "$ROOTFS_DIR"
  fi
  ROOTFS_DIR=""
}
trap cleanup_rootfs EXIT

make_rootfs() {
  command -v debootstrap >/dev/null || { say "debootstrap is not installed: run make docker-deps"; exit 1; }
  local dir
  dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  ROOTFS_DIR=$dir
  debootstrap --variant=minbase --arch=amd64 "$SUITE" "$dir" "$MIRROR" >&2
  # Like Debian's official image: all three suites (the point release, its updates, and the
  # security archive — where an older libc6 can still be listed), small apt caches, no docs.
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$dir/etc/apt/apt.conf.d/docker-gzip-indexes"
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-excludes" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
EOF
  # The point release plus what bookworm-updates and bookworm-security have since: the base is
  # current Debian 12 (glibc stays at the newest version; only the images pin an older one).
  chroot "$dir" apt-get update >&2
  DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get -y upgrade >&2
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/log/*.log "$dir"/var/log/apt/*
  : >"$dir/etc/hostname"
  : >"$dir/etc/resolv.conf"
  tar --numeric-owner --xattrs -C "$dir" -czf "$ROOTFS_TAR.part" .
  mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  cleanup_rootfs
}

import_base() {
  docker image rm -f "$LOCAL_BASE" >/dev/null 2>&1 || true
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --change "LABEL org.changeover.rootfs=debootstrap-$SUITE-minbase" \
    "$ROOTFS_TAR" "$LOCAL_BASE" >/dev/null
}

if [ "$BASE" = "$LOCAL_BASE" ]; then
  if [ "${REBUILD_BASE:-0}" = 1 ]; then rm -f "$ROOTFS_TAR"; docker image rm -f "$LOCAL_BASE" >/dev/null 2>&1 || true; fi
  if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    say "$LOCAL_BASE exists"
  else
    if [ -s "$ROOTFS_TAR" ]; then say "reusing $ROOTFS_TAR"; else timed "rootfs (debootstrap $SUITE minbase)" make_rootfs; fi
    timed "docker import $LOCAL_BASE" import_base
  fi
fi

# --- 2. libc6 versions ----------------------------------------------------------------------
if [ -z "${OLD_LIBC6:-}" ] || [ -z "${PATCHED_LIBC6:-}" ]; then
  versions=$(docker run --rm --network host "$BASE" sh -c \
    'apt-get update >/dev/null && apt-cache madison libc6 | cut -d"|" -f2 | tr -d " "')
  OLD_LIBC6=${OLD_LIBC6:-$(echo "$versions" | sort -V | head -n1)}
  PATCHED_LIBC6=${PATCHED_LIBC6:-$(echo "$versions" | sort -V | tail -n1)}
  say "libc6 versions in $BASE's index: $(echo $versions)"
fi
if [ "$OLD_LIBC6" = "$PATCHED_LIBC6" ]; then
  say "only one libc6 version ($OLD_LIBC6) is installable: set OLD_LIBC6 to an older one from a mirror the base uses"
  exit 1
fi
say "old libc6 $OLD_LIBC6, patched libc6 $PATCHED_LIBC6"
tagver() { echo "$1" | tr '+~:' '---'; }

# --- 3. images ------------------------------------------------------------------------------
build() { # build NAME MAJOR VARIANT LIBC6 TAG…
  local name=$1 major=$2 variant=$3 libc=$4; shift 4
  local tags=()
  for t in "$@"; do tags+=(-t "changeover/$name:$t"); done
  docker build --network host -f "$HERE/$name/Dockerfile" \
    --build-arg "BASE=$BASE" --build-arg "LIBC6_VERSION=$libc" --build-arg "VARIANT=$variant" \
    "${tags[@]}" "$HERE" >&2
}

for name in $ONLY; do
  case "$name" in
    postgres) major=15 ;;
    redis) major=7 ;;
    *) say "unknown image $name"; exit 2 ;;
  esac
  timed "$name old (libc6 $OLD_LIBC6)" build "$name" "$major" old "$OLD_LIBC6" \
    "$major-old" "$major-libc$(tagver "$OLD_LIBC6")"
  timed "$name patched (libc6 $PATCHED_LIBC6)" build "$name" "$major" patched "$PATCHED_LIBC6" \
    "$major-patched" "$major-libc$(tagver "$PATCHED_LIBC6")"
done

docker images --filter 'reference=changeover/*' >&2
# For scripts: the tags, one per line.
for name in $ONLY; do
  case "$name" in postgres) major=15 ;; redis) major=7 ;; esac
  echo "changeover/$name:$major-libc$(tagver "$OLD_LIBC6")"
  echo "changeover/$name:$major-patched"
done
