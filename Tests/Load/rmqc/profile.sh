#!/usr/bin/env bash
# A perf profile of a cluster's processes under the rabbitmq-c generator (rmqc_perf.c):
#
#   Tests/Load/rmqc/profile.sh --broker-bin BIN --workers N --out FILE.data \
#       [--warmup 2] [--seconds 3] [--call-graph dwarf] -- <rmqc_perf options, e.g. --duration 6>
#   perf report -i FILE.data -n --sort pid --stdio       # samples per process
#   perf report -i FILE.data --tid=TID --sort sym --stdio # where one thread spends them
#   perf report -i FILE.data --tid=TID --no-children -S SYMBOL -G --stdio  # its callers (with --call-graph)
#
# Starts `BIN cluster up`, runs the generator, and `perf record -F 2000` on every broker
# process for --seconds after --warmup seconds.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../cluster.sh"
BROKER=""; WORKERS=""; OUT=""; WARMUP=2; SECONDS_RECORDED=3; PORT=5697; CALL_GRAPH=()
while [ $# -gt 0 ]; do
    case "$1" in
        --broker-bin) BROKER=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --seconds) SECONDS_RECORDED=$2; shift 2 ;;
        --call-graph) CALL_GRAPH=(--call-graph "$2"); shift 2 ;;
        --) shift; break ;;
        *) echo "profile.sh: unknown option $1 (options for rmqc_perf go after --)" >&2; exit 2 ;;
    esac
done
[ -n "$BROKER" ] && [ -n "$WORKERS" ] && [ -n "$OUT" ] || { echo "profile.sh: give --broker-bin BIN --workers N --out FILE" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 2; }
DIR=$(mktemp -d /tmp/rmqc-profile-XXXX)
trap 'stop_cluster; rm -rf "$DIR"' EXIT
gcc -O2 -Wall -pthread -o "$DIR/rmqc_perf" "$HERE/rmqc_perf.c" $(pkg-config --cflags --libs librabbitmq) -lm
start_cluster "$BROKER" "$WORKERS" "$PORT" "$DIR"
"$DIR/rmqc_perf" --port "$PORT" "$@" > "$DIR/out" &
GENERATOR=$!
sleep "$WARMUP"
perf record -F 2000 "${CALL_GRAPH[@]}" -o "$OUT" -p "$(echo $PIDS | tr ' ' ',')" -- sleep "$SECONDS_RECORDED" > /dev/null 2>&1
wait "$GENERATOR"
cat "$DIR/out"
