#!/usr/bin/env bash
# The write ceiling with topics spread over two PostgreSQL clusters against one, in one
# run on this machine.
#
#   bench/clusters.sh
#   DURATION=20 ROUNDS=3 bench/clusters.sh
#
# Herald does not route topics across clusters; this emulates what hash-partitioned
# topics would do. It makes, in a fresh folder under /tmp, two PostgreSQL clusters
# (initdb + pg_ctl, configured like Herald's embedded server: a Unix socket in a private
# folder, no TCP port), and for each configuration starts the `herald serve` instances
# (release build) it needs, on loopback ports found free from 18280 up:
#
#   one instance   one cluster, one instance, one herald-bench: c=2×CONCURRENCY over
#                  2×TOPICS topics (the baseline: the whole load through one server)
#   two instances  one cluster, two instances on it, one herald-bench on each
#   two clusters   two clusters, one instance on each, one herald-bench on each
#
# With two instances, two `herald-bench publish` run at once, each at c=CONCURRENCY over
# TOPICS topics of its own (distinct names per instance); their notifications/s are summed
# and each one's p50/p99 is shown. Single publishes, then the batch endpoint (100 per
# request), at the same concurrency. Only the instances of the configuration being
# measured run (an idle instance on a cluster would still be woken by its NOTIFYs). The
# configurations are interleaved, ROUNDS times (one, two instances, two clusters, then
# the other way round, ...). Everything shares this machine's cores: with both clusters
# here, "two clusters" shows what a second server process costs or gains on the same
# CPUs, not what a second machine would (the CPU columns tell which side is saturated).
#
# Environment: DURATION (seconds per measurement, after herald-bench's 1 s warm-up;
# default 10), ROUNDS (default 2), CONCURRENCY (per instance, default 32), TOPICS (per
# instance, default 8), RESULTS_DIR (default bench/results), PGBIN (default the newest
# /usr/lib/postgresql/*/bin); HERALD_* variables reach `herald serve`.
# Needs: a release build (make release), PostgreSQL's server binaries, curl, ss; as root
# (PostgreSQL then runs as the `postgres` user) runuser and setfacl.
# Prints one Markdown table and writes it, with the date, machine and commit, to
# bench/results/clusters-<date>.md. Everything it starts is stopped on exit or Ctrl-C,
# and its folder is removed.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
CONCURRENCY=${CONCURRENCY:-32}
TOPICS=${TOPICS:-8}

CONFIGS=(one shared split)
declare -A CONFIG_LABEL=(
    [one]="one cluster, one instance"
    [shared]="one cluster, two instances"
    [split]="two clusters, one instance each"
)
MODES=(single batch)
declare -A MODE_LABEL=([single]="single publishes" [batch]="batch 100")
declare -A MODE_ARGS=([single]="" [batch]="--batch 100")

declare -A RATE EACH P50 P99 ERRORS HCPU PGCPU CCPU BUSY

sum() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.0f", s }'; }
sum2() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.2f", s }'; }
joined() { local IFS=, s; s="$*"; echo "${s//,/, }"; }

