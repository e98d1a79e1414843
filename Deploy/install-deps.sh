#!/usr/bin/env bash
# Installs the system and Python packages the broker and its tests need (Debian).
# Safe to run repeatedly; installs only what is missing.
set -euo pipefail

need_apt=()
# golang-go + golang-github-rabbitmq-amqp091-go-dev, ruby-bunny and amqp-tools are the Go,
# Ruby and C (rabbitmq-c) clients the integration tests drive the broker with; chromium
# loads the dashboard headless in test_dashboard.py.
for pkg in libnghttp2-dev pkg-config curl python3-pip \
           golang-go golang-github-rabbitmq-amqp091-go-dev ruby ruby-bunny amqp-tools chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== apt-get install ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# prometheus_client's text parser checks /metrics in the telemetry tests.
if ! python3 -c 'import pika, pytest, prometheus_client' >/dev/null 2>&1; then
    echo "== pip install pika pytest prometheus_client"
    python3 -m pip install -q --disable-pip-version-check pika pytest prometheus_client 2>&1 | grep -v "Running pip as the 'root' user" || true
fi
python3 -c 'import pika, pytest, prometheus_client' || {
    echo "error: pika, pytest and prometheus_client are required: pip install pika pytest prometheus_client" >&2; exit 1; }
