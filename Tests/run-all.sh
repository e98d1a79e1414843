#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, builds, and runs every test:
# the Swift unit tests (swift test), the integration tests that start real clusters and
# drive them with pika (pytest), the fuzz corpora replayed plus a short libFuzzer run per target,
# and the micro-benchmarks' allocation check (release build).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(pwd)/Deploy/install-deps.sh"

echo "== swift build"
swift build --build-tests

echo "== swift test"
swift test --skip-build

echo "== integration tests (real clusters; pika, amqp091-go and its own suite, bunny, rabbitmq-c, the Java client, more Python clients)"
python3 -m pytest -q Tests/Integration

echo "== fuzzing: every corpus input and crash reproducer replayed, then 15 s of libFuzzer per target"
Tests/Fuzz/run.sh replay
Tests/Fuzz/run.sh fuzz 15

echo "== micro-benchmarks (release): the paths documented as allocation-free must not allocate"
swift build -c release --product micro-bench -Xswiftc -enforce-exclusivity=unchecked
.build/release/micro-bench --quick --check
