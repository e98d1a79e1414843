#!/usr/bin/env bash
# Installs the broker as systemd services: the binary, the units, /etc/broker/broker.env and
# broker.json (both kept if they exist), the
# system user (sysusers.d) and the socket directory (tmpfiles.d), and enables one worker
# instance per partition, the router and broker.target.
#
#   Deploy/install.sh --workers 8                 # build, install into /, enable, start
#   Deploy/install.sh --root /tmp/scratch --workers 3 --binary .build/debug/broker
#
# With --root the files go below that directory and the units are enabled there
# (systemctl --root), without touching the running system. An existing broker.env is kept
# (its partition count must match the data in /var/lib/broker).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=/ WORKERS=$(nproc) BINARY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --binary) BINARY=$2; shift 2 ;;
        *) echo "usage: $0 [--root DIR] [--workers N] [--binary PATH]" >&2; exit 2 ;;
    esac
done
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || { echo "error: --workers must be a positive number" >&2; exit 2; }
if [ -z "$BINARY" ]; then
    "$(pwd)/Deploy/install-deps.sh"
    swift build -c release --product broker -Xswiftc -enforce-exclusivity=unchecked
    BINARY=.build/release/broker
fi
R=${ROOT%/}
install -D -m 0755 "$BINARY" "$R/usr/local/bin/broker"
for unit in broker-router.service broker-worker@.service broker.target; do
    install -D -m 0644 "Deploy/$unit" "$R/etc/systemd/system/$unit"
done
install -D -m 0644 Deploy/broker.sysusers "$R/usr/lib/sysusers.d/broker.conf"
install -D -m 0644 Deploy/broker.tmpfiles "$R/usr/lib/tmpfiles.d/broker.conf"
if [ ! -e "$R/etc/broker/broker.env" ]; then
    install -D -m 0644 Deploy/broker.env "$R/etc/broker/broker.env"
    sed -i "s/^BROKER_PARTITIONS=.*/BROKER_PARTITIONS=$WORKERS/" "$R/etc/broker/broker.env"
fi
# Users' passwords may go in it: readable by root and the broker's group only.
if [ ! -e "$R/etc/broker/broker.json" ]; then
    install -D -m 0640 Deploy/broker.json "$R/etc/broker/broker.json"
fi
"$R/usr/local/bin/broker" config check "$R/etc/broker/broker.json" >/dev/null
units=(broker-router.service broker.target)
for ((i = 0; i < WORKERS; i++)); do units+=("broker-worker@$i.service"); done
if [ "$ROOT" = / ]; then
    systemd-sysusers /usr/lib/sysusers.d/broker.conf
    chgrp broker /etc/broker/broker.json
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/broker.conf
    systemctl daemon-reload
    systemctl enable "${units[@]}"
    systemctl start broker.target
    echo "broker installed and started: $WORKERS workers; systemctl status broker.target"
else
    systemctl --root="$R" enable "${units[@]}" >/dev/null 2>&1
    echo "broker installed below $R: $WORKERS workers"
fi
