"""`broker cluster join` (issue 18): hosts join a cluster with one command each. Three network
namespaces stand for hosts; etcd (Debian's etcd-server) runs on host A. Host A joins serving
partition 0, host B then joins and takes the partitions left (1 and 2). Shown with pika clients
connected to both hosts and with `broker cluster partitions`:
- the map shows where each partition went, and the first host's router started although the
  other partitions had no worker yet;
- a message published through host A reaches a consumer on host B, for a queue on every
  partition, and the other way round;
- a host that names another partition count than the cluster's is refused, and so is one
  that would serve nothing.

Needs root, iproute2 and etcd-server, as CI has (Deploy/install-deps.sh)."""
import json
import os
import subprocess
import time

import pika
import pytest

from conftest import broker_binary, needs_own_broker, unique
from test_hosts_netns import AMQP_PORT, ETCD_PORT, LINK_PORT, PARTITIONS, USER, Hosts, queue_on, require_namespaces, start_etcd, stop_etcd
from test_link_tcp import Process, link_tls
from test_tls import make_pki

NET = 205


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    needs_own_broker("cluster join", "not applicable: RabbitMQ clusters through Erlang distribution")
    require_namespaces()
    pki = make_pki(tmp_path_factory.mktemp("join-pki"))
    hosts = Hosts(NET)
    dirs = {h: tmp_path_factory.mktemp(f"join-host-{h}") for h in "abc"}
    for d in dirs.values():
        os.chmod(d, 0o700)
    etcd_url = f"http://{hosts.address['a']}:{ETCD_PORT}"
    processes = {}

    def join_args(host, *more):
        # One certificate for a host's workers and router: it must allow both roles.
        return ["cluster", "join", "--etcd", etcd_url, "--node-name", host, "--partitions", str(PARTITIONS),
                "--runtime-dir", str(dirs[host]), "--host", "0.0.0.0", "--port", str(AMQP_PORT),
                "--user", f"{USER[0]}:{USER[1]}:administrator", "--etcd-lease-ttl", "2",
                "--link-listen", f"{hosts.address[host]}:{LINK_PORT}", *link_tls(pki, "member"), *more]

    etcd = None
    try:
        hosts.route_all()
        etcd = start_etcd(hosts, dirs["a"])
        prefix = lambda host: ["ip", "netns", "exec", hosts.names[host]]
        processes["a"] = Process(join_args("a", "--serve", "0"), str(dirs["a"] / "join.log"), "broker cluster join: node 'a'",
                                 prefix=prefix("a"))
        processes["b"] = Process(join_args("b"), str(dirs["b"] / "join.log"), "broker cluster join: node 'b'", prefix=prefix("b"))
        yield {"hosts": hosts, "dirs": dirs, "processes": processes, "join_args": join_args, "prefix": prefix}
    finally:
        for p in processes.values():
            p.stop()
        if etcd:
            stop_etcd(etcd)
        hosts.remove()


def connect(cluster, host):
    params = pika.ConnectionParameters(cluster["hosts"].address[host], AMQP_PORT,
                                       credentials=pika.PlainCredentials(*USER), heartbeat=0)
    return pika.BlockingConnection(params)


def test_each_host_serves_the_partitions_it_joined_with(cluster):
    result = subprocess.run([broker_binary(), "cluster", "partitions", "--etcd", f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}",
                             "--json"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    rows = {row["partition"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert [rows[p]["node"] for p in range(PARTITIONS)] == ["a", "b", "b"], rows
    assert rows[2]["address"] == f"{cluster['hosts'].address['b']}:{LINK_PORT + 2}"
    assert "serves partitions 0 of 3" in cluster["processes"]["a"].text()
    assert "serves partitions 1,2 of 3" in cluster["processes"]["b"].text()
    assert "partitions without a worker yet; their links wait for one" in cluster["processes"]["a"].text()


def test_messages_cross_between_the_hosts_on_every_partition(cluster):
    a, b = connect(cluster, "a"), connect(cluster, "b")
    for source, target in ((a, b), (b, a)):
        publisher, consumer = source.channel(), target.channel()
        publisher.confirm_delivery()
        for partition in range(PARTITIONS):
            queue = queue_on(partition, unique("joined"))
            publisher.queue_declare(queue, durable=True)
            bodies = [f"{partition}-{i}".encode() for i in range(50)]
            for body in bodies:
                publisher.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
            got = []
            deadline = time.time() + 10
            while len(got) < len(bodies) and time.time() < deadline:
                try:
                    method, _, body = consumer.basic_get(queue, auto_ack=True)
                except pika.exceptions.ChannelClosedByBroker:
                    consumer = target.channel()  # 404 until the other router's watch brought the queue
                    time.sleep(0.05)
                    continue
                if method is None:
                    time.sleep(0.02)
                    continue
                got.append(body)
            assert got == bodies, f"partition {partition}"
    a.close()
    b.close()


def test_a_host_with_another_partition_count_or_nothing_to_serve_is_refused(cluster):
    for more, expected in ((["--partitions", "5"], "has 3 partitions, not 5"),
                           ([], "every partition of cluster 'broker' has a worker")):
        args = cluster["join_args"]("c")
        if more:
            args[args.index("--partitions") + 1] = more[1]
        result = subprocess.run([*cluster["prefix"]("c"), broker_binary(), *args], capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, result.stdout
        assert expected in result.stdout + result.stderr, result.stdout + result.stderr
