#!/usr/bin/env python3
"""How long `broker cluster move-partition` takes, and how long publishers to the moving
partition are refused (issue 18). Two hosts are network namespaces (Tests/Integration/
test_hosts_netns.py's set-up) with etcd on host A; host A runs `cluster join --serve 0`, host
B `cluster join` (partitions 1 and 2). A durable queue on partition 2 is filled with COUNT
persistent messages of SIZE bytes through B, then partition 2 is moved to A while a pika
publisher on A sends confirmed persistent messages to another queue of partition 2. Reports
the store's size, the move command's wall time, the longest gap between two confirmed
publishes, the publishes nacked, and checks that every message came through.

    sudo Tests/Load/move_bench.py --broker-bin .build/release/broker [--count 100000] [--size 1024] [--transient]
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Integration"))

import pika  # noqa: E402
from test_hosts_netns import ETCD_PORT, LINK_PORT, PARTITIONS, Hosts, queue_on, start_etcd, tear_down  # noqa: E402
from test_link_tcp import Process, link_tls  # noqa: E402
from test_tls import make_pki  # noqa: E402

AMQP_PORT = 5672
USER = ("bench", "bench-secret")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker-bin", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--transient", action="store_true",
                        help="fill a non-durable queue with transient messages: they live in memory, and the owner "
                             "writes them to its store as it hands over")
    args = parser.parse_args()
    binary = os.path.abspath(args.broker_bin)
    os.environ["BROKER_BIN"] = binary  # for test_link_tcp.Process
    work = tempfile.mkdtemp(prefix="move-bench-")
    os.chmod(work, 0o700)
    os.makedirs(os.path.join(work, "pki"))
    pki = make_pki(os.path.join(work, "pki"))
    hosts = Hosts(206)
    processes, etcd = {}, None
    try:
        hosts.route_all()
        dirs = {h: pathlib.Path(work) / h for h in "ab"}
        for d in dirs.values():
            d.mkdir(mode=0o700)
        etcd = start_etcd(hosts, dirs["a"])
        etcd_url = f"http://{hosts.address['a']}:{ETCD_PORT}"

        def join(host, *more):
            arguments = ["cluster", "join", "--etcd", etcd_url, "--node-name", host, "--partitions", str(PARTITIONS),
                         "--runtime-dir", str(dirs[host]), "--host", "0.0.0.0", "--port", str(AMQP_PORT),
                         "--user", f"{USER[0]}:{USER[1]}:administrator", "--etcd-lease-ttl", "2",
                         "--link-listen", f"{hosts.address[host]}:{LINK_PORT}", *link_tls(pki, "member"), *more]
            return Process(arguments, str(dirs[host] / "join.log"), f"broker cluster join: node '{host}'",
                           prefix=["ip", "netns", "exec", hosts.names[host]])

        processes["a"] = join("a", "--serve", "0")
        processes["b"] = join("b")

        def connect(host):
            return pika.BlockingConnection(pika.ConnectionParameters(hosts.address[host], AMQP_PORT,
                                                                     credentials=pika.PlainCredentials(*USER), heartbeat=0))
        stored, live = queue_on(2, "move-stored"), queue_on(2, "move-live")
        filler = connect("b")
        channel = filler.channel()
        channel.queue_declare(stored, durable=not args.transient)
        channel.queue_declare(live, durable=True)
        body = b"x" * args.size
        persistent = pika.BasicProperties(delivery_mode=2)
        filled_as = pika.BasicProperties(delivery_mode=1) if args.transient else persistent
        started = time.time()
        for _ in range(args.count):
            channel.basic_publish("", stored, body, filled_as)
        while channel.queue_declare(stored, passive=True).method.message_count < args.count:
            time.sleep(0.2)
        print(f"filled {args.count} x {args.size} B in {time.time() - started:.1f} s")
        store_bytes = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in
                          os.walk(dirs["b"] / "data" / "partition-2") for f in files)

        stop, confirms, nacks = threading.Event(), [], []

        def publish():
            connection = connect("a")
            publishing = connection.channel()
            publishing.confirm_delivery()
            while not stop.is_set():
                try:
                    publishing.basic_publish("", live, b"live", persistent, mandatory=True)
                    confirms.append(time.time())
                except (pika.exceptions.NackError, pika.exceptions.UnroutableError):
                    nacks.append(time.time())
                    time.sleep(0.01)
            connection.close()

        publisher = threading.Thread(target=publish)
        publisher.start()
        time.sleep(1)
        started = time.time()
        move = subprocess.run([binary, "cluster", "move-partition", "2", "--to", "a", "--etcd", etcd_url],
                              capture_output=True, text=True, timeout=600)
        moved = time.time() - started
        time.sleep(2)
        stop.set()
        publisher.join(60)
        print(move.stdout.strip() or move.stderr.strip())
        gap = max(b - a for a, b in zip(confirms, confirms[1:]))
        count = connect("a").channel().queue_declare(stored, passive=True).method.message_count  # served: the command waited
        what = f"{args.count * args.size / 1e6:.1f} MB transient in memory, store" if args.transient else "store"
        print(f"{what} {store_bytes / 1e6:.1f} MB: move took {moved:.2f} s; longest gap between confirms {gap:.2f} s; "
              f"{len(nacks)} publishes refused; {len(confirms)} confirmed; stored queue after the move: {count} of {args.count}")
        assert move.returncode == 0 and count == args.count
    finally:
        tear_down(processes, etcd, hosts)
        shutil.rmtree(work, ignore_errors=True)  # the stores: hundreds of MB a run


if __name__ == "__main__":
    main()
