# Sourced by the load scripts that measure a cluster's CPU (old_new.sh, rmqc/bench.sh):
#   start_cluster BIN WORKERS PORT DIR   # `BIN cluster up` on 127.0.0.1, runtime dir DIR/runtime;
#                                        # sets CLUSTER (its pid) and PIDS (router and workers)
#   stop_cluster                         # SIGINT, and waits for it
#   cpu_ticks                            # utime+stime of PIDS, in clock ticks
#   cpu_seconds BEFORE AFTER             # the difference in seconds
CLUSTER=""
PIDS=""

start_cluster() {
    local bin=$1 workers=$2 port=$3 dir=$4
    mkdir -p "$dir/runtime"
    "$bin" cluster up --workers "$workers" --port "$port" --host 127.0.0.1 --runtime-dir "$dir/runtime" > "$dir/log" 2>&1 &
    CLUSTER=$!
    for _ in $(seq 1 100); do grep -q "broker cluster up" "$dir/log" && break; sleep 0.1; done
    grep -q "broker cluster up" "$dir/log" || { echo "the cluster did not come up:" >&2; cat "$dir/log" >&2; return 1; }
    PIDS=$(pgrep -P "$CLUSTER" | tr '\n' ' ')
}

stop_cluster() {
    [ -z "$CLUSTER" ] || { kill -INT "$CLUSTER" 2>/dev/null || true; wait "$CLUSTER" 2>/dev/null || true; }
    CLUSTER=""
}

# Fields after the ")" closing the command name: utime and stime are the 12th and 13th.
cpu_ticks() {
    for p in $PIDS; do sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || true; done | awk '{s += $12 + $13} END {print s + 0}'
}

cpu_seconds() {
    awk -v b="$1" -v a="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (a - b) / hz}'
}
