#!/usr/bin/env bash
# Patroni trial, end to end: one etcd and two Patroni members (PostgreSQL 15) on loopback;
# a leader is elected, the replica streams synchronously; then the leader's Patroni is
# SIGKILLed and its PostgreSQL stopped with `pg_ctl stop -m immediate`, and the script
# times how long until the other member is leader and accepts writes; then the killed
# member is started again and must come back as a replica (pg_rewind), not as a primary.
# Everything it starts is stopped at the end (by PID). Every wait is bounded; it exits 1
# (FAILED) when one runs out, when the killed member comes back as a primary, or when an
# acknowledged write is missing on the new primary.
#
# Needs root (PostgreSQL runs as `postgres`): apt-get install -y patroni etcd-server
# Ports: etcd 2379/2380, Patroni REST 8008/8009, PostgreSQL 5441/5442, all on 127.0.0.1.
#
# From the repository: bench/patroni/run.sh (docs/operations.md, section 5, says what it
# showed). It works in WORK (default /tmp/herald-patroni), where pg1.yml and pg2.yml are
# copied with their paths (@TRIAL@) filled in. Not part of `make test`: a failover takes
# the leader key's time to live (10 to 30 s), and etcd stalls on a loaded machine.
#
# TTL, LOOP_WAIT and RETRY_TIMEOUT (default 30, 10, 10, as in pg1.yml and pg2.yml) change the
# leader key's settings for this run (the members run copies of the files in run/):
#   TTL=10 LOOP_WAIT=2 RETRY_TIMEOUT=4 ./run.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# Everything runs in WORK (data, logs, pid files, the members' configurations), not here.
WORK=${WORK:-/tmp/herald-patroni}
mkdir -p "$WORK"
cd "$WORK"
TRIAL=$WORK
BIN=/usr/lib/postgresql/15/bin
export PGPASSWORD=trial-superuser-secret
WRITE_URL='host=127.0.0.1,127.0.0.1 port=5441,5442 dbname=postgres user=postgres target_session_attrs=read-write connect_timeout=2'

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
log() { echo "[$(date +%H:%M:%S.%3N)] $*"; }
# Fails the trial (exit 1) when a wait runs out: every wait below is bounded.
fail() { log "FAILED: $*"; exit 1; }
deadline() { echo $(( $(date +%s) + $1 )); }
due() { [ "$(date +%s)" -ge "$1" ]; }
pids=()

cleanup() {
    log "cleanup: stopping what this script started"
    [ -n "${WRITER:-}" ] && kill "$WRITER" 2>/dev/null
    for n in 1 2; do
        [ -f run/patroni-pg$n.pid ] && kill -TERM "$(cat run/patroni-pg$n.pid)" 2>/dev/null
    done
    for _ in $(seq 1 60); do
        alive=0
        for n in 1 2; do [ -f run/patroni-pg$n.pid ] && kill -0 "$(cat run/patroni-pg$n.pid)" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.5
    done
    for n in 1 2; do   # a Patroni that did not stop within 30 s (etcd unreachable), then its PostgreSQL
        [ -f run/patroni-pg$n.pid ] && kill -KILL "$(cat run/patroni-pg$n.pid)" 2>/dev/null
        [ -f data/pg$n/postmaster.pid ] && runuser -u postgres -- $BIN/pg_ctl stop -D data/pg$n -m fast -t 30 >/dev/null 2>&1
        [ -f data/pg$n/postmaster.pid ] && runuser -u postgres -- $BIN/pg_ctl stop -D data/pg$n -m immediate >/dev/null 2>&1
    done
    [ -f run/etcd.pid ] && kill -TERM "$(cat run/etcd.pid)" 2>/dev/null
    sleep 1
    log "cleanup done"
}
trap cleanup EXIT

for port in 2379 2380 8008 8009 5441 5442; do
    if ss -Hltn "sport = :$port" | grep -q .; then echo "port $port is taken; stop here" >&2; trap - EXIT; exit 1; fi
done

