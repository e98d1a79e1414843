#!/usr/bin/env python3
"""Partitions on 1, 2 and 3 hosts (issue 18): the same three partitions, with the router and
some workers on host A and the others on hosts B and C (network namespaces joined by veths,
links over TCP with mutual TLS; Tests/Integration/test_hosts_netns.py's set-up). The load is
the rabbitmq-c generator (Tests/Load/rmqc/rmqc_perf.c) in the root namespace, one producer and
one consumer per queue, one queue per partition. Reports received msg/s and the CPU of every
broker process per received message. The hosts share this machine's cores, so the CPU per
message, not the throughput, is what tells the cost of a hop between hosts.

    sudo Tests/Load/hosts_bench.py --broker-bin .build/release/broker [--runs 3] [--duration 6] \
        [-- rmqc options, default: --size 16 --ack-every 10 --prefetch 100]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Integration"))

from conftest import partition_of  # noqa: E402
from test_hosts_netns import Hosts  # noqa: E402
from test_link_tcp import Process, link_tls  # noqa: E402
from test_tls import make_pki  # noqa: E402

PARTITIONS = 3
LINK_PORT = 5690
AMQP_PORT = 5672
USER = ("bench", "bench-secret")


def prefix_one_queue_per_partition():
    """A queue name prefix whose queues 0, 1, 2 land on partitions 0, 1, 2."""
    n = 0
    while [partition_of(f"hb{n}-{q}", PARTITIONS) for q in range(PARTITIONS)] != list(range(PARTITIONS)):
        n += 1
    return f"hb{n}-"


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def run_layout(hosts, pki, placement, work, rmqc, rmqc_args, prefix):
    """`placement`: the host of each partition. Starts the workers and the router, runs the
    load once, stops everything; returns (received msg/s, broker µs per received message)."""
    dirs = {h: tempfile.mkdtemp(prefix=f"hb-{h}-", dir=work) for h in "abc"}
    for d in dirs.values():
        os.chmod(d, 0o700)
    netns = lambda host: ["ip", "netns", "exec", hosts.names[host]]  # noqa: E731
    processes = []
    try:
        for partition, host in enumerate(placement):
            args = ["worker", "--partition", str(partition), "--partitions", str(PARTITIONS), "--runtime-dir", dirs[host]]
            if host != "a":
                args += ["--link-listen", f"{hosts.address[host]}:{LINK_PORT + partition}", *link_tls(pki)]
            processes.append(Process(args, os.path.join(dirs[host], f"w{partition}.log"), f"ready worker {partition}",
                                     prefix=netns(host)))
        router = ["router", "--partitions", str(PARTITIONS), "--runtime-dir", dirs["a"], "--host", "0.0.0.0",
                  "--port", str(AMQP_PORT), "--user", f"{USER[0]}:{USER[1]}:administrator", *link_tls(pki, "client")]
        for partition, host in enumerate(placement):
            if host != "a":
                router += ["--worker-link", f"{partition}={hosts.address[host]}:{LINK_PORT + partition}"]
        processes.append(Process(router, os.path.join(dirs["a"], "router.log"), "ready router", prefix=netns("a")))
        pids = [p.process.pid for p in processes]
        before = cpu_seconds(pids)
        out = subprocess.run([rmqc, "--host", hosts.address["a"], "--port", str(AMQP_PORT), "--user", USER[0],
                              "--password", USER[1], "--producers", str(PARTITIONS), "--consumers", str(PARTITIONS),
                              "--queues", str(PARTITIONS), "--prefix", prefix, *rmqc_args, "--json"],
                             capture_output=True, text=True, timeout=600)
        cpu = cpu_seconds(pids) - before
        if out.returncode != 0:
            raise RuntimeError(f"rmqc_perf failed: {out.stderr}")
        result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
        received = result["received"]
        return result["receive_rate"], (cpu * 1e6 / received if received else float("nan"))
    finally:
        for p in reversed(processes):
            p.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker-bin", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("rmqc_args", nargs="*", default=None)
    options = parser.parse_args()
    os.environ["BROKER_BIN"] = os.path.abspath(options.broker_bin)
    rmqc_args = (options.rmqc_args or ["--size", "16", "--ack-every", "10", "--prefetch", "100"]) + ["--duration", str(options.duration)]
    work = tempfile.mkdtemp(prefix="hosts-bench-")
    rmqc = os.path.join(work, "rmqc_perf")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "librabbitmq"], capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-Wall", "-pthread", "-o", rmqc, os.path.join(HERE, "rmqc", "rmqc_perf.c"), *flags, "-lm"], check=True)
    pki = make_pki(tempfile.mkdtemp(prefix="pki-", dir=work))
    layouts = {"1 host": "aaa", "2 hosts": "aab", "3 hosts": "abc"}
    prefix = prefix_one_queue_per_partition()
    hosts = Hosts(203)
    results = {name: [] for name in layouts}
    try:
        for _ in range(options.runs):
            for name, placement in layouts.items():
                rate, cpu = run_layout(hosts, pki, placement, work, rmqc, rmqc_args, prefix)
                results[name].append((rate, cpu))
                print(f"{name}: {rate:,.0f} msg/s, {cpu:.2f} µs per message", file=sys.stderr)
    finally:
        hosts.remove()
    print(f"rmqc_perf {' '.join(rmqc_args)}, {PARTITIONS} producers, consumers and queues (one per partition); "
          f"medians of {options.runs} alternating runs")
    print("| layout | partitions on other hosts | received msg/s | broker CPU per message |")
    print("| --- | ---: | ---: | ---: |")
    for name, placement in layouts.items():
        rates = [r for r, _ in results[name]]
        cpus = [c for _, c in results[name]]
        print(f"| {name} ({placement}) | {sum(h != 'a' for h in placement)} of {PARTITIONS} | "
              f"{statistics.median(rates):,.0f} | {statistics.median(cpus):.2f} µs |")


if __name__ == "__main__":
    main()
