"""The idle cost of a cluster (Docs/benchmarks.md): starts `broker cluster up`, connects idle
pika consumers (each on its own exclusive queue), then reports the CPU (utime+stime from
/proc) every broker process used over the measurement, as % of one core.

    python3 Tests/Load/idle.py --broker-bin .build/release/broker --workers 8 --clients 100 --seconds 30
"""
import argparse
import os
import sys
import time

import pika

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Integration"))
from conftest import Cluster, children_of  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def role(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    return "router" if argv[1] == b"router" else f"worker {argv[argv.index(b'--partition') + 1].decode()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker-bin", default=os.path.join(ROOT, ".build", "release", "broker"))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    os.environ["BROKER_BIN"] = args.broker_bin
    cluster = Cluster(workers=args.workers)
    try:
        connections = []
        for _ in range(args.clients):
            conn = cluster.connect(heartbeat=60)
            ch = conn.channel()
            ch.basic_consume(ch.queue_declare("", exclusive=True).method.queue, lambda *a: None)
            connections.append(conn)
        pids = children_of(cluster.process.pid)
        names = {pid: role(pid) for pid in pids}
        time.sleep(2)
        before = {pid: cpu_seconds(pid) for pid in pids}
        started = time.time()
        while time.time() - started < args.seconds:
            for conn in connections:
                conn.process_data_events(0)  # answers heartbeats, as an idle client does
            time.sleep(1)
        elapsed = time.time() - started
        share = {names[pid]: 100 * (cpu_seconds(pid) - before[pid]) / elapsed for pid in pids}
    finally:
        cluster.stop()
    print(", ".join(f"{name} {percent:.2f}%" for name, percent in sorted(share.items())))
    print(f"idle cluster, {args.workers} workers, {args.clients} idle consumers: "
          f"{sum(share.values()):.2f}% of one core over {elapsed:.0f} s")

if __name__ == "__main__":
    main()
