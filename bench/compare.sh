#!/usr/bin/env bash
# Herald beside its references, in one run, on this machine: see docs/performance.md.
#
#   bench/compare.sh            every scenario
#   bench/compare.sh publish    durable publish vs pgbench at concurrency 1, 16, 64 (+ batches)
#
# Environment: DURATION (seconds per measurement, default 10), PORT (default 18080),
# CONCURRENCY (default "1 16 64"). Needs a release build (make release) and PostgreSQL.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
PORT=${PORT:-18080}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
SCENARIOS=${*:-publish}
HERALD=$ROOT/.build/release/herald
BENCH=$ROOT/.build/release/herald-bench
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$HERALD" ] && [ -x "$BENCH" ] || { echo "build first: make release" >&2; exit 1; }
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }

WORK=$(mktemp -d /tmp/herald-bench.XXXXXX)
chmod 755 "$WORK"
RESULTS=()
HERALD_PID=""
cleanup() {
    [ -n "$HERALD_PID" ] && kill -INT "$HERALD_PID" 2>/dev/null && wait "$HERALD_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

row() { RESULTS+=("$1"); printf '%s\n' "$1"; }

start_herald() {
    "$HERALD" serve --data-dir "$WORK/data" --port "$PORT" --log-level warning "$@" > "$WORK/herald.log" 2>&1 &
    HERALD_PID=$!
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/herald.log" >&2
    exit 1
}

# pgbench with per-transaction logs, so its p50/p99 are computed like Herald's.
# Prints "tps p50_ms p99_ms".
run_pgbench() {
    local clients=$1 script=$2
    local threads=$(( clients < 2 ? 1 : 2 ))
    rm -f "$WORK"/pgbench_log.*
    (cd "$WORK" && "$PGBIN/pgbench" -n -c "$clients" -j "$threads" -T "$DURATION" -l -f "$script" "$DB" > pgbench.out 2>&1)
    local tps
    tps=$(awk '/^tps = /{print $3}' "$WORK/pgbench.out")
    cat "$WORK"/pgbench_log.* | awk '{print $3}' | sort -n | awk -v tps="$tps" '
        { v[NR] = $1 }
        END { printf "%.0f %.2f %.2f\n", tps, v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "-" }'; }

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

scenario_publish() {
    start_herald
    DB="host=$WORK/data/run port=5432 user=postgres dbname=postgres"
    "$PGBIN/psql" -q "$DB" -c "INSERT INTO herald.topics (name) SELECT 'pgbench-' || i FROM generate_series(0, 3) i ON CONFLICT DO NOTHING"
    row ""
    row "### Durable publish: Herald over HTTP vs pgbench (one UPDATE ... RETURNING + INSERT + pg_notify per transaction)"
    row ""
    row "| concurrency | pgbench tx/s | pgbench p50 / p99 ms | Herald notifications/s | Herald p50 / p99 ms | Herald ÷ pgbench | load generator CPU |"
    row "| --- | --- | --- | --- | --- | --- | --- |"
    for c in $CONCURRENCY; do
        read -r pg_tps pg_p50 pg_p99 < <(run_pgbench "$c" "$ROOT/bench/pgbench-publish.sql")
        line=$("$BENCH" publish --url "http://127.0.0.1:$PORT" -c "$c" -d "$DURATION" --machine | grep '^RESULT')
        h_rate=$(echo "$line" | field notifications_per_s)
        row "| $c | $pg_tps | $pg_p50 / $pg_p99 | $h_rate | $(echo "$line" | field p50_ms) / $(echo "$line" | field p99_ms) | $(ratio "$h_rate" "$pg_tps") | $(echo "$line" | field client_cpu) |"
    done
    read -r pg_tps pg_p50 pg_p99 < <(run_pgbench 16 "$ROOT/bench/pgbench-publish-batch.sql")
    pg_rate=$(( ${pg_tps%.*} * 100 ))
    line=$("$BENCH" publish --url "http://127.0.0.1:$PORT" -c 16 --batch 100 -d "$DURATION" --machine | grep '^RESULT')
    h_rate=$(echo "$line" | field notifications_per_s)
    row ""
    row "| 100 per transaction / request, concurrency 16 | pgbench notifications/s | pgbench p50 / p99 ms | Herald notifications/s (batch endpoint) | Herald p50 / p99 ms | Herald ÷ pgbench | load generator CPU |"
    row "| --- | --- | --- | --- | --- | --- | --- |"
    row "| | $pg_rate | $pg_p50 / $pg_p99 | $h_rate | $(echo "$line" | field p50_ms) / $(echo "$line" | field p99_ms) | $(ratio "$h_rate" "$pg_rate") | $(echo "$line" | field client_cpu) |"
    kill -INT "$HERALD_PID"; wait "$HERALD_PID" || true; HERALD_PID=""
    rm -rf "$WORK/data"
}

header="# Herald benchmark $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $(uname -m), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "$header"
for scenario in $SCENARIOS; do
    "scenario_$scenario"
done

mkdir -p "$ROOT/bench/results"
out="$ROOT/bench/results/$(date -u +%Y%m%d-%H%M)-$(git -C "$ROOT" rev-parse --short HEAD).md"
{ echo "$header"; printf '%s\n' "${RESULTS[@]}"; } > "$out"
echo
echo "written to ${out#$ROOT/}"
