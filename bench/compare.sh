#!/usr/bin/env bash
# Herald beside its references, in one run, on this machine: see docs/performance.md.
#
#   bench/compare.sh                 every scenario
#   bench/compare.sh publish fanout  some of them: publish fanout floor idle catchup cluster storm many
#
# Environment: DURATION (whole seconds per measurement, default 10), CONCURRENCY (default
# "1 16 64"). Needs a release build (make release), PostgreSQL, for the Nchan rows nginx
# with libnginx-mod-nchan (apt-get install nginx libnginx-mod-nchan), and for the publish
# scenario's second client wrk (apt-get install wrk); rows whose tool is missing are skipped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/ticks.sh
source "$ROOT/bench/ticks.sh"
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
SCENARIOS=${*:-publish fanout floor idle catchup cluster storm many}
HERALD=$ROOT/.build/release/herald
BENCH=$ROOT/.build/release/herald-bench
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PORT=18080
NCHAN_PORT=18081
CEILING_PORT=18082
# Publish: topics for pgbench and herald-bench alike (four made pgbench contend on row
# locks), the batch scenario's concurrency, the load generators' threads (herald-bench's
# event loops, wrk's -t), and Herald's event loops, which the empty handler gets too.
TOPICS=16
BATCH_CONCURRENCY=16
LOAD_THREADS=1
LOOPS=${HERALD_EVENT_LOOPS:-$(nproc)}
[ -x "$HERALD" ] && [ -x "$BENCH" ] || { echo "build first: make release" >&2; exit 1; }
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }
HAVE_NCHAN=0
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] && command -v nginx > /dev/null && HAVE_NCHAN=1
HAVE_WRK=0
command -v wrk > /dev/null && HAVE_WRK=1
case " $SCENARIOS " in
    *" publish "*) [ $HAVE_WRK = 1 ] || echo "wrk is not installed (apt-get install wrk, or make bench-deps): the publish scenario skips its wrk rows" >&2 ;;
esac

WORK=$(mktemp -d /tmp/herald-bench.XXXXXX)
chmod 755 "$WORK"
RESULTS=()
PIDS=()
PLOT=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null || true; done
    sleep 2
    pkill -f "nginx -c $ROOT/bench/nchan.conf" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

row() { RESULTS+=("$1"); printf '%s\n' "$1"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }'; }

# Starts `herald serve` on PORT over the embedded PostgreSQL in $WORK/data (or a URL); sets HERALD_PID.
start_herald() {
    local port=$1; shift
    "$HERALD" serve --data-dir "$WORK/data" --port "$port" --log-level warning "$@" > "$WORK/herald-$port.log" 2>&1 &
    HERALD_PID=$!
    PIDS+=("$HERALD_PID")
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/herald-$port.log" >&2
    exit 1
}

