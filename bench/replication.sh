#!/usr/bin/env bash
# What synchronous streaming replication costs Herald's durable publish, side by side in
# one run on this machine.
#
#   bench/replication.sh
#   DURATION=20 ROUNDS=3 bench/replication.sh
#
# It makes, in a fresh folder under /tmp, a primary PostgreSQL cluster (initdb) and a
# streaming replica of it (pg_basebackup -R, with a replication slot so that the primary
# keeps whatever WAL an async replica still lacks), each on a Unix socket in a private
# folder (no TCP port; replication goes over the primary's socket too), starts one
# `herald serve` (release build) on the primary, and runs `herald-bench publish`:
#
#   single publishes at concurrency 64 and 1, and the batch endpoint (100 per request) at
#   concurrency 16, all over 16 topics,
#
# under three settings of the primary, switched with ALTER SYSTEM + pg_reload_conf():
#
#   async   synchronous_standby_names = ''   (the replica streams, commits do not wait)
#   sync    synchronous_standby_names = '*', synchronous_commit = on   (remote flush)
#   apply   synchronous_standby_names = '*', synchronous_commit = remote_apply
#
# Before each measurement pg_stat_replication must show the replica `async` or `sync` as
# the setting says, and the replica must have replayed everything. Every scenario is
# measured under each setting ROUNDS times, interleaved (async sync apply, then apply sync
# async, ...), so that drift on a shared machine falls on every setting alike. The replica
# runs on this machine: its CPU is taken from the same cores (the CPU columns show it).
#
# Environment: DURATION (seconds per measurement, after herald-bench's 1 s warm-up;
# default 10), ROUNDS (default 2), RESULTS_DIR (default bench/results), PGBIN (default the
# newest /usr/lib/postgresql/*/bin); HERALD_* variables reach `herald serve`.
# Needs: a release build (make release), PostgreSQL's server binaries, curl, ss; as root
# (PostgreSQL then runs as the `postgres` user) runuser and setfacl.
# Prints one Markdown table and writes it, with the date, machine and commit, to
# bench/results/replication-<date>.md. Everything it starts is stopped on exit or Ctrl-C,
# and its folder is removed.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

SETTINGS=(async sync apply)
declare -A SETTING_LABEL=(
    [async]="async: synchronous_standby_names=''"
    [sync]="sync: '*', synchronous_commit=on"
    [apply]="sync: '*', synchronous_commit=remote_apply"
)
declare -A EXPECTED_STATE=([async]=async [sync]=sync [apply]=sync)
declare -A STANDBYS=([async]="" [sync]="*" [apply]="*")
declare -A COMMIT=([async]=on [sync]=on [apply]=remote_apply)

SCENARIOS=(single64 single1 batch16)
declare -A SCENARIO_LABEL=([single64]="single, c=64" [single1]="single, c=1" [batch16]="batch 100, c=16")
declare -A SCENARIO_ARGS=([single64]="-c 64 -t 16" [single1]="-c 1 -t 16" [batch16]="-c 16 -t 16 --batch 100")

declare -A RATE P50 P99 ERRORS STATE HCPU PCPU RCPU CCPU BUSY

