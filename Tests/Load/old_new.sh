#!/usr/bin/env bash
# Runs one `broker perf` scenario against a cluster of the given binary and prints the perf
# summary with the CPU (utime+stime) every broker process spent, for old-vs-new comparisons
# of two builds (Docs/benchmarks.md, session 5). Alternate the two binaries between runs.
#
#   Tests/Load/old_new.sh /path/to/old/broker 2 5696 -- --producers 1 --consumers 1 --size 16 --duration 6
set -euo pipefail
BIN=$1; WORKERS=$2; PORT=$3; shift 4
HERE="$(cd "$(dirname "$0")" && pwd)"
PERF="$HERE/../../.build/release/broker"
. "$HERE/cluster.sh"
DIR=$(mktemp -d /tmp/old-new-XXXX)
trap 'stop_cluster; rm -rf "$DIR"' EXIT
start_cluster "$BIN" "$WORKERS" "$PORT" "$DIR"
BEFORE=$(cpu_ticks)
"$PERF" perf --port "$PORT" "$@" 2>/dev/null | grep -E "rate|filled|sent|latency"
echo "broker CPU: $(cpu_seconds "$BEFORE" "$(cpu_ticks)") s"
