#!/usr/bin/env bash
# docker/engine.sh start|stop|status — a Docker engine of changeover's own, started by hand.
#
# There is no init system here, so nothing starts dockerd for us; and other runs share the
# machine, so this engine keeps everything (data, exec state, socket, pidfile, log) under its own
# root and never touches /var/run/docker.sock or another engine's processes.
#
# It installs nothing: `make docker-deps` installs docker.io and debootstrap.
#
#   eval "$(docker/engine.sh start)"   # starts it if nothing answers; prints export DOCKER_HOST=…
#   docker/engine.sh status            # exit 0 when it answers, 3 when not
#   docker/engine.sh stop              # stops only the dockerd whose pid is in our pidfile
#   docker/engine.sh clean             # stop, then remove the whole root (images, volumes, cache)
#
# Overridable by environment (defaults in brackets):
#   CHANGEOVER_DOCKER_ROOT       [/var/lib/changeover-docker]
#   CHANGEOVER_DOCKER_DATA_ROOT  [$ROOT/data]      images, containers, volumes
#   CHANGEOVER_DOCKER_EXEC_ROOT  [$ROOT/exec]      runtime state, managed containerd's socket
#   CHANGEOVER_DOCKER_SOCK       [$ROOT/docker.sock]
#   CHANGEOVER_DOCKER_PIDFILE    [$ROOT/dockerd.pid]
#   CHANGEOVER_DOCKER_LOG        [$ROOT/dockerd.log]
#   CHANGEOVER_DOCKER_WAIT       [60]  seconds `start` waits for the API to answer
set -euo pipefail

ROOT=${CHANGEOVER_DOCKER_ROOT:-/var/lib/changeover-docker}
DATA_ROOT=${CHANGEOVER_DOCKER_DATA_ROOT:-$ROOT/data}
EXEC_ROOT=${CHANGEOVER_DOCKER_EXEC_ROOT:-$ROOT/exec}
SOCK=${CHANGEOVER_DOCKER_SOCK:-$ROOT/docker.sock}
PIDFILE=${CHANGEOVER_DOCKER_PIDFILE:-$ROOT/dockerd.pid}
LOG=${CHANGEOVER_DOCKER_LOG:-$ROOT/dockerd.log}
WAIT=${CHANGEOVER_DOCKER_WAIT:-60}
HOST="unix://$SOCK"

say() { echo "engine: $*" >&2; }

answers() { docker -H "$HOST" version >/dev/null 2>&1; }

# The pid in our pidfile, only if that process is a dockerd started with our pidfile:
# a stale pidfile whose pid was reused by something else must never be signalled.
our_pid() {
  [ -s "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--pidfile $PIDFILE" || return 1
  echo "$pid"
}

start() {
  if answers; then
    say "an engine already answers on $SOCK"
    echo "export DOCKER_HOST=$HOST"
    return 0
  fi
  command -v dockerd >/dev/null || { say "dockerd is not installed: run make docker-deps"; exit 1; }
  if pid=$(our_pid); then
    say "dockerd $pid is running but does not answer yet; waiting"
  else
    mkdir -p "$ROOT" "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$SOCK")" "$(dirname "$PIDFILE")"
    rm -f "$PIDFILE"
    # --bridge=none / --iptables=false: no docker0 bridge and no NAT rules on a shared machine
    #   (containers use --network host; see docker/README.md).
    # --ip-forward/--ip-masq=false: leave the host's sysctls alone.
    # --containerd-namespace: distinct names in case a system containerd is found and shared.
    setsid dockerd \
      --data-root "$DATA_ROOT" \
      --exec-root "$EXEC_ROOT" \
      --pidfile "$PIDFILE" \
      -H "$HOST" \
      --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
      --containerd-namespace changeover \
      --containerd-plugins-namespace changeover-plugins \
      </dev/null >>"$LOG" 2>&1 &
    pid=$!
    say "started dockerd $pid (log $LOG)"
  fi
  local deadline=$((SECONDS + WAIT))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "dockerd exited; last lines of $LOG:"
      tail -n 20 "$LOG" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      say "dockerd $pid did not answer on $SOCK within ${WAIT}s; see $LOG"
      exit 1
    fi
    sleep 0.2
  done
  say "engine answers on $SOCK ($(docker -H "$HOST" version --format '{{.Server.Version}} API {{.Server.APIVersion}}'))"
  echo "export DOCKER_HOST=$HOST"
}

stop() {
  local pid
  if ! pid=$(our_pid); then
    say "no dockerd of ours is running (pidfile $PIDFILE)"
    release_netns
    return 0
  fi
  say "stopping dockerd $pid"
  kill -TERM "$pid"
  # dockerd stops its containers (up to 15 s each by default) and its managed containerd.
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "dockerd $pid still running after 60 s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  say "stopped"
  release_netns
}

# dockerd leaves its bind mount of the host's network namespace (exec-root/netns/default)
# behind when it exits. With no engine of ours left, that mount is stale: unmount it.
release_netns() {
  our_pid >/dev/null && return 0
  answers && return 0
  awk -v d="${EXEC_ROOT%/}/netns/" 'index($2, d) == 1 && $3 == "nsfs" { print $2 }' /proc/mounts |
    while read -r m; do umount "$m" || say "could not unmount $m"; done
}

status() {
  local pid=""
  pid=$(our_pid) || pid=""
  if answers; then
    echo "running: DOCKER_HOST=$HOST ${pid:+(dockerd $pid) }$(docker -H "$HOST" version --format 'server {{.Server.Version}} API {{.Server.APIVersion}}')"
    return 0
  fi
  if [ -n "$pid" ]; then
    echo "starting or stuck: dockerd $pid does not answer on $SOCK"
  else
    echo "stopped: nothing answers on $SOCK"
  fi
  return 3
}

clean() {
  stop
  if answers; then
    say "an engine that is not ours (no pid in $PIDFILE) answers on $SOCK; not removing $ROOT"
    exit 1
  fi
  for d in "$ROOT" "$DATA_ROOT" "$EXEC_ROOT"; do
    case "$d" in /|"") say "refusing to remove '$d'"; exit 1 ;; esac
    # dockerd unmounts its layers when it stops; never rm -rf through a mount that is left.
    if awk -v d="${d%/}/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
      say "mounts remain under $d; not removing it:"
      awk -v d="${d%/}/" 'index($2, d) == 1 { print "  " $2 }' /proc/mounts >&2
      exit 1
    fi
  done
  for d in "$ROOT" "$DATA_ROOT" "$EXEC_ROOT"; do
    [ -e "$d" ] || continue
    say "removing $d"
    rm -rf --one-file-system "$d"
  done
  rm -f "$SOCK" "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  clean) clean ;;
  *) echo "usage: $0 start|stop|status|clean" >&2; exit 2 ;;
esac