stop_pid() { kill -INT "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
stop_herald_all() { for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && stop_pid "$pid"; done; PIDS=(); rm -rf "$WORK/data"; }

start_nchan() {
    mkdir -p "$WORK/nchan/tmp"
    nginx -c "$ROOT/bench/nchan.conf" -p "$WORK/nchan" > "$WORK/nchan.log" 2>&1 &
    NCHAN_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$NCHAN_PORT/pub/ping" -d x && break
        sleep 0.1
    done
    NCHAN_WORKER=$(pgrep -f "nginx: worker process" | head -1)
}
stop_nchan() { kill -QUIT "$NCHAN_PID" 2>/dev/null || true; wait "$NCHAN_PID" 2>/dev/null || true; sleep 1; }

# pgbench with per-transaction logs, so its p50/p99 are computed like Herald's. "tps p50 p99".
# More pgbench options may follow the script (-R for a fixed rate).
run_pgbench() {
    local clients=$1 script=$2
    local threads=$(( clients < 2 ? 1 : 2 ))
    rm -f "$WORK"/pgbench_log.*
    (cd "$WORK" && "$PGBIN/pgbench" -n -c "$clients" -j "$threads" -T "$DURATION" -l "${@:3}" -f "$script" "$DB" > pgbench.out 2>&1)
    local tps
    tps=$(awk '/^tps = /{print $3}' "$WORK/pgbench.out")
    cat "$WORK"/pgbench_log.* | awk '{print $3}' | sort -n | awk -v tps="$tps" '
        { v[NR] = $1 }
        END { printf "%.0f %.2f %.2f\n", tps, v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }'
}

# Runs a command (a load generator, which reports its own CPU) and prints, after its output,
# the cores the server SERVER_PID and the embedded PostgreSQL (its postmaster's tree, ended
# backends included) used meanwhile: "CPU server=… postgres=…".
with_cpu() {
    local postmaster s0 p0 start
    postmaster=$(head -1 "$WORK/data/pgdata/postmaster.pid" 2> /dev/null || true)
    postgres_ticks() { if [ -n "$postmaster" ]; then tree_ticks "$postmaster"; else echo 0; fi; }
    s0=$(tree_ticks "$SERVER_PID"); p0=$(postgres_ticks); start=$(date +%s.%N)
    "$@"
    awk -v s=$(( $(tree_ticks "$SERVER_PID") - s0 )) -v p=$(( $(postgres_ticks) - p0 )) -v hz="$(getconf CLK_TCK)" \
        -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { w = (b - a) * hz; printf "CPU server=%.2f postgres=%.2f\n", s / w, p / w }'
}

# herald-bench publish against the server on PORT over the TOPICS topics (more options
# after): prints its RESULT line.
bench_publish() {
    local port=$1; shift
    "$BENCH" publish --url "http://127.0.0.1:$port" --topics "$TOPICS" --threads "$LOAD_THREADS" -d "$DURATION" --machine "$@" | grep '^RESULT'
}

# wrk against the server on PORT with SCRIPT (bench/wrk-*.lua, and its arguments) at C connections, after a
# 1 s run not measured (herald-bench warms up for 1 s too): prints the script's RESULT
# line with wrk's user + system CPU per second of the run appended (client_cpu=).
wrk_publish() {
    local port=$1 script=$2 c=$3 TIMEFORMAT='%U %S' line cpu
    shift 3
    wrk -t "$LOAD_THREADS" -c "$c" -d 1s -s "$script" "http://127.0.0.1:$port" -- "$@" > /dev/null
    { time wrk -t "$LOAD_THREADS" -c "$c" -d "${DURATION}s" --latency -s "$script" "http://127.0.0.1:$port" -- "$@" > "$WORK/wrk.out"; } 2> "$WORK/wrk.time"
    line=$(grep '^RESULT' "$WORK/wrk.out")
    cpu=$(tail -1 "$WORK/wrk.time" | awk -v d="$DURATION" '{ printf "%.2f", ($1 + $2) / d }')
    echo "$line client_cpu=$cpu"
}

# Starts `herald-bench ceiling` (the empty Hummingbird handler) on CEILING_PORT with as
# many event loops as Herald's; sets CEILING_PID.
start_ceiling() {
    "$BENCH" ceiling --port "$CEILING_PORT" --threads "$LOOPS" > "$WORK/ceiling.log" 2>&1 &
    CEILING_PID=$!
    PIDS+=("$CEILING_PID")
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "http://127.0.0.1:$CEILING_PORT/v1/topics/ping/notifications")" = 201 ] && return 0
        sleep 0.1
    done
    cat "$WORK/ceiling.log" >&2
    exit 1
}

# "p50 / p99" of a RESULT line.
p50_p99() { echo "$(echo "$1" | field p50_ms) / $(echo "$1" | field p99_ms)"; }
# wrk's "non-2xx / socket errors" of its RESULT line.
wrk_errors() { echo "$1" | awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["non2xx"] " / " v["connect"] + v["read"] + v["write"] + v["timeout"] }'; }

