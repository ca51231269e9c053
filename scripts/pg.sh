#!/usr/bin/env bash
# A private PostgreSQL cluster for waymark's tests and benchmarks, on 127.0.0.1.
#
#   scripts/pg.sh [start]   installs Debian's postgresql if missing, starts the cluster (or finds
#                           it running) and prints `export WAYMARK_TEST_PG=postgres://…`
#   scripts/pg.sh url       prints the URL of the running cluster (fails when it is not running)
#   scripts/pg.sh stop      stops it (a no-op when it is not running)
#   scripts/pg.sh restart   restarts the running cluster in fast mode (sessions are terminated,
#                           as in a real restart) on the same port: the fault tests' restart
#
# Idempotent: a second `start` reuses the running cluster. The cluster runs as the `postgres`
# user in a folder of its own under /tmp (one per checkout, so two checkouts on one machine do
# not stop each other's), listens on 127.0.0.1 only, on a free port, trusts local connections
# (it is a throwaway test server: no password) and trades durability for speed (fsync off).
# The URL is also written to "$WAYMARK_PG_DIR/env" for other scripts to source.
# The cluster also speaks TLS (a certificate for 127.0.0.1 and localhost from a throwaway CA made
# with openssl at first start); `start` exports the CA's file as WAYMARK_TEST_PG_CA.
#
# Usage from a shell: eval "$(scripts/pg.sh)"; ...; scripts/pg.sh stop
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
key="$(printf '%s' "$root" | cksum | cut -d' ' -f1)"
dir="${WAYMARK_PG_DIR:-${TMPDIR:-/tmp}/waymark-pg-$key}"
data="$dir/data"
log="$dir/server.log"
envfile="$dir/env"

log() { printf 'pg.sh: %s\n' "$*" >&2; }

as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        # Not root: run the cluster as ourselves.
        "$@"
    fi
}

find_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/pg_ctl" ]; then
            bindir="$d"
        fi
    done
    [ -n "${bindir:-}" ]
}

install() {
    bindir=""
    if find_bin; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL is not installed and installing needs root (apt-get install postgresql)"
        exit 1
    fi
    log "installing postgresql from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    find_bin || { log "pg_ctl not found after installing postgresql"; exit 1; }
}

running() {
    [ -f "$data/postmaster.pid" ] && as_postgres "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

port_of() {
    sed -n 4p "$data/postmaster.pid"
}

url() {
    printf 'postgres://postgres@127.0.0.1:%s/postgres' "$(port_of)"
}

free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    log "no free port found"
    exit 1
}

init() {
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
    fi
    chmod 700 "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        as_postgres "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
}

# A throwaway CA and a server certificate for 127.0.0.1 and localhost, made once per cluster.
tls() {
    local t=$data/tls
    [ -f "$t/server.key" ] && return
    command -v openssl >/dev/null || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq openssl >&2 || { apt-get update -qq >&2 && apt-get install -y -qq openssl >&2; }
    }
    mkdir -p "$t"
    (
        cd "$t"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=waymark test CA" \
            -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile ext.cnf -out server.pem
        # A CA that signed nothing here: the tests check it is refused.
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=another CA" \
            -keyout other-ca.key -out other-ca.pem
    ) >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; exit 1; }
    chmod 600 "$t/server.key" "$t/ca.key" "$t/other-ca.key"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$t"
    fi
}

start() {
    install
    if running; then
        write_env
        return
    fi
    init
    tls
    local tries port
    for tries in 1 2 3; do
        port="$(free_port)"
        # The socket lives in the data folder: no need for /var/run/postgresql.
        if as_postgres "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start -o \
            "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
             -c ssl=on -c ssl_cert_file=$data/tls/server.pem -c ssl_key_file=$data/tls/server.key" \
            >/dev/null; then
            write_env
            return
        fi
        log "start on port $port failed (try $tries), see $log"
    done
    tail -20 "$log" >&2 || true
    exit 1
}

write_env() {
    local u
    u="$(url)"
    printf 'WAYMARK_TEST_PG=%s\n' "$u" >"$envfile"
    printf 'export WAYMARK_TEST_PG=%s\n' "$u"
    if [ -f "$data/tls/ca.pem" ]; then
        printf 'WAYMARK_TEST_PG_CA=%s\n' "$data/tls/ca.pem" >>"$envfile"
        printf 'export WAYMARK_TEST_PG_CA=%s\n' "$data/tls/ca.pem"
    fi
}

stop() {
    bindir=""
    find_bin || return 0
    if running; then
        as_postgres "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
    rm -f "$envfile"
}

restart() {
    install
    running || { log "not running"; exit 1; }
    # The options of the first start (port, socket folder, settings) are kept in postmaster.opts.
    as_postgres "$bindir/pg_ctl" -D "$data" -l "$log" -m fast -w -t 60 restart >/dev/null
    write_env
}

case "${1:-start}" in
    start) start ;;
    url)
        install
        running || { log "not running"; exit 1; }
        url
        echo
        ;;
    stop) stop ;;
    restart) restart ;;
    *)
        log "usage: scripts/pg.sh [start|url|stop|restart]"
        exit 2
        ;;
esac
