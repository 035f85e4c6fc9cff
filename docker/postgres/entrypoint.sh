#!/bin/sh
# changeover-entrypoint for the PostgreSQL 15 image.
#
# PostgreSQL refuses to run as root: started as root, this makes PGDATA and the socket directory
# the postgres user's and re-executes itself as postgres with setpriv (which execs, so the
# server is the container's main process and gets `docker stop`'s SIGINT: a fast shutdown).
#
#   primary [postgres args…]   initdb into PGDATA if it has no cluster, then run postgres on it
#   standby [postgres args…]   pg_basebackup -R from $PRIMARY_CONNINFO into PGDATA if it has no
#                              cluster, then run postgres on it (a streaming standby)
#   -…                         same as `primary -…`
#   anything else              run as the postgres user (postgres, initdb, pg_basebackup, psql,
#                              pg_ctl, pg_rewind… are on PATH from /usr/lib/postgresql/15/bin)
#
# Environment:
#   PGDATA                 [/var/lib/postgresql/data]  the data directory (a volume)
#   POSTGRES_PASSWORD      superuser password for initdb; with it TCP logins use scram-sha-256,
#                          without it they are trusted (loopback test setups only)
#   POSTGRES_INITDB_ARGS   extra initdb arguments
#   PRIMARY_CONNINFO       for `standby`: libpq conninfo of the primary, e.g.
#                          "host=127.0.0.1 port=15432 user=replicator"; PGPASSWORD goes with it
#   PRIMARY_SLOT_NAME      for `standby`: the physical replication slot the base backup streams
#                          WAL through and the standby then replicates from (primary_slot_name);
#                          changeover's docker provisioner reserves it before starting the standby
set -eu

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  # Only what is not already the postgres user's: a large restored volume is not walked again.
  [ "$(stat -c %U "$PGDATA")" = postgres ] || chown -R postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  chown postgres:postgres /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

has_cluster() { [ -s "$PGDATA/PG_VERSION" ]; }

case "${1:-primary}" in
  -*) set -- primary "$@" ;;
esac

case "${1:-primary}" in
  primary)
    [ $# -gt 0 ] && shift
    if ! has_cluster; then
      method=trust
      pwopt=""
      if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        method=scram-sha-256
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        pwopt="--pwfile=$pwfile"
      fi
      # shellcheck disable=SC2086
      initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host="$method" \
        $pwopt ${POSTGRES_INITDB_ARGS:-}
      [ -n "$pwopt" ] && rm -f "$pwfile"
      # Loopback only, replication included (followers on the host network connect over it).
      cat >"$PGDATA/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 $method
host all all ::1/128 $method
host replication all 127.0.0.1/32 $method
host replication all ::1/128 $method
EOF
    fi
    exec postgres -D "$PGDATA" "$@"
    ;;
  standby)
    shift
    if ! has_cluster; then
      : "${PRIMARY_CONNINFO:?standby needs PRIMARY_CONNINFO (e.g. host=127.0.0.1 port=15432 user=replicator)}"
      # shellcheck disable=SC2086
      pg_basebackup -d "$PRIMARY_CONNINFO" -D "$PGDATA" -R -X stream -c fast -w \
        ${PRIMARY_SLOT_NAME:+--slot=$PRIMARY_SLOT_NAME}
      chmod 700 "$PGDATA"
    fi
    exec postgres -D "$PGDATA" "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