# One row of the wrk table: LABEL, wrk's RESULT against Herald and against the empty
# handler, herald-bench's against both, how many notifications a request carries, and the
# field of herald-bench's empty-handler line to compare with.
wrk_row() {
    local label=$1 hw=$2 cw=$3 hbench=$4 cbench=$5 times=$6 key=$7 h p
    h=$(echo "$hw" | field ok_per_s | awk -v k="$times" '{ print $1 * k }')
    p=$(echo "$cw" | field ok_per_s | awk -v k="$times" '{ print $1 * k }')
    row "| $label | $h | $(p50_p99 "$hw") | $(wrk_errors "$hw") | $(ratio "$h" "$(echo "$hbench" | field notifications_per_s)") | $p | $(p50_p99 "$cw") | $(wrk_errors "$cw") | $(ratio "$p" "$(echo "$cbench" | field "$key")") | $(ratio "$h" "$p") | $(echo "$hw" | field client_cpu) / $(echo "$cw" | field client_cpu) |"
}

# Where the CPU of one publish goes at concurrency C, Herald's (RESULT and CPU lines) and
# the empty handler's, and the most Herald could reach of the empty handler's rate were
# the machine busy in both runs: the ratio of their CPU per request (all processes).
cpu_row() {
    local c=$1 h=$2 e=$3
    awk -v c="$c" -v cores="$(nproc)" \
        -v hr="$(echo "$h" | field notifications_per_s)" -v hs="$(echo "$h" | field server)" -v hp="$(echo "$h" | field postgres)" -v hl="$(echo "$h" | field client_cpu)" \
        -v er="$(echo "$e" | field requests_per_s)" -v es="$(echo "$e" | field server)" -v el="$(echo "$e" | field client_cpu)" 'BEGIN {
        if (hr <= 0 || er <= 0) exit
        hu = (hs + hp + hl) * 1e6 / hr; eu = (es + el) * 1e6 / er
        printf "CPU at c=%d, in cores over herald-bench'"'"'s run, and µs per request: Herald %.2f (%.0f µs), its PostgreSQL %.2f (%.0f µs), load generator %.2f (%.0f µs), machine %.0f %% busy; empty handler %.2f (%.0f µs), load generator %.2f (%.0f µs), machine %.0f %% busy. All processes spend %.0f µs per durable publish against %.0f per empty request, so with the machine busy in both runs Herald would reach at most **%.2f×** the empty handler.\n", \
            c, hs, hs * 1e6 / hr, hp, hp * 1e6 / hr, hl, hl * 1e6 / hr, 100 * (hs + hp + hl) / cores, es, es * 1e6 / er, el, el * 1e6 / er, 100 * (es + el) / cores, hu, eu, eu / hu
    }' > "$WORK/cpu_row"
    while IFS= read -r line; do row "$line"; done < "$WORK/cpu_row"
}

