#!/usr/bin/env bash
# A throwaway PostgreSQL 16 + pgvector server for the Postgres store's contract tests.
#
#   eval "$(bash .ci/postgres.sh start)"   # exports CLARA_PG_DIR, CLARA_TEST_POSTGRES_URL, CLARA_TEST_PG_BIN
#   bash .ci/postgres.sh stop [DIR]         # stops it and deletes DIR (default $CLARA_PG_DIR)
#
# The server comes from the pgserver 0.1.4 wheel on PyPI (PostgreSQL 16.2 + pgvector 0.6.2,
# built without AVX-512; later pgserver builds crash with SIGILL on CPUs without it). The
# wheel is unpacked whole: its binaries in pgserver/pginstall/bin find libpq through a
# relative rpath into pgserver.libs/. Everything (binaries, data, socket, log) lives in one
# temporary folder; the server listens on 127.0.0.1 on a free port with trust auth.
# PostgreSQL refuses to run as root, so as root it runs as the system user `clara-pg`.
# Progress goes to stderr; stdout carries only the `export` lines.
set -euo pipefail

PG_USER_NAME="clara-pg"
DATABASE="clara_test"

log() { echo "postgres.sh: $*" >&2; }

# Runs a command as the user that owns the server.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_USER_NAME" -- "$@"
    else
        "$@"
    fi
}

start() {
    local dir wheel_dir bin port
    dir="$(mktemp -d "${TMPDIR:-/tmp}/clara-pg.XXXXXX")"
    # A failed start leaves nothing behind (a half-started server is stopped).
    trap 'log "start failed; cleaning up"; stop "$dir"' EXIT
    wheel_dir="$dir/wheel"
    log "downloading the pgserver 0.1.4 wheel into $dir"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --python-version 3.11 --implementation cp \
        --platform manylinux2014_x86_64 -d "$wheel_dir" pgserver==0.1.4 >&2
    python3 -m zipfile -e "$wheel_dir"/pgserver-0.1.4-*.whl "$dir/pkg"
    bin="$dir/pkg/pgserver/pginstall/bin"
    chmod +x "$bin"/*
    mkdir -p "$dir/sock"

    if [ "$(id -u)" -eq 0 ]; then
        if ! id "$PG_USER_NAME" >/dev/null 2>&1; then
            log "creating system user $PG_USER_NAME (postgres will not run as root)"
            useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER_NAME"
        fi
        chown -R "$PG_USER_NAME" "$dir"
    fi

    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log "initdb and start on 127.0.0.1:$port"
    as_owner "$bin/initdb" --no-sync -U postgres -A trust -E UTF8 --locale=C.UTF-8 -D "$dir/data" >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off" start >&2 ||
        { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DATABASE"
    as_owner "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d "$DATABASE" \
        -c "CREATE EXTENSION IF NOT EXISTS vector" >&2
    log "ready: PostgreSQL $(as_owner "$bin/postgres" --version | awk '{print $3}') with pgvector"

    trap - EXIT
    echo "export CLARA_PG_DIR='$dir'"
    echo "export CLARA_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$port/$DATABASE'"
    # Its own pg_dump and pg_restore, as new as the server, for the backup tests.
    echo "export CLARA_TEST_PG_BIN='$bin'"
}

stop() {
    local dir="${1:-${CLARA_PG_DIR:-}}"
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then
        log "nothing to stop (no folder given and CLARA_PG_DIR unset or missing)"
        return 0
    fi
    case "$dir" in
        "${TMPDIR:-/tmp}"/clara-pg.*) ;;
        *) log "refusing to delete $dir: not a folder made by start"; exit 1 ;;
    esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$dir/pkg/pgserver/pginstall/bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 ||
            log "pg_ctl stop failed; deleting the folder anyway"
    fi
    rm -rf "$dir"
    log "stopped and removed $dir"
}

case "${1:-}" in
    start) start ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 start | stop [DIR]" >&2; exit 2 ;;
esac
