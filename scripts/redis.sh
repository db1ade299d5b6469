#!/usr/bin/env bash
# Throwaway private Redis for Parley's cluster tests (the bus of cluster mode).
#
#   scripts/redis.sh start   -> prints ONE line on stdout: a StackExchange.Redis configuration string
#   scripts/redis.sh stop    -> stops the server and deletes its directory (exit 0 if none)
#
# Environment:
#   PARLEY_REDIS_DIR      private directory for the config, pid file and log (default /tmp/parley-redis)
#   PARLEY_REDIS_PORT     preferred TCP port on 127.0.0.1 (default 56379; next free one if busy)
#   PARLEY_REDIS_TIMEOUT  seconds to wait for startup/shutdown (default 20)
#
# Debian's redis-server, never the system service: it listens only on 127.0.0.1, keeps nothing on disk
# (no RDB, no AOF), and needs a password that is new on every start.
set -euo pipefail
exec 3>&1 1>&2

DIR="$(realpath -m -- "${PARLEY_REDIS_DIR:-/tmp/parley-redis}")"
PORT="${PARLEY_REDIS_PORT:-56379}"
TIMEOUT="${PARLEY_REDIS_TIMEOUT:-20}"
MARKER="$DIR/.parley-redis"
PIDFILE="$DIR/redis.pid"

log() { echo "redis.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

check_dir_is_ours() {
  [[ "$DIR" != "/" ]] || die "refusing to use / as PARLEY_REDIS_DIR"
  if [[ -e "$DIR" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
    die "$DIR exists, is not empty and was not created by this script; refusing to touch it"
  fi
}

# True if $1 is a redis-server started with our config file.
is_ours() {
  local pid="$1"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" == "$DIR" ]] && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null
}

port_busy() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_server() {
  [[ -f "$PIDFILE" ]] || return 0
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true # a test may have frozen it with SIGSTOP
    for _ in $(seq 1 $((TIMEOUT * 10))); do
      is_ours "$pid" || break
      sleep 0.1
    done
    if is_ours "$pid"; then
      log "redis-server $pid did not stop in ${TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start)
    command -v redis-server >/dev/null 2>&1 || die "redis-server is not installed (scripts/deps.sh installs it)"
    check_dir_is_ours
    stop_server
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    touch "$MARKER"
    password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    # A port nobody listens on can still be taken: as the local port of an outgoing connection (the preferred
    # ports are in Linux's ephemeral range). Redis then fails to bind and exits; the next port is tried.
    for _attempt in $(seq 1 20); do
      while port_busy "$PORT"; do PORT=$((PORT + 1)); done
      cat >"$DIR/redis.conf" <<CONF
bind 127.0.0.1
protected-mode yes
port $PORT
daemonize yes
pidfile $PIDFILE
dir $DIR
logfile $DIR/redis.log
save ""
appendonly no
requirepass $password
maxclients 10000
CONF
      chmod 600 "$DIR/redis.conf"
      : >"$DIR/redis.log"
      (cd "$DIR" && redis-server "$DIR/redis.conf" </dev/null >/dev/null 2>&1 3>&-) || die "redis-server did not start; see $DIR/redis.log"
      for _ in $(seq 1 $((TIMEOUT * 10))); do
        if REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; then
          log "Redis on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
          echo "127.0.0.1:$PORT,password=$password" >&3
          exit 0
        fi
        if grep -q "Address already in use" "$DIR/redis.log" 2>/dev/null; then
          break
        fi
        sleep 0.1
      done
      grep -q "Address already in use" "$DIR/redis.log" 2>/dev/null || break
      log "port $PORT is taken (bind failed); trying the next one"
      PORT=$((PORT + 1))
    done
    tail -n 20 "$DIR/redis.log" >&2 || true
    die "Redis did not answer within ${TIMEOUT}s"
    ;;
  stop)
    [[ -e "$DIR" ]] || exit 0
    check_dir_is_ours
    stop_server
    rm -rf "$DIR"
    ;;
  pid)
    cat "$PIDFILE" >&3
    ;;
  *)
    echo "usage: scripts/redis.sh start|stop|pid" >&2
    exit 2
    ;;
esac
