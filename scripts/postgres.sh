#!/usr/bin/env bash
# Throwaway private PostgreSQL cluster for Parley's tests.
#
#   scripts/postgres.sh start   -> prints ONE line on stdout: an Npgsql connection string
#   scripts/postgres.sh stop    -> stops the cluster and deletes its directory (exit 0 if none)
#   scripts/postgres.sh restart-stop [fast|immediate]
#                                      -> stops the server (fast shutdown, or immediate: as if it crashed) but keeps
#                                         its data and port,
#   scripts/postgres.sh restart-start  -> starts it again on them and prints the connection string again
#                                         (for tests of a database restart under a running Parley)
#
# Environment:
#   PARLEY_PG_DIR      private directory for data, socket and log (default /tmp/parley-pg)
#   PARLEY_PG_PORT     preferred TCP port on 127.0.0.1 (default 55432; next free one if busy)
#   PARLEY_PG_TIMEOUT  seconds to wait for startup/shutdown (default 30)
#
# The cluster never touches the system's default cluster (no pg_ctlcluster, no systemd):
# it is initdb'd from scratch in PARLEY_PG_DIR, listens only on 127.0.0.1, and its unix
# socket lives in that (0700) directory. Auth: scram-sha-256 password over TCP for the
# superuser role `parley` (random password per start); trust on the private unix socket,
# which only the postgres OS user (and root) can reach.
set -euo pipefail

# stdout is reserved for the connection string; everything else goes to stderr.
exec 3>&1 1>&2

PG_DIR="$(realpath -m -- "${PARLEY_PG_DIR:-/tmp/parley-pg}")"
PG_PORT="${PARLEY_PG_PORT:-55432}"
TIMEOUT="${PARLEY_PG_TIMEOUT:-30}"
DATA="$PG_DIR/data"
SOCK="$PG_DIR/socket"
LOG="$PG_DIR/postgres.log"
MARKER="$PG_DIR/.parley-pg"   # proves the directory is ours before we rm -rf it
PG_USER=postgres              # OS user that owns/runs the cluster when we are root

log() { echo "postgres.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Newest installed server version's bin dir, or empty.
find_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -n "$d" && -x "$d/postgres" ]]; then echo "$d"; fi
}

