#!/usr/bin/env bash
# Installs what the broker needs, builds it in release mode, and runs `broker cluster up`
# with the arguments given (e.g. --workers 8 --port 5672).
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/Deploy/install-deps.sh"
# Release builds skip Swift's run-time exclusivity checks (the debug builds the tests use keep
# them): they cost about a quarter of the router's CPU per message (Docs/architecture.md).
swift build -c release --product broker -Xswiftc -enforce-exclusivity=unchecked
exec .build/release/broker cluster up "$@"
