#!/usr/bin/env bash
# docker/smoke.sh — checks the four images the way the provisioner will use them, on free
# loopback ports with host networking, and removes every container and volume it made.
#
#   1. a Postgres primary from the old image and one from the patched image: SELECT version(),
#      and ldd --version / libc.so.6 inside each show the two libc6 versions;
#   2. a streaming standby (patched image) made with pg_basebackup from the old primary over
#      127.0.0.1, in its own container and volume; a row written on the primary reaches it;
#   3. a Redis server of each image answers PING; the patched one replicates from the old one.
#
# Needs psql and redis-cli on the host (make deps installs them) and the images (make docker-images).
# Uses DOCKER_HOST if set, else changeover's own engine socket.
set -euo pipefail

ROOT=${CHANGEOVER_DOCKER_ROOT:-/var/lib/changeover-docker}
SOCK=${CHANGEOVER_DOCKER_SOCK:-$ROOT/docker.sock}
if [ -z "${DOCKER_HOST:-}" ] && [ -S "$SOCK" ]; then export DOCKER_HOST="unix://$SOCK"; fi
PG_OLD=${PG_OLD:-changeover/postgres:15-old}
PG_NEW=${PG_NEW:-changeover/postgres:15-patched}
REDIS_OLD=${REDIS_OLD:-changeover/redis:7-old}
REDIS_NEW=${REDIS_NEW:-changeover/redis:7-patched}
PW=smoke-$$
TAG=chg-smoke-$$
made=()

say() { echo "smoke: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
cleanup() {
  for c in "${made[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; docker volume rm -f "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# Free ports below the ephemeral range (other runs share this machine's loopback).
used=" "
port() {
  local p
  while :; do
    p=$(shuf -i 20000-29999 -n 1)
    case "$used" in *" $p "*) continue ;; esac
    ss -ltnH "sport = :$p" | grep -q . && continue
    used="$used$p "
    echo "$p"
    return
  done
}
run() { # run NAME IMAGE ENV… -- ARGS…   (host network, a named volume called NAME)
  local name=$1 image=$2; shift 2
  local envs=()
  while [ "$1" != -- ]; do envs+=(-e "$1"); shift; done
  shift
  local target=/var/lib/postgresql/data
  case "$image" in *redis*) target=/data ;; esac
  made+=("$name")
  docker volume create "$name" >/dev/null
  docker run -d --name "$name" --network host -v "$name:$target" "${envs[@]}" "$image" "$@" >/dev/null
}
pg() { PGPASSWORD=$PW psql "host=127.0.0.1 port=$1 user=postgres dbname=postgres connect_timeout=2" -Atqc "$2"; }
wait_pg() {
  local deadline=$((SECONDS + 90))
  until pg "$1" 'select 1' >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { say "postgres on $1 did not answer"; docker logs "$2" 2>&1 | tail -20; exit 1; }
    sleep 0.1
  done
}
libc_in() { docker exec "$1" sh -c 'ldd --version | sed -n 1p; /lib/x86_64-linux-gnu/libc.so.6 | sed -n 1p'; }
ldd_in() { docker exec "$1" sh -c 'ldd --version | sed -n 1p'; }

say "engine ${DOCKER_HOST:-default}: $(docker version --format 'server {{.Server.Version}} API {{.Server.APIVersion}}')"

# --- Postgres ---------------------------------------------------------------------------------
P_OLD=$(port); P_NEW=$(port); P_STBY=$(port)
for v in old new; do
  if [ $v = old ]; then img=$PG_OLD; p=$P_OLD; else img=$PG_NEW; p=$P_NEW; fi
  t=$(now)
  run "$TAG-pg-$v" "$img" POSTGRES_PASSWORD=$PW -- primary -p "$p" -c listen_addresses=127.0.0.1
  wait_pg "$p" "$TAG-pg-$v"
  say "postgres $v ($img, port $p): initdb + start + first query in $(since "$t") s"
  say "  $(pg "$p" 'select version()')"
  libc_in "$TAG-pg-$v" | sed 's/^/  /'
  say "  image label org.changeover.libc6=$(docker image inspect -f '{{index .Config.Labels "org.changeover.libc6"}}' "$img")"