scenario_publish() {
    # pgbench also runs at 1, 16 and 64 when CONCURRENCY leaves them out: its best rate
    # over those three is the reference, not the one that suits the comparison.
    local pg_concurrency c best=0 best_c="" top="" p h
    pg_concurrency=$(printf '%s\n' 1 16 64 $CONCURRENCY | sort -n -u | tr '\n' ' ')
    declare -A PG PGL H C HW CW
    start_herald $PORT
    DB="host=$WORK/data/run port=5432 user=postgres dbname=postgres"
    "$PGBIN/psql" -q "$DB" -c "INSERT INTO herald.topics (name) SELECT 'pgbench-' || i FROM generate_series(0, $((TOPICS - 1))) i ON CONFLICT DO NOTHING"
    for c in $pg_concurrency; do
        read -r PG[$c] PGL[$c] < <(run_pgbench "$c" "$ROOT/bench/pgbench-publish.sql" | awk '{ print $1, $2 " / " $3 }')
        case " $CONCURRENCY " in *" $c "*) ;; *) continue ;; esac
        H[$c]=$(SERVER_PID=$HERALD_PID with_cpu bench_publish $PORT -c "$c")
        if [ $HAVE_WRK = 1 ]; then HW[$c]=$(wrk_publish $PORT "$ROOT/bench/wrk-publish.lua" "$c"); fi
    done
    read -r pgb_tps pgb_p50 pgb_p99 < <(run_pgbench $BATCH_CONCURRENCY "$ROOT/bench/pgbench-publish-batch.sql")
    pgb_rate=$(( ${pgb_tps%.*} * 100 ))
    hb=$(bench_publish $PORT -c $BATCH_CONCURRENCY --batch 100)
    if [ $HAVE_WRK = 1 ]; then hwb=$(wrk_publish $PORT "$ROOT/bench/wrk-publish.lua" $BATCH_CONCURRENCY 100); fi
    stop_herald_all

    start_ceiling
    for c in $CONCURRENCY; do
        C[$c]=$(SERVER_PID=$CEILING_PID with_cpu bench_publish "$CEILING_PORT" -c "$c")
        if [ $HAVE_WRK = 1 ]; then CW[$c]=$(wrk_publish "$CEILING_PORT" "$ROOT/bench/wrk-publish.lua" "$c"); fi
    done
    cb=$(bench_publish "$CEILING_PORT" -c $BATCH_CONCURRENCY --batch 100)
    if [ $HAVE_WRK = 1 ]; then cwb=$(wrk_publish "$CEILING_PORT" "$ROOT/bench/wrk-publish.lua" $BATCH_CONCURRENCY 100); fi
    stop_herald_all

    row ""
    row "### Durable publish, one notification per transaction / request, $TOPICS topics: Herald over HTTP vs pgbench (one UPDATE ... RETURNING + INSERT + pg_notify per transaction) and an empty Hummingbird handler (\`herald-bench ceiling\`)"
    row ""
    row "Herald and the empty handler on $LOOPS event loop(s); herald-bench on $LOAD_THREADS thread(s). Errors: answers other than 2xx and failed connections (herald-bench counts them apart from the rate)."
    row ""
    row "| concurrency | pgbench tx/s | pgbench p50 / p99 ms | Herald notifications/s | Herald p50 / p99 ms | Herald ÷ pgbench | empty handler requests/s | empty handler p50 / p99 ms | Herald ÷ empty handler | errors Herald / empty handler | load generator CPU Herald / empty handler |"
    row "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for c in $CONCURRENCY; do
        h=$(echo "${H[$c]}" | field notifications_per_s)
        p=$(echo "${C[$c]}" | field requests_per_s)
        row "| $c | ${PG[$c]} | ${PGL[$c]} | $h | $(p50_p99 "${H[$c]}") | $(ratio "$h" "${PG[$c]}") | $p | $(p50_p99 "${C[$c]}") | $(ratio "$h" "$p") | $(echo "${H[$c]}" | field errors) / $(echo "${C[$c]}" | field errors) | $(echo "${H[$c]}" | field client_cpu) / $(echo "${C[$c]}" | field client_cpu) |"
    done
    top=$(printf '%s\n' $CONCURRENCY | sort -n | tail -1)
    for c in 1 16 64; do
        if awk -v a="${PG[$c]}" -v b="$best" 'BEGIN { exit !(a > b) }'; then best=${PG[$c]}; best_c=$c; fi
    done
    # pgbench's rates at the concurrencies that have no row above (CONCURRENCY left them out).
    local alone=""
    for c in $pg_concurrency; do [ -n "${H[$c]:-}" ] || alone="$alone, c=$c: ${PG[$c]} tx/s"; done
    row ""
    row "pgbench best per-transaction rate over c=1/16/64: $best tx/s, at c=$best_c.${alone:+ pgbench at the concurrencies with no row above:${alone#,}.}"
    h=$(echo "${H[$top]}" | field notifications_per_s)
    row "Herald at c=$top ÷ that best: **$(ratio "$h" "$best")** (target at c=64: ≥ 5×). Herald at c=$top ÷ empty handler at c=$top: **$(ratio "$h" "$(echo "${C[$top]}" | field requests_per_s)")** (target at c=64: ≥ 0.75×)."
    cpu_row "$top" "${H[$top]}" "${C[$top]}"
    if [ -n "${H[1]:-}" ]; then
        row "Herald at c=1 ÷ pgbench at c=1: **$(ratio "$(echo "${H[1]}" | field notifications_per_s)" "${PG[1]}")** (target ≥ 0.8×)."
    else
        row "Herald at c=1 ÷ pgbench at c=1: not measured (CONCURRENCY has no 1)."
    fi

    h=$(echo "$hb" | field notifications_per_s)
    p=$(echo "$cb" | field notifications_per_s)
    row ""
    row "| 100 per transaction / request: concurrency | pgbench notifications/s | pgbench p50 / p99 ms | Herald notifications/s (batch endpoint) | Herald p50 / p99 ms | Herald ÷ pgbench | empty handler notifications/s | empty handler p50 / p99 ms | Herald ÷ empty handler | errors Herald / empty handler | load generator CPU Herald / empty handler |"
    row "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    row "| $BATCH_CONCURRENCY | $pgb_rate | $pgb_p50 / $pgb_p99 | $h | $(p50_p99 "$hb") | **$(ratio "$h" "$pgb_rate")** (target ≥ 0.8×) | $p | $(p50_p99 "$cb") | $(ratio "$h" "$p") | $(echo "$hb" | field errors) / $(echo "$cb" | field errors) | $(echo "$hb" | field client_cpu) / $(echo "$cb" | field client_cpu) |"

    row ""
    row "### The same publishes through wrk (an independent client: \`wrk -t $LOAD_THREADS --latency\`, bench/wrk-publish.lua, a 1 s run first)"
    row ""
    if [ $HAVE_WRK = 0 ]; then
        row "wrk is not installed (apt-get install wrk, or make bench-deps): no wrk rows."
        return 0
    fi
    row "Rates count the answers below 400 only (herald-bench's count 2xx only); wrk's non-2xx (its \"Non-2xx or 3xx responses\": statuses above 399) and socket errors (connect, read, write, timeout) are shown beside them."
    row ""
    row "| concurrency | Herald notifications/s | Herald p50 / p99 ms | Herald non-2xx / socket errors | Herald wrk ÷ herald-bench | empty handler requests/s | empty handler p50 / p99 ms | empty handler non-2xx / socket errors | empty handler wrk ÷ herald-bench | Herald ÷ empty handler | wrk CPU Herald / empty handler |"
    row "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for c in $CONCURRENCY; do wrk_row "$c" "${HW[$c]}" "${CW[$c]}" "${H[$c]}" "${C[$c]}" 1 requests_per_s; done
    wrk_row "$BATCH_CONCURRENCY, 100 per request (batch endpoint; notifications/s)" "$hwb" "$cwb" "$hb" "$cb" 100 notifications_per_s
}

