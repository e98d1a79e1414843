#!/usr/bin/env bash
# Installs what the broker needs, builds it in release mode, and runs `broker cluster up`
# with the arguments given (e.g. --workers 8 --port 5672).
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/Deploy/install-deps.sh"
swift build -c release --product broker
exec .build/release/broker cluster up "$@"
