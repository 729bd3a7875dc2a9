# shellcheck shell=bash
# Helpers shared by bench/replication.sh and bench/clusters.sh; sourced, not run.
#
# They start throwaway PostgreSQL clusters the way Herald's embedded server does
# (Sources/HeraldPostgres/Embedded): initdb with trust authentication, a Unix socket in a
# private folder and no TCP port; as root, the server runs as the `postgres` user, which
# owns its folders (0700) and is given passage to the work folder with setfacl. Every
# process started here is tracked by PID (Herald, the load generators) or by data
# directory (PostgreSQL) and stopped on exit, Ctrl-C included; the work folder is removed.
#
# Needs: a release build (.build/release/herald, .build/release/herald-bench), PostgreSQL's
# server binaries (PGBIN, default the newest /usr/lib/postgresql/*/bin), curl, ss (iproute2),
# and as root the `postgres` user, runuser and setfacl (acl).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
HERALD=$ROOT/.build/release/herald
BENCH=$ROOT/.build/release/herald-bench
PGBIN=${PGBIN:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)}
PG_USER=
[ "$(id -u)" = 0 ] && PG_USER=postgres
HZ=$(getconf CLK_TCK)
# shellcheck source=bench/ticks.sh
source "$ROOT/bench/ticks.sh"

[ -x "$HERALD" ] && [ -x "$BENCH" ] || { echo "build first: make release" >&2; exit 1; }
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }
for tool in curl ss timeout; do command -v "$tool" > /dev/null || { echo "$tool is missing" >&2; exit 1; }; done
if [ -n "$PG_USER" ]; then
    getent passwd "$PG_USER" > /dev/null || { echo "run as root, PostgreSQL needs the $PG_USER user (apt-get install postgresql)" >&2; exit 1; }
    command -v runuser > /dev/null || { echo "runuser is missing (util-linux)" >&2; exit 1; }
fi

WORK=
CLUSTERS=()   # names of the clusters started, in order
HERALD_PIDS=()
LOAD_PIDS=()
RESULTS=()

