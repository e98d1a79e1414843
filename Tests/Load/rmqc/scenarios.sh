#!/usr/bin/env bash
# Issue 19's scenarios with the rabbitmq-c generator (rmqc_perf, through bench.sh), against our
# cluster at each worker count given and, with --rabbitmq-port, against a running RabbitMQ;
# prints a markdown table of received msg/s (p99 latency for d) with the broker's CPU per
# received message in brackets. Targets alternate within each scenario.
#
#   Tests/Load/rmqc/scenarios.sh --broker-bin .build/release/broker --workers 2,8 \
#       [--old-bin OLD] [--rabbitmq-port 5673] [--scenarios a,b,c,d,e,f,g] [--runs 3] [--duration 6]
#
# Several runs give the median of each cell and its spread (half the range, against the
# median). --old-bin adds another build at the same worker counts, for old/new side by side.
# RabbitMQ's CPU is its beam.smp's.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BROKER=""; OLD=""; WORKERS="2,8"; RABBIT=""; SCENARIOS="a,b,c,d,e,f,g"; RUNS=1; DURATION=6; PORT=5697
while [ $# -gt 0 ]; do
    case "$1" in
        --broker-bin) BROKER=$2; shift 2 ;;
        --old-bin) OLD=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --rabbitmq-port) RABBIT=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        *) echo "scenarios.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$BROKER" ] || { echo "scenarios.sh: --broker-bin BIN is required" >&2; exit 2; }

options() {
    local d="--duration $DURATION"
    case "$1" in
        a) echo "--producers 1 --consumers 1 --size 16 --autoack $d" ;;
        b) echo "--producers 4 --consumers 4 --queues 4 --size 1024 --ack-every 1 --prefetch 100 $d" ;;
        c) echo "--producers 20 --consumers 20 --queues 20 --size 16 --ack-every 10 --prefetch 100 $d" ;;
        d) echo "--producers 1 --consumers 1 --size 16 --rate 10000 --ack-every 1 --prefetch 100 $d" ;;
        e) echo "--producers 4 --consumers 4 --queues 4 --size 1024 --persistent --confirm 100 --ack-every 1 --prefetch 100 $d" ;;
        f) echo "--producers 1 --consumers 8 --queues 8 --fanout --size 16 --autoack $d" ;;
        g) echo "--producers 4 --consumers 4 --queues 4 --size 1024 --backlog 50000 --ack-every 1 --prefetch 100" ;;
        *) echo "scenarios.sh: unknown scenario $1" >&2; exit 2 ;;
    esac
}

TARGETS=$(echo "$WORKERS" | tr ',' ' ')
[ -z "$OLD" ] || TARGETS="$TARGETS $(echo "$WORKERS" | tr ',' '\n' | sed 's/^/old-/' | tr '\n' ' ')"
[ -z "$RABBIT" ] || TARGETS="$TARGETS rabbitmq"
RESULTS=$(mktemp /tmp/rmqc-scenarios-XXXX)
trap 'rm -f "$RESULTS"' EXIT

# One run: "scenario target figure cpu" on RESULTS (figure: received msg/s, or p99 µs for d).
run() {
    local scenario=$1 target=$2 out
    if [ "$target" = rabbitmq ]; then
        out=$("$HERE/bench.sh" --external-port "$RABBIT" --pids "$(pgrep -d ' ' beam.smp)" -- $(options "$scenario") --json)
    elif [ "${target#old-}" != "$target" ]; then
        out=$("$HERE/bench.sh" --broker-bin "$OLD" --workers "${target#old-}" --port "$PORT" -- $(options "$scenario") --json)
    else
        out=$("$HERE/bench.sh" --broker-bin "$BROKER" --workers "$target" --port "$PORT" -- $(options "$scenario") --json)
    fi
    echo "$out" | python3 -c '
import json, re, sys
scenario, target = sys.argv[1], sys.argv[2]
lines = sys.stdin.read().splitlines()
result = json.loads([l for l in lines if l.startswith("{")][-1])
cpu = "n/a"
for l in lines:
    m = re.match(r"broker CPU per received message: ([0-9.]+) us", l)
    if m:
        cpu = m.group(1)
figure = result["latency_us"]["p99"] if scenario == "d" else result["receive_rate"]
print(scenario, target, figure, cpu)' "$scenario" "$target" >> "$RESULTS"
    tail -1 "$RESULTS" >&2
}

for scenario in $(echo "$SCENARIOS" | tr ',' ' '); do
    for _ in $(seq 1 "$RUNS"); do
        for target in $TARGETS; do run "$scenario" "$target"; done
    done
done

python3 - "$RESULTS" "$SCENARIOS" "$TARGETS" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
scenarios, targets = sys.argv[2].split(","), sys.argv[3].split()
def name(t):
    return t if t == "rabbitmq" else f"{t[4:]} workers, old" if t.startswith("old-") else f"{t} workers"
head = ["scenario"] + [name(t) for t in targets]
print("| " + " | ".join(head) + " |")
print("| --- |" + " ---: |" * len(targets))
for s in scenarios:
    cells = [s + (" (p99 µs)" if s == "d" else "")]
    for t in targets:
        runs = [r for r in rows if r[0] == s and r[1] == t]
        if not runs:
            cells.append("–")
            continue
        figures = [float(r[2]) for r in runs]
        figure = statistics.median(figures)
        spread = f" ±{50 * (max(figures) - min(figures)) / figure:.0f}%" if len(runs) > 1 and figure > 0 else ""
        cpu = statistics.median(float(r[3]) for r in runs) if all(r[3] != "n/a" for r in runs) else None
        cells.append(f"{figure:,.0f}{spread}" + (f" ({cpu:.1f} µs)" if cpu is not None else ""))
    print("| " + " | ".join(cells) + " |")
EOF
