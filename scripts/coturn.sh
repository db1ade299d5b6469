#!/usr/bin/env bash
# Throwaway private coturn (TURN/STUN) for Parley's call tests.
#
#   scripts/coturn.sh start   -> prints ONE line on stdout: 127.0.0.1:<port>,secret=<static-auth-secret>
#   scripts/coturn.sh stop    -> stops the server and deletes its directory (exit 0 if none)
#   scripts/coturn.sh pid     -> prints the server's pid
#
# Environment:
#   PARLEY_COTURN_DIR      private directory for the config, pid file, user db and log (default /tmp/parley-coturn)
#   PARLEY_COTURN_PORT     preferred UDP/TCP port on 127.0.0.1 (default 53478; next free one if busy)
#   PARLEY_COTURN_TIMEOUT  seconds to wait for startup/shutdown (default 20)
#
# Debian's coturn (turnserver), never the system service: it listens and relays only on 127.0.0.1, allows loopback
# peers (the tests' browsers are on this machine), takes coturn's REST-API credentials only (use-auth-secret with a
# static-auth-secret that is new on every start; Parley's Calls:TurnSecret), no CLI, no TLS/DTLS listeners.
set -euo pipefail
exec 3>&1 1>&2

DIR="$(realpath -m -- "${PARLEY_COTURN_DIR:-/tmp/parley-coturn}")"
PORT="${PARLEY_COTURN_PORT:-53478}"
TIMEOUT="${PARLEY_COTURN_TIMEOUT:-20}"
MARKER="$DIR/.parley-coturn"
PIDFILE="$DIR/turnserver.pid"
LOGFILE="$DIR/turnserver.log"

log() { echo "coturn.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

check_dir_is_ours() {
  [[ "$DIR" != "/" ]] || die "refusing to use / as PARLEY_COTURN_DIR"
  if [[ -e "$DIR" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
    die "$DIR exists, is not empty and was not created by this script; refusing to touch it"
  fi
}

# True if $1 is a turnserver started with our config file.
is_ours() {
  local pid="$1"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  grep -q turnserver "/proc/$pid/cmdline" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/turnserver.conf"
}

# A UDP port is taken when ss lists it (TURN listens on both UDP and TCP).
port_busy() { ss -Hlnu "sport = :$1" 2>/dev/null | grep -q . || ss -Hlnt "sport = :$1" 2>/dev/null | grep -q .; }

stop_server() {
  [[ -f "$PIDFILE" ]] || return 0
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((TIMEOUT * 10))); do
      is_ours "$pid" || break
      sleep 0.1
    done
    if is_ours "$pid"; then
      log "turnserver $pid did not stop in ${TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start)
    command -v turnserver >/dev/null 2>&1 || die "turnserver is not installed (apt-get install coturn; scripts/deps.sh)"
    check_dir_is_ours
    stop_server
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    touch "$MARKER"
    secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    while port_busy "$PORT"; do PORT=$((PORT + 1)); done
    cat >"$DIR/turnserver.conf" <<CONF
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=$PORT
min-port=49152
max-port=65535
realm=parley.test
use-auth-secret
static-auth-secret=$secret
allow-loopback-peers
no-cli
no-tls
no-dtls
no-multicast-peers
fingerprint
pidfile=$PIDFILE
userdb=$DIR/turndb
log-file=$LOGFILE
simple-log
CONF
    chmod 600 "$DIR/turnserver.conf"
    : >"$LOGFILE"
    (cd "$DIR" && turnserver -c "$DIR/turnserver.conf" -o </dev/null >/dev/null 2>&1 3>&-) || die "turnserver did not start; see $LOGFILE"
    for _ in $(seq 1 $((TIMEOUT * 10))); do
      if [[ -s "$PIDFILE" ]] && ss -Hlnu "sport = :$PORT" 2>/dev/null | grep -q .; then
        log "coturn on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
        echo "127.0.0.1:$PORT,secret=$secret" >&3
        exit 0
      fi
      sleep 0.1
    done
    tail -n 20 "$LOGFILE" >&2 || true
    die "coturn did not listen within ${TIMEOUT}s"
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
    echo "usage: scripts/coturn.sh start|stop|pid" >&2
    exit 2
    ;;
esac
