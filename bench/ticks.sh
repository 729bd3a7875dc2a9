# shellcheck shell=bash
# CPU time of a process tree, shared by bench/compare.sh and bench/lib.sh; sourced, not run.

# CPU ticks (user + system, children reaped included) of PID and of its children: a
# postmaster's ticks cover its backends, those that ended too; a Herald's its threads.
tree_ticks() {
    local total=0 p t
    for p in "$1" $(pgrep -P "$1" || true); do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2> /dev/null) || continue
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