# PostgreSQL refuses to run as root, so server-side commands run as the postgres user.
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_installed() {
    if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then return 0; fi
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL server binaries not found and not root to install them"
    log "PostgreSQL server not installed; installing via apt (this can take a minute)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || die "apt-get install postgresql did not provide /usr/lib/postgresql/*/bin/postgres"
}

# Refuse to delete anything that we did not create (guards against PARLEY_PG_DIR=/ etc.).
check_dir_is_ours() {
    [[ "$PG_DIR" != "/" ]] || die "refusing to use / as PARLEY_PG_DIR"
    if [[ -e "$PG_DIR" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$PG_DIR" 2>/dev/null)" ]]; then
        die "$PG_DIR exists, is not empty and was not created by this script; refusing to touch it"
    fi
}

# True if $1 is the postmaster of OUR data dir (postgres chdirs into its data dir), so a
# stale pid file can never make us signal an unrelated process.
is_our_postmaster() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" == "$(realpath -m "$DATA")" ]]
}

stop_cluster() {
    local mode="${1:-fast}" pidfile="$DATA/postmaster.pid" pid bin
    [[ -f "$pidfile" ]] || return 0
    pid="$(head -n1 "$pidfile" 2>/dev/null || true)"
    if ! is_our_postmaster "$pid"; then
        log "stale pid file in $DATA (pid '$pid' is not our postmaster); nothing to stop"
        return 0
    fi
    bin="$(find_bin)"
    [[ -n "$bin" ]] || die "postmaster $pid is running but pg_ctl was not found"
    log "stopping private cluster (pid $pid, $mode shutdown)..."
    if ! as_pg "$bin/pg_ctl" -D "$DATA" -m "$mode" -w -t "$TIMEOUT" stop >&2; then
        log "fast shutdown failed; trying immediate shutdown"
        as_pg "$bin/pg_ctl" -D "$DATA" -m immediate -w -t "$TIMEOUT" stop >&2 \
            || die "could not stop postmaster $pid"
    fi
}

remove_dir() {
    [[ -e "$PG_DIR" ]] || return 0
    check_dir_is_ours
    rm -rf -- "$PG_DIR"
}

port_busy() {
    local p="$1"
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]]
    else
        (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
    fi
}

cmd_start() {
    ensure_installed
    local bin; bin="$(find_bin)"
    [[ -n "$bin" ]] || die "no PostgreSQL server binaries found"

    # Reproducible runs: anything left from an earlier run is stopped and wiped.
    check_dir_is_ours
    stop_cluster
    remove_dir

    mkdir -p -- "$PG_DIR"
    touch "$MARKER"
    if [[ "$(id -u)" == 0 ]]; then
        chown "$PG_USER:$PG_USER" "$PG_DIR" "$MARKER"
    fi
    chmod 0700 "$PG_DIR"
    # Every parent directory must be traversable by the postgres user.
    as_pg test -w "$PG_DIR" -a -x "$PG_DIR" \
        || die "user '$PG_USER' cannot access $PG_DIR (check permissions of its parent directories)"
    # Run from a directory the postgres user can enter (avoids 'could not change directory' noise).
    cd "$PG_DIR"

    # Hex password: safe inside both Npgsql and libpq connection strings without quoting.
    local password pwfile="$PG_DIR/pwfile"
    password="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    as_pg sh -c 'umask 077; cat > "$1"' _ "$pwfile" <<<"$password"

    log "initdb $DATA ($("$bin/postgres" --version))"
    as_pg "$bin/initdb" -D "$DATA" -U parley --pwfile="$pwfile" \
        --encoding=UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f -- "$pwfile"
    as_pg mkdir -m 0700 "$SOCK"

    # Explicit hba: only the private socket and 127.0.0.1 are accepted.
    as_pg sh -c 'cat > "$1"' _ "$DATA/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
EOF
    as_pg sh -c 'cat >> "$1"' _ "$DATA/postgresql.conf" <<EOF

# --- Parley test cluster (scripts/postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
max_connections = 200
shared_buffers = 128MB
fsync = on
EOF

    # Port: skip ones visibly in use; if postgres still loses a bind race, try the next.
    local port="$PG_PORT" tries=0 started=0
    while (( tries < 50 )); do
        if port_busy "$port"; then
            log "port $port busy; trying $((port + 1))"
        else
            log "starting postgres on 127.0.0.1:$port (timeout ${TIMEOUT}s)"
            as_pg sh -c ': > "$1"' _ "$LOG"   # fresh log per attempt, for the grep below
            # 3>&-: the daemon must not inherit our real stdout, or "$(postgres.sh start)" never returns.
            if as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $port" -w -t "$TIMEOUT" start >&2 3>&-; then
                started=1; break
            fi
            if grep -q "Address already in use" "$LOG"; then
                log "port $port taken during startup; trying $((port + 1))"
                stop_cluster || true
            else
                tail -n 30 "$LOG" >&2 || true
                stop_cluster || true
                die "postgres failed to start (log: $LOG)"
            fi
        fi
        port=$((port + 1)); tries=$((tries + 1))
    done
    (( started )) || die "no free port found in $PG_PORT..$((PG_PORT + 49))"

    # Bounded readiness wait over TCP, the way the tests will connect.
    local deadline=$((SECONDS + TIMEOUT))
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -t 2; do
        if (( SECONDS >= deadline )); then
            tail -n 30 "$LOG" >&2 || true
            die "postgres not ready on 127.0.0.1:$port after ${TIMEOUT}s"
        fi
        sleep 0.2
    done

    # Create the database over TCP with the password: also proves auth works end to end.
    PGPASSWORD="$password" PGCONNECT_TIMEOUT=10 "$bin/psql" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$port" -U parley -d postgres -c 'CREATE DATABASE parley' >&2 \
        || die "could not create database parley"

    local conn="Host=127.0.0.1;Port=$port;Username=parley;Password=$password;Database=parley"
    (umask 077; echo "$conn" > "$PG_DIR/connection-string"; echo "$port" > "$PG_DIR/port")
    log "ready: 127.0.0.1:$port, data dir $DATA, log $LOG"
    echo "$conn" >&3
}

cmd_stop() {
    if [[ ! -e "$PG_DIR" ]]; then
        log "nothing to stop ($PG_DIR does not exist)"
        return 0
    fi
    check_dir_is_ours
    stop_cluster
    remove_dir
    log "stopped and removed $PG_DIR"
}

# The data stays: only the server goes. Fast shutdown (the default): sessions are disconnected, open transactions
# roll back. "immediate": the server quits at once like a crash, and replays its WAL when it starts again.
cmd_restart_stop() {
    [[ -f "$MARKER" && -f "$PG_DIR/port" ]] || die "no cluster started by this script in $PG_DIR"
    local mode="${1:-fast}"
    [[ "$mode" == fast || "$mode" == immediate ]] || die "restart-stop takes fast (default) or immediate"
    stop_cluster "$mode"
    log "stopped (data kept in $DATA; restart-start brings it back)"
}

cmd_restart_start() {
    [[ -f "$MARKER" && -f "$PG_DIR/port" && -f "$PG_DIR/connection-string" ]] || die "no cluster started by this script in $PG_DIR"
    local bin port; bin="$(find_bin)"; port="$(cat "$PG_DIR/port")"
    [[ -n "$bin" ]] || die "no PostgreSQL server binaries found"
    local pid; pid="$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)"
    if ! is_our_postmaster "$pid"; then
        cd "$PG_DIR"
        as_pg sh -c ': >> "$1"' _ "$LOG"
        as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $port" -w -t "$TIMEOUT" start >&2 3>&- \
            || { tail -n 30 "$LOG" >&2 || true; die "postgres did not start again on port $port"; }
    fi
    local deadline=$((SECONDS + TIMEOUT))
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -t 2; do
        (( SECONDS < deadline )) || die "postgres not ready on 127.0.0.1:$port after ${TIMEOUT}s"
        sleep 0.2
    done
    log "started again on 127.0.0.1:$port"
    cat "$PG_DIR/connection-string" >&3
}

case "${1:-}" in
    start) cmd_start ;;
    stop)  cmd_stop ;;
    restart-stop)  cmd_restart_stop "${2:-fast}" ;;
    restart-start) cmd_restart_start ;;
    *)     echo "usage: $0 start|stop|restart-stop|restart-start" >&2; exit 2 ;;
esac
