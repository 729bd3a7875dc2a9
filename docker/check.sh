#!/usr/bin/env bash
# Checks docker/ on a machine without a Docker engine (see docker/README.md):
#
#   1. statically: the Dockerfile (stages, build command, COPY sources, non-root, ...),
#      compose.yaml (parsed with PyYAML) and nginx.conf, and that they agree;
#   2. `nginx -t` on nginx.conf, with compose's herald1/herald2 replaced by loopback ports;
#   3. that herald, where PostgreSQL's server binaries are missing (as in the image),
#      refuses to start without HERALD_DATABASE_URL and says so;
#   4. for real, on 127.0.0.1: a throwaway PostgreSQL, two Herald instances on it, that
#      nginx configuration in front, and through it: SSE delivers a notification published
#      while the stream is open (unbuffered), a WebSocket upgrade and its frames, a
#      long-poll, both instances serving, the image's health check script, and an
#      instance's graceful exit on SIGTERM while nginx sends its requests to the other.
#      When the herald binary has authentication (--auth-secret), both instances share
#      one HERALD_AUTH_SECRET as in compose.yaml, every request carries one token minted
#      with it, and requests without it get 401.
#
# What it cannot check: that the image builds and runs, and compose itself.
#
# Environment: HERALD_BIN, the herald binary to run (default .build/debug/herald).
# Needs nginx, PostgreSQL's server binaries, curl and python3 with PyYAML
# (apt-get install nginx postgresql curl python3-yaml). About 10 s.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERALD_BIN=${HERALD_BIN:-$ROOT/.build/debug/herald}
CHECK="$ROOT/docker/check.py"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# A python3 with PyYAML: the one on PATH, else Debian's (apt-get install python3-yaml).
PYTHON=""
for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import yaml' 2>/dev/null; then PYTHON=$candidate; break; fi
done
[ -n "$PYTHON" ] || fail "python3 with PyYAML is needed: apt-get install python3-yaml (or pip install pyyaml)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is needed: apt-get install nginx"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || fail "PostgreSQL's server binaries are needed: apt-get install postgresql"
command -v curl > /dev/null || fail "curl is needed: apt-get install curl"
[ -x "$HERALD_BIN" ] || fail "no herald binary at $HERALD_BIN (make build, or set HERALD_BIN)"

step "static: Dockerfile, compose.yaml, nginx.conf"
"$PYTHON" "$CHECK" static "$ROOT"

WORK=$(mktemp -d /tmp/herald-docker-check.XXXXXX)
chmod 755 "$WORK"   # the postgres user (below) must reach its folder in it
HERALD_PIDS=()
NGINX_PID=""
PG_STARTED=0