rm -rf data etcd run logs
mkdir -p data run logs etcd
chown postgres:postgres data run logs
chmod 0700 data
chmod 0755 run logs
chmod 0700 etcd

TTL=${TTL:-30}; LOOP_WAIT=${LOOP_WAIT:-10}; RETRY_TIMEOUT=${RETRY_TIMEOUT:-10}
for n in 1 2; do
    sed -e "s/^    ttl: 30 /    ttl: $TTL /" -e "s/^    loop_wait: 10 /    loop_wait: $LOOP_WAIT /" \
        -e "s/^    retry_timeout: 10$/    retry_timeout: $RETRY_TIMEOUT/" -e "s#@TRIAL@#$WORK#g" "$HERE/pg$n.yml" >run/pg$n.yml
done
chown postgres:postgres run/pg1.yml run/pg2.yml
log "ttl $TTL, loop_wait $LOOP_WAIT, retry_timeout $RETRY_TIMEOUT"

log "starting etcd"
etcd --name etcd1 --data-dir "$TRIAL/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster etcd1=http://127.0.0.1:2380 --initial-cluster-state new \
    --initial-cluster-token herald-trial >logs/etcd.log 2>&1 &
echo $! >run/etcd.pid
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:2379/health >/dev/null && break; sleep 0.2; done
curl -s http://127.0.0.1:2379/health; echo

start_member() {   # start_member N: Patroni as postgres, its PID in run/patroni-pgN.pid
    # Without PGPASSWORD: it would win over the pgpass file Patroni writes for pg_basebackup and pg_rewind.
    env -u PGPASSWORD runuser -u postgres -- sh -c "echo \$\$ > $TRIAL/run/patroni-pg$1.pid; exec patroni $TRIAL/run/pg$1.yml" \
        >>logs/patroni-pg$1.log 2>&1 &
    for _ in $(seq 1 50); do [ -s run/patroni-pg$1.pid ] && break; sleep 0.1; done
}
rest_port() { echo $((8007 + $1)); }
is_primary() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(rest_port "$1")/primary")" = 200 ]; }
role() { curl -s "http://127.0.0.1:$(rest_port "$1")/patroni" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("role"), d.get("state"), d.get("timeline"))' 2>/dev/null; }
list() { runuser -u postgres -- patronictl -c run/pg1.yml list 2>/dev/null; }

log "starting member pg1"
t=$(now); start_member 1
d=$(deadline 120); until is_primary 1; do due "$d" && fail "no leader within 120 s"; sleep 0.2; done
log "pg1 is leader after $(ms "$t" "$(now)") ms (initdb included)"
log "starting member pg2"
t=$(now); start_member 2
d=$(deadline 180); until [ "$(psql -Atq "host=127.0.0.1 port=5441 user=postgres dbname=postgres" -c "select count(*) from pg_stat_replication where application_name = 'pg2' and state = 'streaming' and sync_state = 'sync'" 2>/dev/null)" = 1 ]; do due "$d" && fail "pg2 not a synchronous standby within 180 s"; sleep 0.5; done
log "pg2 streams as synchronous standby after $(ms "$t" "$(now)") ms (base backup included)"
list
psql -q "host=127.0.0.1 port=5441 user=postgres dbname=postgres" \
    -c "select application_name, state, sync_state from pg_stat_replication" \
    -c "show synchronous_standby_names" -c "show synchronous_commit"

# Which member leads (pg1 normally), which is the other.
if is_primary 1; then L=1; R=2; else L=2; R=1; fi
log "leader pg$L, replica pg$R"

# The writer: a new connection per write through the multi-host string, one a tenth of a second.
( while true; do
    s=$(now)
    if out=$(psql -Atq "$WRITE_URL" -c "create table if not exists t(x int)" -c "insert into t values(1)" -c "select inet_server_port()" 2>&1); then
        echo "$s ok $(echo "$out" | tail -1)"
    else
        echo "$s fail $(echo "$out" | head -1 | tr -d '\n')"
    fi
    sleep 0.1
  done ) >logs/writes.log 2>&1 &
