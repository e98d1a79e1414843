#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, builds, and runs every test:
# the Swift unit tests (swift test) and the integration tests that start real clusters and
# drive them with pika (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(pwd)/Deploy/install-deps.sh"

echo "== swift build"
swift build --build-tests

echo "== swift test"
swift test --skip-build

echo "== integration tests (pika against real clusters)"
python3 -m pytest -q Tests/Integration