# Runs a PostgreSQL tool; as root, as the postgres user (PostgreSQL refuses root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
    local status=$?
    for pid in "${HERALD_PIDS[@]}" $NGINX_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${HERALD_PIDS[@]}" $NGINX_PID; do wait "$pid" 2>/dev/null || true; done
    [ $PG_STARTED = 1 ] && as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop > /dev/null 2>&1
    if [ $status != 0 ]; then
        for log in "$WORK"/*.log; do
            [ -f "$log" ] && { echo "--- $(basename "$log") (last lines)"; tail -n 20 "$log"; } >&2
        done
    fi
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Three free loopback ports: two instances and the load balancer.
read -r PORT1 PORT2 LB_PORT < <("$PYTHON" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

step "nginx -t (herald1, herald2 -> 127.0.0.1:$PORT1, :$PORT2; listen 127.0.0.1:$LB_PORT)"
mkdir -p "$WORK/nginx/tmp"
"$PYTHON" "$CHECK" nginx-copy "$ROOT/docker/nginx.conf" "$WORK/nginx/nginx.conf" "$PORT1" "$PORT2" "$LB_PORT"
# -e and the pid: nothing written outside $WORK; daemon off as in the nginx image.
NGINX_ARGS=(-p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e stderr -g "daemon off; pid $WORK/nginx/nginx.pid;")
"$NGINX" -t -q "${NGINX_ARGS[@]}" > "$WORK/nginx-t.log" 2>&1 || { cat "$WORK/nginx-t.log" >&2; fail "nginx -t rejects docker/nginx.conf"; }
echo "  ok: nginx -t accepts it ($("$NGINX" -v 2>&1 | sed 's/.*version: //'))"

step "herald without HERALD_DATABASE_URL where PostgreSQL's server binaries are missing (as in the image)"
# HERALD_PG_BINDIR names the only folder Herald looks in for initdb/pg_ctl: an empty one.
mkdir -p "$WORK/no-pg-bin"
if env -u HERALD_DATABASE_URL HERALD_PG_BINDIR="$WORK/no-pg-bin" timeout 20 "$HERALD_BIN" serve --host 127.0.0.1 \
        --port 0 --data-dir "$WORK/no-pg-data" > "$WORK/no-database-url.log" 2>&1; then
    fail "herald serve started without a database URL and without PostgreSQL's binaries"
fi
grep -q HERALD_DATABASE_URL "$WORK/no-database-url.log" || fail "herald's error does not name HERALD_DATABASE_URL"
echo "  ok: it exits non-zero at once, naming HERALD_DATABASE_URL: $(head -c 80 "$WORK/no-database-url.log")..."

step "live: PostgreSQL, two Herald instances, nginx in front"
mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U herald -A trust -E UTF8 --no-sync > "$WORK/initdb.log" 2>&1 \
    || fail "initdb failed"
# Unix socket only (no TCP), in $WORK/pg; fsync off: throwaway data.
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
    -o "-k $WORK/pg -c listen_addresses= -c fsync=off" start > "$WORK/pg_ctl.log" 2>&1 || fail "PostgreSQL did not start"
PG_STARTED=1
DATABASE_URL="host=$WORK/pg port=5432 dbname=postgres user=herald"

# One auth secret for both instances, as in compose.yaml, and one token minted with it,
# when this herald has authentication (serve --auth-secret); else they serve anonymously
# (allowed on loopback).
unset HERALD_AUTH_SECRET CHECK_TOKEN
AUTH=0
if "$HERALD_BIN" serve --help 2>&1 | grep -q -- --auth-secret; then
    AUTH=1
    HERALD_AUTH_SECRET=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')
    export HERALD_AUTH_SECRET
    CHECK_TOKEN=$("$HERALD_BIN" token --sub docker-check --publish '*' --subscribe '*' --ttl 10m 2> "$WORK/token.log" | tail -n 1) \
        || fail "herald token failed"
    [ -n "$CHECK_TOKEN" ] || fail "herald token printed no token"
    export CHECK_TOKEN
    echo "  ok: one HERALD_AUTH_SECRET for both instances; a token minted with herald token"
else
    echo "  (this herald has no authentication: both instances serve anonymously on loopback)"
fi

# Both at once, as compose starts them: migrations run under an advisory lock.
for port in "$PORT1" "$PORT2"; do
    "$HERALD_BIN" serve --host 127.0.0.1 --port "$port" --database-url "$DATABASE_URL" \
        --shutdown-timeout 3s --log-level warning > "$WORK/herald-$port.log" 2>&1 &
    HERALD_PIDS+=($!)
done
"$NGINX" "${NGINX_ARGS[@]}" > "$WORK/nginx-access.log" 2> "$WORK/nginx-error.log" &
NGINX_PID=$!

# The image's health check script, run here against each instance, is what waits.
for port in "$PORT1" "$PORT2"; do
    ready=0
    for _ in $(seq 1 300); do
        if HERALD_PORT=$port "$ROOT/docker/healthcheck.sh" 2>/dev/null; then ready=1; break; fi
        sleep 0.1
    done
    [ $ready = 1 ] || fail "Herald on port $port did not become ready within 30 s"
done
echo "  ok: docker/healthcheck.sh reports both instances ready (GET /readyz 200)"
# ...and fails where nothing listens.
closed=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if HERALD_PORT=$closed "$ROOT/docker/healthcheck.sh" 2>/dev/null; then fail "healthcheck.sh passes on a closed port"; fi
echo "  ok: docker/healthcheck.sh fails on a closed port"

for _ in $(seq 1 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$LB_PORT/lb-healthz" && break
    sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$LB_PORT/lb-healthz" || fail "nginx does not answer /lb-healthz"
curl -sf -o /dev/null "http://127.0.0.1:$LB_PORT/readyz" || fail "GET /readyz through nginx failed"
echo "  ok: nginx answers /lb-healthz, and /readyz through it"

step "through nginx"
"$PYTHON" "$CHECK" sse "$LB_PORT"
"$PYTHON" "$CHECK" ws "$LB_PORT"
"$PYTHON" "$CHECK" poll "$LB_PORT"
[ $AUTH = 1 ] && "$PYTHON" "$CHECK" unauthorized "$LB_PORT"
for port in "$PORT1" "$PORT2"; do
    grep -q "upstream=127.0.0.1:$port\b" "$WORK/nginx-access.log" \
        || fail "nginx sent nothing to the instance on port $port (least_conn, two upstreams?)"
done
echo "  ok: nginx's access log shows requests served by both instances"

step "graceful shutdown of one instance behind nginx"
kill -TERM "${HERALD_PIDS[0]}"
started=$SECONDS
if wait "${HERALD_PIDS[0]}"; then code=0; else code=$?; fi
HERALD_PIDS=("${HERALD_PIDS[1]}")
[ $code = 0 ] || fail "Herald exited $code on SIGTERM, expected 0"
echo "  ok: SIGTERM: the instance exited 0 after $((SECONDS - started)) s"
for _ in 1 2 3 4; do
    curl -sf -o /dev/null "http://127.0.0.1:$LB_PORT/readyz" || fail "GET /readyz through nginx failed with one instance down"
done
echo "  ok: with one instance down, nginx sends requests to the other"

echo "docker/check.sh: all checks passed in $SECONDS s (the image build and compose were not run: no Docker engine)"