# Creates the work folder and installs the cleanup; call once, first.
bench_init() {
    WORK=$(mktemp -d "/tmp/herald-$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [ -n "$PG_USER" ]; then
        # The server user may pass through (not list) the work folder, nothing more.
        if command -v setfacl > /dev/null; then
            setfacl -m "u:$PG_USER:x" "$WORK"
        else
            chmod 711 "$WORK"
        fi
    fi
}

bench_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    local pid i
    for pid in "${LOAD_PIDS[@]}"; do kill -TERM "$pid" 2> /dev/null; done
    for pid in "${LOAD_PIDS[@]}"; do wait "$pid" 2> /dev/null; done
    for pid in "${HERALD_PIDS[@]}"; do stop_process "$pid"; done
    for ((i = ${#CLUSTERS[@]} - 1; i >= 0; i--)); do pg_stop "${CLUSTERS[i]}"; done
    [ -n "$WORK" ] && rm -rf "$WORK"
    exit "$status"
}

# Runs a command as the PostgreSQL server user (from /, which that user can enter).
as_pg() {
    if [ -n "$PG_USER" ]; then (cd / && runuser -u "$PG_USER" -- "$@"); else "$@"; fi
}

cluster_dir() { echo "$WORK/$1"; }
pg_conninfo() { echo "host=$(cluster_dir "$1")/run port=5432 user=postgres dbname=postgres"; }
psql_on() { local name=$1; shift; "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$(pg_conninfo "$name")" "$@"; }
postmaster_pid() { head -1 "$(cluster_dir "$1")/pgdata/postmaster.pid" 2> /dev/null || true; }

# Makes the folders of cluster NAME: NAME/{pgdata,run,log}, the server user's, 0700.
pg_folders() {
    local dir
    dir=$(cluster_dir "$1")
    mkdir -m 700 "$dir" "$dir/run" "$dir/log"
    [ -n "$PG_USER" ] && chown -R "$PG_USER:" "$dir"
    return 0
}

# A new cluster NAME, configured like Herald's embedded server.
pg_init() {
    local dir
    dir=$(cluster_dir "$1")
    pg_folders "$1"
    as_pg "$PGBIN/initdb" -D "$dir/pgdata" -U postgres --auth=trust -E UTF8 --no-locale --no-instructions > "$dir/log/initdb.log" 2>&1 ||
        { cat "$dir/log/initdb.log" >&2; return 1; }
    # Appended by this user (root may write the server user's file; the owner stays).
    printf '%s\n' "" "# bench/lib.sh: as Herald's embedded server" "listen_addresses = ''" \
        "unix_socket_permissions = 0700" "max_connections = 200" >> "$dir/pgdata/postgresql.conf"
}

# Starts cluster NAME on its private socket folder.
pg_start() {
    local dir
    dir=$(cluster_dir "$1")
    CLUSTERS+=("$1")
    as_pg "$PGBIN/pg_ctl" -D "$dir/pgdata" -l "$dir/log/postgresql.log" -w -t 120 \
        -o "-k $dir/run -p 5432 -c unix_socket_permissions=0700" start > /dev/null ||
        { tail -20 "$dir/log/postgresql.log" >&2; return 1; }
}

pg_stop() {
    local dir pid
    dir=$(cluster_dir "$1")
    [ -f "$dir/pgdata/postmaster.pid" ] || return 0
    pid=$(postmaster_pid "$1")
    as_pg "$PGBIN/pg_ctl" -D "$dir/pgdata" -m fast -w -t 60 stop > /dev/null 2>&1 && return 0
    # Still up: that postmaster (ours: its data directory is in our work folder) is killed.
    if [ -n "$pid" ] && grep -qs "$dir/pgdata" "/proc/$pid/cmdline"; then kill -KILL "$pid" 2> /dev/null; fi
    return 0
}

# The first port from $1 up that nothing listens on.
free_port() {
    local port=$1
    while [ -n "$(ss -Hltn "( sport = :$port )")" ]; do port=$((port + 1)); done
    echo "$port"
}

# Starts `herald serve` on PORT over the database CONNINFO (more options after); sets
# HERALD_PID once /readyz answers 200.
herald_start() {
    local port=$1 conninfo=$2
    shift 2
    "$HERALD" serve --port "$port" --database-url "$conninfo" --log-level warning "$@" > "$WORK/herald-$port.log" 2>&1 &
    HERALD_PID=$!
    HERALD_PIDS+=("$HERALD_PID")
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && return 0
        kill -0 "$HERALD_PID" 2> /dev/null || break
        sleep 0.1
    done
    echo "herald serve on port $port did not become ready:" >&2
    tail -20 "$WORK/herald-$port.log" >&2
    return 1
}

# SIGTERM, then SIGKILL after 20 s; forgets the PID.
stop_process() {
    local pid=$1 kept=() p
    if kill -TERM "$pid" 2> /dev/null; then
        for _ in $(seq 1 200); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2> /dev/null || true
    fi
    wait "$pid" 2> /dev/null || true
    for p in "${HERALD_PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    HERALD_PIDS=("${kept[@]}")
}

stop_heralds() { local pid; for pid in "${HERALD_PIDS[@]}"; do stop_process "$pid"; done; }

# Starts `herald-bench publish` in the background, its output in FILE (more options after
# the URL); sets LOAD_PID. A run that outlives its duration by a minute is stopped (a
# publish waiting for a standby that never answers would otherwise hold it forever).
load_start() {
    local file=$1 url=$2
    shift 2
    timeout -k 5 $((${DURATION%.*} + 60)) "$BENCH" publish --url "$url" -d "$DURATION" --machine "$@" > "$file" 2>&1 &
    LOAD_PID=$!
    LOAD_PIDS+=("$LOAD_PID")
}

# Waits for every load generator; fails, showing its output, if one printed no RESULT.
load_wait() {
    local pid file
    for pid in "${LOAD_PIDS[@]}"; do wait "$pid" || true; done
    LOAD_PIDS=()
    for file in "$@"; do
        grep -q '^RESULT' "$file" || { echo "herald-bench failed:" >&2; cat "$file" >&2; return 1; }
    done
}

result_line() { grep '^RESULT' "$1"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }


# "busy total" ticks of the whole machine, from /proc/stat.
machine_ticks() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat; }

# Cores used between two tick counts over SECONDS, e.g. 1.23.
cores() { awk -v a="$1" -v b="$2" -v s="$3" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz / s }'; }
busy_percent() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; p = 0; if (d > 0) p = 100 * (y[1] - x[1]) / d; printf "%.0f %%", p }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }'; }
mean() { printf '%s\n' "$@" | awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n }'; }

row() { RESULTS+=("$1"); printf '%s\n' "$1"; }

# The first line of a results file: what, when, which commit, which machine.
results_header() {
    local commit dirty=""
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)
    [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2> /dev/null)" ] && dirty=" (uncommitted changes)"
    printf '# %s %s, commit %s%s, herald built %s, %s cores, %s, %s, %s, %s s per measurement, %s rounds%s\n' \
        "$1" "$(date -u +%Y-%m-%dT%H:%MZ)" "$commit" "$dirty" "$(date -u -r "$HERALD" +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$(uname -srm)" \
        "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "$("$PGBIN/postgres" --version)" \
        "$DURATION" "$ROUNDS" "$( (env | grep -o '^HERALD_[A-Z_]*=[^ ]*' | grep -v '^HERALD_AUTH_SECRET' || true) | sed 's/^/, /' | tr -d '\n')"
}

# The mean of RATE[<prefix>|<round>] over rounds 1..ROUNDS: a baseline for ratios.
round_mean() {
    local values=() round
    for round in $(seq 1 "$ROUNDS"); do values+=("${RATE[$1|$round]}"); done
    mean "${values[@]}"
}

# Writes HEADER and the rows to $RESULTS_DIR/NAME-<date>.md.
write_results() {
    local name=$1 header=$2 out
    mkdir -p "$RESULTS_DIR"
    out="$RESULTS_DIR/$name-$(date -u +%Y%m%d-%H%M).md"
    { echo "$header"; printf '%s\n' "${RESULTS[@]}"; } > "$out"
    echo
    echo "written to ${out#"$ROOT"/}"
}