done
old_libc=$(docker exec "$TAG-pg-old" dpkg-query -W -f '${Version}' libc6)
new_libc=$(docker exec "$TAG-pg-new" dpkg-query -W -f '${Version}' libc6)
[ "$old_libc" != "$new_libc" ] || { say "both images have libc6 $old_libc"; exit 1; }
say "libc6: old $old_libc, patched $new_libc"

pg "$P_OLD" "create role replicator replication login password '$PW'; create table smoke(x int); insert into smoke values (1)"
t=$(now)
run "$TAG-pg-standby" "$PG_NEW" "PRIMARY_CONNINFO=host=127.0.0.1 port=$P_OLD user=replicator" PGPASSWORD=$PW -- \
  standby -p "$P_STBY" -c listen_addresses=127.0.0.1
wait_pg "$P_STBY" "$TAG-pg-standby"
say "standby (patched image, port $P_STBY): pg_basebackup from 127.0.0.1:$P_OLD + start in $(since "$t") s"
[ "$(pg "$P_STBY" 'select pg_is_in_recovery()')" = t ] || { say "standby is not in recovery"; exit 1; }
pg "$P_OLD" "insert into smoke values (2)"
deadline=$((SECONDS + 30))
until [ "$(pg "$P_STBY" 'select count(*) from smoke')" = 2 ]; do
  [ $SECONDS -lt $deadline ] || { say "the row did not reach the standby"; exit 1; }
  sleep 0.1
done
say "  streaming: $(pg "$P_OLD" "select client_addr || ' ' || state from pg_stat_replication")," \
    "receiver $(pg "$P_STBY" "select status || ' from ' || sender_host || ':' || sender_port from pg_stat_wal_receiver")"
ldd_in "$TAG-pg-standby" | sed 's/^/  /'
t=$(now)
docker stop -t 30 "$TAG-pg-standby" >/dev/null
say "  docker stop (SIGINT, fast shutdown): $(since "$t") s, exit code $(docker inspect -f '{{.State.ExitCode}}' "$TAG-pg-standby")"

# --- Redis ------------------------------------------------------------------------------------
R_OLD=$(port); R_NEW=$(port)
t=$(now)
run "$TAG-redis-old" "$REDIS_OLD" -- --port "$R_OLD" --bind 127.0.0.1 --requirepass "$PW" --repl-diskless-sync-delay 0
run "$TAG-redis-new" "$REDIS_NEW" -- --port "$R_NEW" --bind 127.0.0.1 --requirepass "$PW" --masterauth "$PW" \
  --replicaof 127.0.0.1 "$R_OLD"
for p in "$R_OLD" "$R_NEW"; do
  deadline=$((SECONDS + 30))
  until [ "$(redis-cli -p "$p" --no-auth-warning -a "$PW" ping 2>/dev/null)" = PONG ]; do
    [ $SECONDS -lt $deadline ] || { say "redis on $p did not answer"; exit 1; }
    sleep 0.1
  done
done
say "redis old (port $R_OLD) and patched (port $R_NEW) answer PONG after $(since "$t") s"
redis-cli -p "$R_OLD" --no-auth-warning -a "$PW" set smoke 1 >/dev/null
deadline=$((SECONDS + 30))
until [ "$(redis-cli -p "$R_NEW" --no-auth-warning -a "$PW" get smoke)" = 1 ]; do
  [ $SECONDS -lt $deadline ] || { say "the key did not reach the replica"; exit 1; }
  sleep 0.1
done
say "  replica: $(redis-cli -p "$R_NEW" --no-auth-warning -a "$PW" info replication | tr -d '\r' | grep -E '^(role|master_link_status)' | tr '\n' ' ')"
for v in old new; do ldd_in "$TAG-redis-$v" | sed "s/^/  redis $v: /"; done

echo "smoke: 1 passed, 0 failed"
