#!/usr/bin/env bash
# Which column type a notification's data should have: json (the producer's text, parsed
# by PostgreSQL at every insert to check it; what Herald uses), text (the same, unchecked
# by PostgreSQL) or jsonb (a parsed form, printed again at every read), side by side in
# one run on this machine.
#
#   bench/datatypes.sh
#   DURATION=20 ROUNDS=3 bench/datatypes.sh
#   PAYLOAD=4096 SHAPE=object bench/datatypes.sh   # bigger, structured data: parsing and printing weigh more
#
# It makes one PostgreSQL cluster in a fresh folder under /tmp (as bench/lib.sh does),
# lets `herald serve` (release build) migrate it, and then, for each type in turn (the
# order reversed every other round, so that drift falls on every type alike):
#
#   1. stops Herald, empties the log, turns herald.notifications.data into that type and
#      makes herald.publish_items again with that type (its definition as migrated, its
#      data cast to that type), and starts Herald again;
#   2. measures `herald-bench publish`: single publishes at concurrency 64 and the batch
#      endpoint (100 per request) at concurrency 16, 16 topics, PAYLOAD-byte data;
#   3. measures `herald-bench catchup`: 100,000 notifications stored, then one SSE
#      subscriber reads them from topic:0 (notifications/s of the read).
#
# Environment: PAYLOAD (bytes of each notification's data, default 64), SHAPE (string or
# object, herald-bench's --shape; default string), CATCHUP_MESSAGES (default 100000), DURATION (seconds
# per publish measurement, default 10), ROUNDS (default 2),
# RESULTS_DIR, PGBIN; HERALD_* variables reach `herald serve`. Needs what bench/lib.sh
# needs. Prints one Markdown table and writes it to bench/results/datatypes-<date>.md.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

PAYLOAD=${PAYLOAD:-64}
SHAPE=${SHAPE:-string}
CATCHUP_MESSAGES=${CATCHUP_MESSAGES:-100000}
TYPES=(json text jsonb)
SCENARIOS=(single64 batch16 catchup)
declare -A SCENARIO_LABEL=([single64]="publish, single, c=64" [batch16]="publish, batch 100, c=16" [catchup]="catch-up, one SSE subscriber")
declare -A SCENARIO_ARGS=([single64]="-c 64 -t 16 -p $PAYLOAD --shape $SHAPE" [batch16]="-c 16 -t 16 --batch 100 -p $PAYLOAD --shape $SHAPE")
declare -A RATE P50 P99 ERRORS

# Turns the data column and herald.publish_items into TYPE, from the migrated definition.
use_type() {
    local type=$1
    stop_heralds
    psql_on db -c "TRUNCATE herald.notifications, herald.idempotency_keys, herald.cursors, herald.topics CASCADE" \
        -c "ALTER TABLE herald.notifications ALTER COLUMN data TYPE $type USING data::text::$type" \
        -c "DROP FUNCTION herald.publish_items(boolean, integer[], text[], uuid[], text[], text[], integer[], text[])" > /dev/null
    sed -e "s/data json, deferred boolean/data $type, deferred boolean/" -e "s/r\.data::json AS data/r.data::$type AS data/" \
        -e "s/NULL::text, NULL::json, false/NULL::text, NULL::$type, false/" "$WORK/publish_items.sql" > "$WORK/publish_items-$type.sql"
    [ "$(grep -c "data::$type AS data\|data $type, deferred\|NULL::$type, false" "$WORK/publish_items-$type.sql")" = 3 ] ||
        { echo "herald.publish_items was not rewritten for $type" >&2; return 1; }
    { cat "$WORK/publish_items-$type.sql"; echo ";"; } | psql_on db > /dev/null
    psql_on db -c "VACUUM ANALYZE herald.notifications" > /dev/null
    [ "$(psql_on db -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'herald.notifications'::regclass AND attname = 'data'")" = "$type" ] ||
        { echo "the data column did not become $type" >&2; return 1; }
    herald_start "$PORT" "$(pg_conninfo db)"
}

measure() {
    local scenario=$1 type=$2 round=$3 key="$1|$2|$3" out=$WORK/load.out line
    if [ "$scenario" = catchup ]; then
        line=$(timeout 600 "$BENCH" catchup --port "$PORT" -m "$CATCHUP_MESSAGES" -p "$PAYLOAD" --shape "$SHAPE" --machine | grep '^RESULT') ||
            { echo "herald-bench catchup failed" >&2; return 1; }
        RATE[$key]=$(echo "$line" | field notifications_per_s)
        P50[$key]=-
        P99[$key]=-
        ERRORS[$key]=$(($(echo "$line" | field messages) - $(echo "$line" | sed -n 's/.* received=\([0-9]*\).*/\1/p')))
    else
        # shellcheck disable=SC2086 # the scenario's options are words
        load_start "$out" "$URL" ${SCENARIO_ARGS[$scenario]}
        load_wait "$out"
        line=$(result_line "$out")
        RATE[$key]=$(echo "$line" | field notifications_per_s)
        P50[$key]=$(echo "$line" | field p50_ms)
        P99[$key]=$(echo "$line" | field p99_ms)
        ERRORS[$key]=$(echo "$line" | field errors)
    fi
    printf '  round %s, %s, %s: %s notifications/s, p50 %s ms, p99 %s ms, errors/lost %s\n' "$round" "${SCENARIO_LABEL[$scenario]}" \
        "$type" "${RATE[$key]}" "${P50[$key]}" "${P99[$key]}" "${ERRORS[$key]:-?}" >&2
}

bench_init datatypes
pg_init db
pg_start db
PORT=$(free_port 18190)
URL=http://127.0.0.1:$PORT
herald_start "$PORT" "$(pg_conninfo db)"
psql_on db -c "SELECT pg_get_functiondef('herald.publish_items'::regproc)" > "$WORK/publish_items.sql"
grep -q 'data json, deferred boolean' "$WORK/publish_items.sql" || { echo "herald.publish_items does not return json: migrate first" >&2; exit 1; }

HEADER=$(results_header "Herald: the data column's type, $PAYLOAD B $SHAPE data, one PostgreSQL cluster on this machine,")
echo "$HEADER"
for round in $(seq 1 "$ROUNDS"); do
    order=("${TYPES[@]}")
    [ $((round % 2)) = 0 ] && order=(jsonb text json)
    for type in "${order[@]}"; do
        use_type "$type"
        for scenario in "${SCENARIOS[@]}"; do measure "$scenario" "$type" "$round"; done
    done
done
stop_heralds

row ""
row "### The data column's type: publish and catch-up"
row ""
row "16 topics, $PAYLOAD B of data per notification ($SHAPE); the log emptied before each type. Catch-up: $CATCHUP_MESSAGES notifications read from topic:0 by one SSE subscriber (errors column: notifications lost)."
row ""
row "| scenario | type | round | notifications/s | p50 ms | p99 ms | errors | ÷ json |"
row "| --- | --- | --- | --- | --- | --- | --- | --- |"
for scenario in "${SCENARIOS[@]}"; do
    json_mean=$(round_mean "$scenario|json")
    for type in "${TYPES[@]}"; do
        for round in $(seq 1 "$ROUNDS"); do
            k="$scenario|$type|$round"
            row "| ${SCENARIO_LABEL[$scenario]} | $type | $round | ${RATE[$k]} | ${P50[$k]} | ${P99[$k]} | ${ERRORS[$k]} | $(ratio "${RATE[$k]}" "$json_mean") |"
        done
    done
done

write_results datatypes "$HEADER"