# One fanout measurement: prints the RESULT line.
fanout_herald() { "$BENCH" fanout --port $PORT -s "$1" -r "$2" -d "$DURATION" --transport "${3:-sse}" --machine | grep '^RESULT'; }
fanout_nchan() {
    "$BENCH" fanout --port $NCHAN_PORT -s "$1" -r "$2" -d "$DURATION" --transport "${3:-sse}" --machine \
        --subscribe-path "/sub/{topic}" --publish-path "/pub/{topic}" --publish-format raw | grep '^RESULT'
}

fanout_row() {
    local label=$1 h=$2 n=$3
    local hd hp nd np
    hd=$(echo "$h" | field deliveries_per_s); hp=$(echo "$h" | field p99_ms)
    if [ -n "$n" ]; then nd=$(echo "$n" | field deliveries_per_s); np=$(echo "$n" | field p99_ms); else nd="-"; np="-"; fi
    row "| $label | $hd | $(echo "$h" | field p50_ms) / $hp | $(echo "$h" | field lost) | $nd | $( [ -n "$n" ] && echo "$(echo "$n" | field p50_ms) / $np" || echo -) | $(ratio "$hd" "${nd/-/0}") | $(ratio "$hp" "${np/-/0}") | $(echo "$h" | field client_cpu) |"
}

