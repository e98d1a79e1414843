#!/usr/bin/env bash
# Runs one `broker perf` scenario against a cluster of the given binary and prints the perf
# summary with the CPU (utime+stime) every broker process spent, for old-vs-new comparisons
# of two builds (Docs/benchmarks.md, session 5). Alternate the two binaries between runs.
#
#   Tests/Load/old_new.sh /path/to/old/broker 2 5696 -- --producers 1 --consumers 1 --size 16 --duration 6
set -euo pipefail
BIN=$1; WORKERS=$2; PORT=$3; shift 4
PERF="$(cd "$(dirname "$0")/../.." && pwd)/.build/release/broker"
DIR=$(mktemp -d /tmp/old-new-XXXX)
"$BIN" cluster up --workers "$WORKERS" --port "$PORT" --host 127.0.0.1 --runtime-dir "$DIR" > "$DIR/log" 2>&1 &
CLUSTER=$!
trap 'kill -INT $CLUSTER 2>/dev/null; wait $CLUSTER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do grep -q "broker cluster up" "$DIR/log" && break; sleep 0.1; done
PIDS=$(pgrep -P "$CLUSTER" | tr '\n' ' ')
ticks() { for p in $PIDS; do awk '{print $14+$15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'; }
BEFORE=$(ticks)
"$PERF" perf --port "$PORT" "$@" 2>/dev/null | grep -E "rate|filled|sent|latency"
AFTER=$(ticks)
awk -v a="$AFTER" -v b="$BEFORE" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "broker CPU: %.2f s\n", (a - b) / hz}'