# Switches the primary to SETTING and waits until pg_stat_replication agrees.
apply_setting() {
    local setting=$1 expected=${EXPECTED_STATE[$1]} state=""
    psql_on primary -c "ALTER SYSTEM SET synchronous_standby_names = '${STANDBYS[$setting]}'" \
        -c "ALTER SYSTEM SET synchronous_commit = '${COMMIT[$setting]}'" -c "SELECT pg_reload_conf()" > /dev/null
    for _ in $(seq 1 100); do
        state=$(psql_on primary -c "SELECT coalesce(string_agg(sync_state || '/' || state, ','), 'none') FROM pg_stat_replication
            WHERE current_setting('synchronous_commit') = '${COMMIT[$setting]}'
              AND current_setting('synchronous_standby_names') = '${STANDBYS[$setting]}'")
        [ "$state" = "$expected/streaming" ] && { STATE_NOW=$expected; return 0; }
        sleep 0.1
    done
    echo "the replica is not $expected under $setting (pg_stat_replication: ${state:-?})" >&2
    return 1
}

# Waits (up to 60 s) until the replica has replayed all the primary's WAL.
wait_replayed() {
    local lag=""
    for _ in $(seq 1 600); do
        lag=$(psql_on primary -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication")
        [ -n "$lag" ] && [ "${lag%%.*}" -le 0 ] && return 0
        sleep 0.1
    done
    echo "warning: the replica is still ${lag:-?} bytes behind; measuring anyway" >&2
}

measure() {
    local scenario=$1 setting=$2 round=$3 key="$1|$2|$3" out=$WORK/load.out
    apply_setting "$setting"
    wait_replayed
    # shellcheck disable=SC2086 # the scenario's options are words
    load_start "$out" "$URL" ${SCENARIO_ARGS[$scenario]}
    sleep 1 # herald-bench's warm-up second is not measured
    local t0 h0 p0 r0 m0 t1 s line
    t0=$(now); h0=$(tree_ticks "$HERALD_PID"); p0=$(tree_ticks "$PRIMARY_PID"); r0=$(tree_ticks "$REPLICA_PID"); m0=$(machine_ticks)
    load_wait "$out"
    t1=$(now)
    s=$(elapsed "$t0" "$t1")
    HCPU[$key]=$(cores "$h0" "$(tree_ticks "$HERALD_PID")" "$s")
    PCPU[$key]=$(cores "$p0" "$(tree_ticks "$PRIMARY_PID")" "$s")
    RCPU[$key]=$(cores "$r0" "$(tree_ticks "$REPLICA_PID")" "$s")
    BUSY[$key]=$(busy_percent "$m0" "$(machine_ticks)")
    line=$(result_line "$out")
    RATE[$key]=$(echo "$line" | field notifications_per_s)
    P50[$key]=$(echo "$line" | field p50_ms)
    P99[$key]=$(echo "$line" | field p99_ms)
    ERRORS[$key]=$(echo "$line" | field errors)
    CCPU[$key]=$(echo "$line" | field client_cpu)
    STATE[$key]=$STATE_NOW
    printf '  round %s, %s, %s: %s notifications/s, p50 %s ms, p99 %s ms, %s errors\n' "$round" "${SCENARIO_LABEL[$scenario]}" \
        "$setting" "${RATE[$key]}" "${P50[$key]}" "${P99[$key]}" "${ERRORS[$key]}" >&2
}

bench_init replication
echo "setting up a primary and a streaming replica in $WORK" >&2
pg_init primary
pg_start primary
PRIMARY_PID=$(postmaster_pid primary)
pg_folders replica
as_pg "$PGBIN/pg_basebackup" -D "$(cluster_dir replica)/pgdata" -h "$(cluster_dir primary)/run" -p 5432 -U postgres \
    -R -X stream -C -S replica -c fast > "$(cluster_dir replica)/log/basebackup.log" 2>&1 ||
    { cat "$(cluster_dir replica)/log/basebackup.log" >&2; exit 1; }
pg_start replica
REPLICA_PID=$(postmaster_pid replica)
[ "$(psql_on replica -c 'SELECT pg_is_in_recovery()')" = t ] || { echo "the replica is not in recovery" >&2; exit 1; }

PORT=$(free_port 18180)
URL=http://127.0.0.1:$PORT
herald_start "$PORT" "$(pg_conninfo primary)"

HEADER=$(results_header "Herald: synchronous replication, primary + streaming replica on this machine,")
echo "$HEADER"
for round in $(seq 1 "$ROUNDS"); do
    order=("${SETTINGS[@]}")
    [ $((round % 2)) = 0 ] && order=(apply sync async)
    for scenario in "${SCENARIOS[@]}"; do
        for setting in "${order[@]}"; do measure "$scenario" "$setting" "$round"; done
    done
done
apply_setting async
stop_heralds

row ""
row "### Durable publish through Herald on the primary, by the primary's replication setting"
row ""
row "16 topics, 64 B payloads. Replica: pg_stat_replication's sync_state/state checked before each measurement. CPU in cores used over the measured seconds (Herald, primary and replica PostgreSQL with their backends, herald-bench); machine busy: all $(nproc) cores."
row ""
row "| setting | scenario | round | notifications/s | p50 ms | p99 ms | errors | ÷ async | replica | Herald CPU | primary CPU | replica CPU | client CPU | machine busy |"
row "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for scenario in "${SCENARIOS[@]}"; do
    async_mean=$(round_mean "$scenario|async")
    for setting in "${SETTINGS[@]}"; do
        for round in $(seq 1 "$ROUNDS"); do
            k="$scenario|$setting|$round"
            row "| ${SETTING_LABEL[$setting]} | ${SCENARIO_LABEL[$scenario]} | $round | ${RATE[$k]} | ${P50[$k]} | ${P99[$k]} | ${ERRORS[$k]} | $(ratio "${RATE[$k]}" "$async_mean") | ${STATE[$k]} | ${HCPU[$k]} | ${PCPU[$k]} | ${RCPU[$k]} | ${CCPU[$k]} | ${BUSY[$k]} |"
        done
    done
done

write_results replication "$HEADER"
