#!/usr/bin/env bash
# Side-by-side benchmark of our broker, RabbitMQ (Debian's rabbitmq-server, a private node)
# and garagemq on loopback: installs the two if missing, builds our release binary if it is
# missing or stale, runs the `broker perf` scenarios against all three in alternation and
# writes Docs/benchmarks-compare.md + .svg. Run as root. Every argument goes to
# Tests/Load/compare.py (see --help), e.g.
#
#   Deploy/bench-compare.sh                              # 6 scenarios x 3 rounds x 10 s
#   Deploy/bench-compare.sh --scaling 1,2,4,8            # ... plus ours with 1, 2, 4, 8 workers
#   Deploy/bench-compare.sh --duration 2 --runs 1 --scenarios a,b --out /tmp/smoke.md
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "error: python3 is required" >&2; exit 1; }
# The report shows the command as typed here.
export BENCH_COMPARE_PREFIX="Deploy/bench-compare.sh"
exec python3 Tests/Load/compare.py "$@"