WRITER=$!
sleep 3

log "killing pg$L: SIGKILL to its Patroni, then pg_ctl stop -m immediate"
t0=$(now)
kill -KILL "$(cat run/patroni-pg$L.pid)"
runuser -u postgres -- $BIN/pg_ctl stop -D data/pg$L -m immediate
t_stopped=$(now)
d=$(deadline 120); until is_primary "$R"; do due "$d" && fail "pg$R not leader within 120 s of the kill"; sleep 0.2; done
t_leader=$(now)
log "pg$R is leader (REST /primary 200) $(ms "$t0" "$t_leader") ms after the kill"
d=$(deadline 60); until awk -v t="$t0" '$1 > t && $2 == "ok" { found = 1 } END { exit !found }' logs/writes.log; do due "$d" && fail "no write accepted within 60 s of the new leader"; sleep 0.1; done
first_ok=$(awk -v t="$t0" '$1 > t && $2 == "ok" { print $1; exit }' logs/writes.log)
last_ok_before=$(awk -v t="$t0" '$1 < t && $2 == "ok" { last = $1 } END { print last }' logs/writes.log)
log "first write accepted $(ms "$t0" "$first_ok") ms after the kill (last before it: $(ms "$last_ok_before" "$t0") ms before)"
list

log "restarting pg$L"
t1=$(now)
start_member "$L"
d=$(deadline 180)
until [ "$(psql -Atq "host=127.0.0.1 port=$((5440 + R)) user=postgres dbname=postgres" -c "select count(*) from pg_stat_replication where application_name = 'pg$L' and state = 'streaming'" 2>/dev/null)" = 1 ]; do
    is_primary "$L" && fail "SPLIT BRAIN: pg$L came back as a primary"
    due "$d" && fail "pg$L does not stream within 180 s of its restart"
    sleep 0.5
done
t_streams=$(now)
log "pg$L streams from pg$R $(ms "$t1" "$t_streams") ms after its restart"
until [ "$(psql -Atq "host=127.0.0.1 port=$((5440 + R)) user=postgres dbname=postgres" -c "select sync_state from pg_stat_replication where application_name = 'pg$L'" 2>/dev/null)" = sync ]; do due "$d" && fail "pg$L not synchronous within 180 s"; sleep 0.5; done
t_sync=$(now)
log "pg$L is the synchronous standby again $(ms "$t1" "$t_sync") ms after its restart"
log "pg$L in recovery: $(psql -Atq "host=127.0.0.1 port=$((5440 + L)) user=postgres dbname=postgres" -c 'select pg_is_in_recovery()')"
log "pg$L: $(role "$L"); pg$R: $(role "$R")"
log "pg$L's log on rewind:"; grep -iE "rewind|crash recovery|single" logs/patroni-pg$L.log | tail -8
list

kill "$WRITER"; WRITER=
echo
echo "== timings =="
echo "kill to leader (REST /primary on pg$R): $(ms "$t0" "$t_leader") ms"
echo "kill to first accepted write:           $(ms "$t0" "$first_ok") ms"
echo "writes failed in between:               $(awk -v t="$t0" -v f="$first_ok" '$1 >= t && $1 < f && $2 == "fail"' logs/writes.log | wc -l)"
echo "restart to streaming replica:           $(ms "$t1" "$t_streams") ms (pg_rewind included)"
echo "restart to synchronous standby again:   $(ms "$t1" "$t_sync") ms"
rows=$(psql -Atq "$WRITE_URL" -c 'select count(*) from t')
acked=$(awk '$2 == "ok"' logs/writes.log | wc -l)
echo "writes acknowledged: $acked, rows on the new primary: $rows, lost: $((acked - rows))"
[ "$((acked - rows))" -le 0 ] || fail "acknowledged writes were lost"
[ "$(psql -Atq "host=127.0.0.1 port=$((5440 + L)) user=postgres dbname=postgres" -c 'select pg_is_in_recovery()')" = t ] || fail "pg$L is not a standby"