scenario_fanout() {
    row ""
    row "### Fan-out over SSE: publish at R/s to one topic with S subscribers (publish→deliver latency in ms)"
    row ""
    row "| S × R | Herald deliveries/s | Herald p50 / p99 | Herald lost | Nchan deliveries/s | Nchan p50 / p99 | deliveries Herald ÷ Nchan | p99 Herald ÷ Nchan | load generator CPU |"
    row "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    local points="1000:100 10000:10 100:10 1000:10 3000:10"
    # WebSocket at the fast point too (`ws:` rows): Herald's and Nchan's.
    local ws_points="1000:100"
    declare -A H N
    start_herald $PORT
    for point in $points; do H[$point]=$(fanout_herald "${point%%:*}" "${point##*:}"); done
    for point in $ws_points; do H[ws:$point]=$(fanout_herald "${point%%:*}" "${point##*:}" ws); done
    stop_herald_all
    if [ $HAVE_NCHAN = 1 ]; then
        start_nchan
        for point in $points; do N[$point]=$(fanout_nchan "${point%%:*}" "${point##*:}"); done
        for point in $ws_points; do N[ws:$point]=$(fanout_nchan "${point%%:*}" "${point##*:}" ws); done
        stop_nchan
    fi
    for point in $points; do
        fanout_row "${point%%:*} × ${point##*:}/s" "${H[$point]}" "${N[$point]:-}"
        PLOT+=("${point%%:*} ${point##*:} $(echo "${H[$point]}" | field p99_ms) $(echo "${N[$point]:-}" | field p99_ms)")
    done
    for point in $ws_points; do
        fanout_row "WebSocket ${point%%:*} × ${point##*:}/s" "${H[ws:$point]}" "${N[ws:$point]:-}"
    done
    row ""
    row "WebSocket p99 ÷ SSE p99 at 1000 × 100/s, Herald: $(ratio "$(echo "${H[ws:1000:100]}" | field p99_ms)" "$(echo "${H[1000:100]}" | field p99_ms)") (target ≤ 1)."
}

# The durable path at a low rate (issue 18's p50 target at 100 subscribers × 10/s): what
# PostgreSQL itself takes at 10 statements a second, one at a time, on the embedded
# database (pgbench -R 10), beside Herald's publish answered and delivered at that rate,
# and Nchan's publish→deliver, which stores nothing.
scenario_floor() {
    local rate=10 trip insert plain one hundred nchan=""
    start_herald $PORT
    DB="host=$WORK/data/run port=5432 user=postgres dbname=postgres"
    "$PGBIN/psql" -q "$DB" -c "CREATE TABLE IF NOT EXISTS public.floor_bench (id bigserial PRIMARY KEY, v text)"
    echo "SELECT 1;" > "$WORK/floor-select.sql"
    echo "INSERT INTO public.floor_bench (v) VALUES ('x');" > "$WORK/floor-insert.sql"
    # The statement Herald commits one notification with (PublishBatch+Statement.swift).
    echo "SELECT last_seq, created_at FROM herald.publish_plain(ARRAY['floor-bench'], ARRAY[1], ARRAY[1], ARRAY[1], ARRAY[gen_random_uuid()], ARRAY['message'], ARRAY['{\"x\":1}'], ARRAY[NULL::int4]);" > "$WORK/floor-publish.sql"
    trip=$(run_pgbench 1 "$WORK/floor-select.sql" -R $rate)
    insert=$(run_pgbench 1 "$WORK/floor-insert.sql" -R $rate)
    plain=$(run_pgbench 1 "$WORK/floor-publish.sql" -R $rate)
    one=$(fanout_herald 1 $rate)
    hundred=$(fanout_herald 100 $rate)
    stop_herald_all
    if [ $HAVE_NCHAN = 1 ]; then
        start_nchan
        nchan=$(fanout_nchan 100 $rate)
        stop_nchan
    fi
    pg_row() { row "| $1 | $(echo "$2" | awk '{ print $2 " / " $3 }') |"; }
    row ""
    row "### The durable path at $rate/s, one at a time: PostgreSQL's own latency (pgbench -c 1 -R $rate on the embedded database) beside Herald's and Nchan's"
    row ""
    row "| at $rate/s | p50 / p99 ms |"
    row "| --- | --- |"
    pg_row "PostgreSQL: a round trip (\`SELECT 1\`)" "$trip"
    pg_row "PostgreSQL: a committed \`INSERT\` of one row" "$insert"
    pg_row "PostgreSQL: Herald's statement for one notification (\`herald.publish_plain\`), committed" "$plain"
    row "| Herald, 1 subscriber: publish answered | $(echo "$one" | field answered_p50_ms) / $(echo "$one" | field answered_p99_ms) |"
    row "| Herald, 1 subscriber: publish→deliver | $(p50_p99 "$one") |"
    row "| Herald, 100 subscribers: publish answered | $(echo "$hundred" | field answered_p50_ms) / $(echo "$hundred" | field answered_p99_ms) |"
    row "| Herald, 100 subscribers: publish→deliver | $(p50_p99 "$hundred") |"
    if [ -n "$nchan" ]; then
        row "| Nchan (stores nothing), 100 subscribers: publish→deliver | $(p50_p99 "$nchan") |"
        row ""
        row "PostgreSQL's commit of Herald's statement alone, p50 ÷ Nchan's whole publish→deliver p50: **$(ratio "$(echo "$plain" | awk '{ print $2 }')" "$(echo "$nchan" | field p50_ms)")** (issue 18's target: Herald's publish→deliver p50 ≤ 2 ms and ≤ Nchan's)."
    fi
}

