#!/usr/bin/env bash
# Drains queues with the independent rabbitmq-c consumer (rmqc_drain.c, built here with gcc
# and librabbitmq-dev), one process per queue perf-q-0..N-1, against a broker on PORT.
#
#   Tests/Load/rmqc/drain.sh PORT QUEUES PER_QUEUE PREFETCH          # fill first, then drain
#   Tests/Load/rmqc/drain.sh PORT QUEUES PER_QUEUE PREFETCH --flood 8
#       # no fill: `broker perf` publishers (one per queue, 16 B, unthrottled) run for 8 s
#       # while the consumers drain
#
# Prints each consumer's rate and the total (PER_QUEUE x QUEUES / wall time of the drain).
set -euo pipefail
PORT=$1; QUEUES=$2; PER_QUEUE=$3; PREFETCH=$4; FLOOD=${6:-}
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PERF="$ROOT/.build/release/broker"
BIN="$(mktemp -d /tmp/rmqc-drain-XXXX)"
trap 'rm -rf "$BIN"' EXIT
gcc -O2 -o "$BIN/rmqc_drain" "$HERE/rmqc_drain.c" $(pkg-config --cflags --libs librabbitmq)

if [ -z "$FLOOD" ]; then
    "$PERF" perf --port "$PORT" --producers "$QUEUES" --consumers 0 --queues "$QUEUES" --size 1024 \
        --count $((QUEUES * PER_QUEUE)) --confirm 500 --keep-queues --timeout 300 >/dev/null
else
    # Declares the queues (with one message each, drained first).
    "$PERF" perf --port "$PORT" --producers "$QUEUES" --consumers 0 --queues "$QUEUES" --size 16 \
        --count "$QUEUES" --confirm 1 --keep-queues >/dev/null
    PER_QUEUE=$((PER_QUEUE + 1))
fi
START=$(date +%s.%N)
for i in $(seq 0 $((QUEUES - 1))); do
    "$BIN/rmqc_drain" "$PORT" "perf-q-$i" "$PER_QUEUE" "$PREFETCH" > "$BIN/out.$i" &
done
if [ -n "$FLOOD" ]; then
    "$PERF" perf --port "$PORT" --producers "$QUEUES" --consumers 0 --queues "$QUEUES" --size 16 \
        --duration "$FLOOD" --keep-queues 2>/dev/null | grep "send rate"
fi
wait
END=$(date +%s.%N)
cat "$BIN"/out.*
awk -v n=$((QUEUES * PER_QUEUE)) -v a="$START" -v b="$END" 'BEGIN {printf "total %.0f msg/s\n", n / (b - a)}'
