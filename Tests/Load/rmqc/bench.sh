#!/usr/bin/env bash
# Runs the independent rabbitmq-c load generator (rmqc_perf.c, built here with gcc and
# librabbitmq-dev) against a broker and adds the CPU (utime+stime from /proc/PID/stat, read
# before and after the run, setup and cleanup included) that the broker's processes spent.
#
#   Tests/Load/rmqc/bench.sh --broker-bin .build/release/broker --workers 2 [--port 5697] \
#       -- --producers 1 --consumers 1 --size 16 --duration 10
#       # starts `BIN cluster up` on 127.0.0.1 (its child processes are measured), stops it after
#   Tests/Load/rmqc/bench.sh --external-port 5673 --pids "$(pgrep -d ' ' beam.smp)" -- --duration 10
#       # an already running broker, e.g. RabbitMQ: the given pids are measured
#
# Everything after -- goes to rmqc_perf (rmqc_perf --help); --json output works too.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../cluster.sh"  # before the options: it clears PIDS
BROKER=""; WORKERS=""; PORT=5697; EXTERNAL=""; PIDS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --broker-bin) BROKER=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --external-port) EXTERNAL=$2; shift 2 ;;
        --pids) PIDS=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "bench.sh: unknown option $1 (options for rmqc_perf go after --)" >&2; exit 2 ;;
    esac
done
if [ -n "$EXTERNAL" ]; then
    [ -n "$PIDS" ] || { echo "bench.sh: --external-port needs --pids" >&2; exit 2; }
    PORT=$EXTERNAL
elif [ -z "$BROKER" ] || [ -z "$WORKERS" ]; then
    echo "bench.sh: give --broker-bin BIN --workers N, or --external-port P --pids \"PID...\"" >&2; exit 2
fi

DIR=$(mktemp -d /tmp/rmqc-bench-XXXX)
trap 'stop_cluster; rm -rf "$DIR"' EXIT
gcc -O2 -Wall -pthread -o "$DIR/rmqc_perf" "$HERE/rmqc_perf.c" $(pkg-config --cflags --libs librabbitmq) -lm
[ -n "$EXTERNAL" ] || start_cluster "$BROKER" "$WORKERS" "$PORT" "$DIR"

BEFORE=$(cpu_ticks)
STATUS=0
"$DIR/rmqc_perf" --port "$PORT" "$@" > "$DIR/out" || STATUS=$?
CPU=$(cpu_seconds "$BEFORE" "$(cpu_ticks)")
cat "$DIR/out"
[ "$STATUS" -eq 0 ] || exit "$STATUS"
RECEIVED=$(grep -oE '"received":[0-9]+|received [0-9]+ msg' "$DIR/out" | grep -oE '[0-9]+' | head -1)
echo "broker CPU: $CPU s"
awk -v cpu="$CPU" -v n="${RECEIVED:-0}" 'BEGIN {
    if (n > 0) printf "broker CPU per received message: %.2f us\n", cpu * 1e6 / n
    else print "broker CPU per received message: n/a (nothing received)"
}'
