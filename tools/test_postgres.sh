#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the distributed-search tests (make test starts and stops it).
#
#   bash tools/test_postgres.sh start   # prints the URL for ASL_RECOG_TEST_POSTGRES; exits non-zero if it cannot start
#   bash tools/test_postgres.sh stop    # stops the server and deletes its data folder
#
# It installs PostgreSQL with apt-get when no server is found (root only), runs initdb as the
# `postgres` user when run as root (initdb refuses root), listens on 127.0.0.1 only (port
# $ASL_RECOG_PG_PORT, default 55432) with trust authentication and creates the database asl_test.
# Everything lives under $ASL_RECOG_PG_DIR (default /tmp/asl-recog-pg), which `stop` removes.
set -euo pipefail

DIR="${ASL_RECOG_PG_DIR:-/tmp/asl-recog-pg}"
PORT="${ASL_RECOG_PG_PORT:-55432}"
DB=asl_test

log() { echo "test_postgres: $*" >&2; }

find_bin() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$found" ] && command -v pg_ctl >/dev/null 2>&1; then
        found=$(dirname "$(command -v pg_ctl)")
    fi
    echo "$found"
}

as_owner() {  # run a command as the data folder's owner: postgres when we are root, else ourselves
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local bin
    bin=$(find_bin)
    if [ -z "$bin" ]; then
        if [ "$(id -u)" != 0 ]; then
            log "PostgreSQL is not installed and this user cannot apt-get it; install postgresql-15"
            exit 1
        fi
        log "installing PostgreSQL with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
            || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
        bin=$(find_bin)
    fi
    [ -x "$bin/initdb" ] || { log "no initdb in $bin"; exit 1; }
    stop quiet
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$DIR"
    fi
    as_owner "$bin/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
    # fsync off: a throwaway test database; max_connections covers a coordinator and several workers.
    as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR -c fsync=off -c max_connections=100" >/dev/null \
        || { log "the server did not start:"; tail -n 20 "$DIR/server.log" >&2 || true; exit 1; }
    "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
}

stop() {
    local bin
    bin=$(find_bin)
    if [ -n "$bin" ] && [ -f "$DIR/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
    [ "${1:-}" = quiet ] || log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