scenario_idle() {
    row ""
    row "### Memory per idle connection (server RSS growth over 10,000 idle subscribers, fresh server each)"
    row ""
    row "| connection | Herald KiB / connection | Nchan KiB / connection | Herald ÷ Nchan |"
    row "| --- | --- | --- | --- |"
    # sse and ws are subscribers; tcp (accepted, nothing sent) and http (one GET, then idle
    # keep-alive; Herald only) show what a connection costs before any subscription.
    for transport in sse ws tcp http; do
        start_herald $PORT
        h=$("$BENCH" idle --port $PORT --server-pid "$HERALD_PID" -s 10000 --transport $transport --machine | grep '^RESULT' | field kib_per_connection)
        stop_herald_all
        n="-"
        if [ $HAVE_NCHAN = 1 ] && [ $transport != http ]; then
            start_nchan
            n=$("$BENCH" idle --port $NCHAN_PORT --server-pid "$NCHAN_WORKER" -s 10000 --transport $transport \
                --subscribe-path "/sub/idle-{i}" --machine | grep '^RESULT' | field kib_per_connection)
            stop_nchan
        fi
        row "| $transport | $h | $n | $(ratio "$h" "${n/-/0}") |"
    done
}

scenario_catchup() {
    start_herald $PORT
    line=$("$BENCH" catchup --port $PORT -m 100000 --machine | grep '^RESULT')
    row ""
    row "### Catch-up: one SSE subscriber reading 100,000 stored notifications from topic:0"
    row ""
    row "| notifications/s |"
    row "| --- |"
    row "| $(echo "$line" | field notifications_per_s) |"
    stop_herald_all
}

scenario_cluster() {
    start_herald $PORT
    start_herald $((PORT + 1)) --no-migrate
    line=$("$BENCH" cluster --publish-port $PORT --subscribe-port $((PORT + 1)) -s 100 -r 100 -d "$DURATION" --machine | grep '^RESULT')
    row ""
    row "### Cross-instance: publish through one instance, 100 SSE subscribers on another, 100/s"
    row ""
    row "| p50 ms | p99 ms | lost |"
    row "| --- | --- | --- |"
    row "| $(echo "$line" | field p50_ms) | $(echo "$line" | field p99_ms) | $(echo "$line" | field lost) |"
    stop_herald_all
}

