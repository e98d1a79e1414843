#!/usr/bin/env bash
# Installs the system and Python packages the broker and its tests need (Debian).
# Safe to run repeatedly; installs only what is missing.
set -euo pipefail

need_apt=()
# libssl-dev: libcrypto for password hashes and client certificates; openssl makes the
# test certificates (test_tls.py).
# golang-go + golang-github-rabbitmq-amqp091-go-dev, ruby-bunny, amqp-tools and
# librabbitmq-client-java (with a JDK to compile against it) are the Go, Ruby, C (rabbitmq-c)
# and Java clients the integration tests drive the broker with; chromium loads the dashboard
# headless in test_dashboard.py; amqp-specs holds the spec file txAMQP loads; gcc and
# librabbitmq-dev build the rabbitmq-c program of test_client_c.py; systemd's
# systemd-analyze checks the units in Deploy/ (test_operations.py); iproute2's `ip netns`
# makes the hosts of test_hosts_netns.py and test_hosts_etcd.py, where etcd-server (with
# etcd-client's etcdctl) holds the partition map.
for pkg in libnghttp2-dev libssl-dev openssl pkg-config curl python3-pip \
           golang-go golang-github-rabbitmq-amqp091-go-dev ruby ruby-bunny amqp-tools chromium \
           openjdk-17-jdk-headless librabbitmq-client-java amqp-specs gcc librabbitmq-dev systemd iproute2 \
           etcd-server etcd-client; do
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

# More Python clients, each set in its own directory beside the build (git ignores .build-*),
# because they need different pamqp majors: aiorabbit wants pamqp 3, amqpstorm, rabbitpy and
# aiormq want pamqp 4. Tests/Integration/test_client_python.py runs each with PYTHONPATH set.
CLIENTS="$(cd "$(dirname "$0")/.." && pwd)/.build-pyclients"
install_clients() {  # dir, packages...
    local dir="$CLIENTS/$1"; shift
    local wanted="$*"
    if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$wanted" ]; then
        echo "== pip install --target $dir $wanted"
        rm -rf "$dir"
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$dir" "$@"
        echo "$wanted" > "$dir/.installed"
    fi
}
install_clients main amqpstorm==3.1.4 aio-pika==10.2.1 aiormq==7.2.4 rabbitpy==3.0.2 txAMQP==0.8.2 Twisted==26.10.0 amqp==5.4.2 kombu==5.7.0
install_clients aiorabbit aiorabbit==1.0.3