measure() {
    local config=$1 mode=$2 round=$3 key="$1|$2|$3"
    local outs=() heralds lines=() line
    case $config in
        one) herald_start "$PORT1" "$(pg_conninfo c1)" ;;
        shared)
            herald_start "$PORT1" "$(pg_conninfo c1)"
            herald_start "$PORT2" "$(pg_conninfo c1)"
            ;;
        split)
            herald_start "$PORT1" "$(pg_conninfo c1)"
            herald_start "$PORT2" "$(pg_conninfo c2)"
            ;;
    esac
    heralds=("${HERALD_PIDS[@]}")
    # shellcheck disable=SC2086 # MODE_ARGS are words
    if [ "$config" = one ]; then
        outs=("$WORK/load-1.out")
        load_start "${outs[0]}" "http://127.0.0.1:$PORT1" -c $((2 * CONCURRENCY)) -t $((2 * TOPICS)) --topic-prefix all ${MODE_ARGS[$mode]}
    else
        outs=("$WORK/load-1.out" "$WORK/load-2.out")
        load_start "${outs[0]}" "http://127.0.0.1:$PORT1" -c "$CONCURRENCY" -t "$TOPICS" --topic-prefix half1 ${MODE_ARGS[$mode]}
        load_start "${outs[1]}" "http://127.0.0.1:$PORT2" -c "$CONCURRENCY" -t "$TOPICS" --topic-prefix half2 ${MODE_ARGS[$mode]}
    fi
    sleep 1 # herald-bench's warm-up second is not measured
    local t0 h0=() c10 c20 m0 s pid i h=0
    t0=$(now); for pid in "${heralds[@]}"; do h0+=("$(tree_ticks "$pid")"); done
    c10=$(tree_ticks "$C1_PID"); c20=$(tree_ticks "$C2_PID"); m0=$(machine_ticks)
    load_wait "${outs[@]}"
    s=$(elapsed "$t0" "$(now)")
    for i in "${!heralds[@]}"; do h=$((h + $(tree_ticks "${heralds[i]}") - h0[i])); done
    HCPU[$key]=$(cores 0 "$h" "$s")
    PGCPU[$key]=$(cores "$((c10 + c20))" "$(($(tree_ticks "$C1_PID") + $(tree_ticks "$C2_PID")))" "$s")
    BUSY[$key]=$(busy_percent "$m0" "$(machine_ticks)")
    stop_heralds
    for i in "${!outs[@]}"; do lines+=("$(result_line "${outs[i]}")"); done
    local rates=() p50s=() p99s=() errors=() cpus=()
    for line in "${lines[@]}"; do
        rates+=("$(echo "$line" | field notifications_per_s)")
        p50s+=("$(echo "$line" | field p50_ms)")
        p99s+=("$(echo "$line" | field p99_ms)")
        errors+=("$(echo "$line" | field errors)")
        cpus+=("$(echo "$line" | field client_cpu)")
    done
    RATE[$key]=$(sum "${rates[@]}")
    EACH[$key]=$(joined "${rates[@]}")
    P50[$key]=$(joined "${p50s[@]}")
    P99[$key]=$(joined "${p99s[@]}")
    ERRORS[$key]=$(sum "${errors[@]}")
    CCPU[$key]=$(sum2 "${cpus[@]}")
    printf '  round %s, %s, %s: %s notifications/s (%s), p99 %s ms, %s errors\n' "$round" "${MODE_LABEL[$mode]}" \
        "${CONFIG_LABEL[$config]}" "${RATE[$key]}" "${EACH[$key]}" "${P99[$key]}" "${ERRORS[$key]}" >&2
}

bench_init clusters
echo "setting up two clusters in $WORK" >&2
for cluster in c1 c2; do pg_init "$cluster"; pg_start "$cluster"; done
C1_PID=$(postmaster_pid c1)
C2_PID=$(postmaster_pid c2)
PORT1=$(free_port 18280)
PORT2=$(free_port $((PORT1 + 1)))

HEADER=$(results_header "Herald: topics over two PostgreSQL clusters against one, all on this machine,")
echo "$HEADER"
for round in $(seq 1 "$ROUNDS"); do
    order=("${CONFIGS[@]}")
    [ $((round % 2)) = 0 ] && order=(split shared one)
    for mode in "${MODES[@]}"; do
        for config in "${order[@]}"; do measure "$config" "$mode" "$round"; done
    done
done

row ""
row "### Write ceiling: one cluster against two (topics split in halves, one herald-bench per instance)"
row ""
row "Load: one instance gets c=$((2 * CONCURRENCY)) over $((2 * TOPICS)) topics; with two instances each gets c=$CONCURRENCY over $TOPICS topics of its own, at once. 64 B payloads. Per-instance figures in instance order. CPU in cores used over the measured seconds (all Herald instances, both clusters with their backends, all herald-bench); machine busy: all $(nproc) cores."
row ""
row "| configuration | scenario | round | notifications/s (sum) | each instance | p50 ms (each) | p99 ms (each) | errors | ÷ one instance | Herald CPU | PostgreSQL CPU | client CPU | machine busy |"
row "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for mode in "${MODES[@]}"; do
    base=$(round_mean "one|$mode")
    for config in "${CONFIGS[@]}"; do
        for round in $(seq 1 "$ROUNDS"); do
            k="$config|$mode|$round"
            row "| ${CONFIG_LABEL[$config]} | ${MODE_LABEL[$mode]} | $round | ${RATE[$k]} | ${EACH[$k]} | ${P50[$k]} | ${P99[$k]} | ${ERRORS[$k]} | $(ratio "${RATE[$k]}" "$base") | ${HCPU[$k]} | ${PGCPU[$k]} | ${CCPU[$k]} | ${BUSY[$k]} |"
        done
    done
done

write_results clusters "$HEADER"
