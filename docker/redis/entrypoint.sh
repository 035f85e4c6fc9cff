#!/bin/sh
# changeover-entrypoint for the Redis 7 image.
#
# Started as root, this makes REDIS_DATA the redis user's and re-executes itself as redis with
# setpriv (which execs: redis-server is the container's main process and gets `docker stop`'s
# SIGTERM, on which it shuts down cleanly).
#
#   -… (options)          redis-server --dir $REDIS_DATA <options>, e.g.
#                         --port 16379 --bind 127.0.0.1 --requirepass … --replicaof 127.0.0.1 16380
#   redis-server [args…]  redis-server --dir $REDIS_DATA [args…]
#   anything else         run as the redis user (redis-cli, sh…)
#
# Environment: REDIS_DATA [/data] the working directory for dump.rdb / appendonly (a volume).
set -eu

REDIS_DATA=${REDIS_DATA:-/data}
export REDIS_DATA

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$REDIS_DATA"
  [ "$(stat -c %U "$REDIS_DATA")" = redis ] || chown -R redis:redis "$REDIS_DATA"
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

case "${1:-}" in
  -*|"") exec redis-server --dir "$REDIS_DATA" "$@" ;;
  redis-server) shift; exec redis-server --dir "$REDIS_DATA" "$@" ;;
  *) exec "$@" ;;
esac