# A connect storm: 1,000 SSE subscribers receive 10/s live while 5,000 more connect at
# once, each reading the topic's 2,000 stored notifications from its start.
scenario_storm() {
    start_herald $PORT
    local calm storm
    calm=$("$BENCH" fanout --port $PORT -s 1000 -r 10 -d "$DURATION" --backlog 2000 --machine | grep '^RESULT')
    storm=$("$BENCH" fanout --port $PORT -s 1000 -r 10 -d "$DURATION" --backlog 2000 --storm 5000 --machine | grep '^RESULT')
    row ""
    row "### Connect storm: 1,000 live SSE subscribers at 10/s, while 5,000 more connect at once and each reads 2,000 stored notifications"
    row ""
    row "| | live p50 / p99 ms | live lost | storm subscribers connected |"
    row "| --- | --- | --- | --- |"
    row "| without the storm | $(echo "$calm" | field p50_ms) / $(echo "$calm" | field p99_ms) | $(echo "$calm" | field lost) | - |"
    row "| during the storm | $(echo "$storm" | field p50_ms) / $(echo "$storm" | field p99_ms) | $(echo "$storm" | field lost) | $(echo "$storm" | field storm_ready) of 5000 |"
    stop_herald_all
}

scenario_many() {
    # 50,000 subscribers: a process may hold 20,000 files here, so three Herald instances on
    # one database take ~16,700 each, and three load generators hold one share each. Each
    # instance's topic gets RATE_MANY notifications a second (default 1).
    local rate=${RATE_MANY:-1}
    start_herald $PORT
    start_herald $((PORT + 1)) --no-migrate
    start_herald $((PORT + 2)) --no-migrate
    local benches=()
    for k in 0 1 2; do
        "$BENCH" fanout --port $((PORT + k)) -s 16667 -r "$rate" -d "$DURATION" --threads 1 --topic "many$k" \
            --source-address "127.0.0.$((10 + k))" --machine > "$WORK/many-$k.out" 2>&1 &
        benches+=($!)
    done
    for pid in "${benches[@]}"; do wait "$pid" || true; done
    local ready=0 lost=0 worst=0
    for k in 0 1 2; do
        line=$(grep '^RESULT' "$WORK/many-$k.out" || echo "")
        ready=$((ready + $(echo "$line" | field subscribers)))
        lost=$((lost + $(echo "$line" | field lost)))
        worst=$(awk -v a="$worst" -v b="$(echo "$line" | field p99_ms)" 'BEGIN { print (b > a ? b : a) }')
    done
    row ""
    row "### 50,000 concurrent SSE subscribers (3 instances × 16,667: the limit is 20,000 open files per process), $rate/s per instance's topic"
    row ""
    row "| subscribers connected | lost | worst p99 ms |"
    row "| --- | --- | --- |"
    row "| $ready | $lost | $worst |"
    stop_herald_all
}

header="# Herald benchmark $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $(uname -m), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), ${DURATION} s per measurement$( (env | grep -o '^HERALD_[A-Z_]*=[^ ]*' || true) | sed 's/^/, /' | tr -d '\n')"
echo "$header"
for scenario in $SCENARIOS; do
    "scenario_$scenario"
done

mkdir -p "$ROOT/bench/results"
stamp="$(date -u +%Y%m%d-%H%M)-$(git -C "$ROOT" rev-parse --short HEAD)"
out="$ROOT/bench/results/$stamp.md"
{ echo "$header"; printf '%s\n' "${RESULTS[@]}"; } > "$out"
if [ ${#PLOT[@]} -gt 0 ]; then
    printf '%s\n' "${PLOT[@]}" | python3 "$ROOT/bench/plot.py" > "$ROOT/bench/results/$stamp-p99.svg"
    cp "$ROOT/bench/results/$stamp-p99.svg" "$ROOT/docs/fanout-p99.svg"
    echo "plot: bench/results/$stamp-p99.svg (copied to docs/fanout-p99.svg)"
fi
echo
echo "written to ${out#$ROOT/}"
