"""The partition map in etcd (issue 18): three hosts in network namespaces, etcd (Debian's
etcd-server) on host A. Each worker claims its partition in etcd under a lease; the router on
host A is given no addresses, only etcd, and follows the map. Shown with pika and
`broker cluster partitions`:
- every partition is reached through the map, and its load (queues) shows in it;
- a second worker for a claimed partition is refused and says who holds it;
- a worker killed with kill -9 loses its claim when its lease ends; a worker with no claim
  in its place is refused by the router's link (fencing by epoch); the real one started
  again elsewhere (another port) claims the next epoch, the router follows the map there,
  the client stays connected, and no confirmed persistent message is lost."""
import json
import os
import signal
import subprocess
import time

import pika
import pytest

from conftest import broker_binary, needs_own_broker, unique
from test_hosts_netns import (AMQP_PORT, ETCD_PORT, LINK_PORT, PARTITIONS, USER, Hosts, connect, drain, netns_process,
                              publish_confirmed, queue_on, require_namespaces, round_trip_every_partition, start_etcd, tear_down)
from test_link_tcp import link_tls
from test_tls import make_pki

TTL = 2


def etcd_url(hosts, host):
    return f"http://{hosts.a_from[host]}:{ETCD_PORT}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    needs_own_broker("--etcd", "not applicable: RabbitMQ clusters through Erlang distribution")
    require_namespaces()
    pki = make_pki(tmp_path_factory.mktemp("etcd-pki"))
    hosts = Hosts(202)
    dirs = {h: tmp_path_factory.mktemp(f"etcd-host-{h}") for h in "abc"}
    for d in dirs.values():
        os.chmod(d, 0o700)
    common = ["--partitions", str(PARTITIONS), "--etcd-lease-ttl", str(TTL)]
    processes = {}

    def worker(host, partition, port=LINK_PORT):
        args = ["worker", "--partition", str(partition), *common, "--runtime-dir", str(dirs[host]),
                "--etcd", etcd_url(hosts, host), "--node-name", host]
        if host != "a":
            args += ["--link-listen", f"{hosts.address[host]}:{port}", *link_tls(pki)]
        return args

    def start_worker(host, partition, port=LINK_PORT):
        processes[partition] = netns_process(hosts, host, worker(host, partition, port),
                                             str(dirs[host] / f"worker{partition}-{port}.log"), f"ready worker {partition}")

    etcd = None
    try:
        etcd = start_etcd(hosts, dirs["a"])
        for host, partition in (("a", 0), ("b", 1), ("c", 2)):
            start_worker(host, partition)
        processes["router"] = netns_process(
            hosts, "a",
            ["router", *common, "--runtime-dir", str(dirs["a"]), "--host", "0.0.0.0", "--port", str(AMQP_PORT),
             "--user", f"{USER[0]}:{USER[1]}:administrator", "--etcd", etcd_url(hosts, "a"), "--node-name", "a",
             *link_tls(pki, "client")],
            str(dirs["a"] / "router.log"), "ready router")
        yield {"hosts": hosts, "processes": processes, "dirs": dirs, "start_worker": start_worker, "worker": worker,
               "link_tls": link_tls(pki), "etcd": etcd}
    finally:
        tear_down(processes, etcd, hosts)


def partition_map(cluster):
    """`broker cluster partitions --json`, run from the test's namespace against host A's etcd."""
    result = subprocess.run([broker_binary(), "cluster", "partitions", "--etcd", f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}",
                             "--partitions", str(PARTITIONS), "--json"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return {row["partition"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_every_partition_is_reached_through_the_map_in_etcd(cluster):
    rows = partition_map(cluster)
    assert [rows[p]["node"] for p in range(PARTITIONS)] == ["a", "b", "c"]
    assert rows[1]["address"] == f"{cluster['hosts'].address['b']}:{LINK_PORT}"
    assert all(rows[p]["epoch"] >= 1 for p in range(PARTITIONS))
    round_trip_every_partition(cluster, "etcd", 200)
    # Each worker reports its load every 5 s: the queues just declared show up in the map.
    deadline = time.time() + 15
    while not all(partition_map(cluster)[p].get("load", {}).get("queues", 0) >= 1 for p in range(PARTITIONS)):
        assert time.time() < deadline, partition_map(cluster)
        time.sleep(0.5)


def test_a_second_worker_for_a_claimed_partition_is_refused(cluster):
    hosts = cluster["hosts"]
    args = cluster["worker"]("c", 1, port=LINK_PORT + 1)
    result = subprocess.run(["ip", "netns", "exec", hosts.names["c"], broker_binary(), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout
    assert "partition 1 is served by node 'b'" in result.stdout + result.stderr, result.stdout + result.stderr
    assert partition_map(cluster)[1]["node"] == "b"


def test_a_partition_restarted_elsewhere_is_followed_and_loses_nothing(cluster):
    connection = connect(cluster)
    ch = connection.channel()
    ch.confirm_delivery()
    queue = queue_on(1, unique("moved"))
    ch.queue_declare(queue, durable=True)
    confirmed = [f"m-{i}".encode() for i in range(300)]
    publish_confirmed(ch, queue, confirmed)
    epoch = partition_map(cluster)[1]["epoch"]

    victim = cluster["processes"][1]
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)
    deadline = time.time() + 5 * TTL
    while partition_map(cluster)[1].get("node") is not None:
        assert time.time() < deadline, "the dead worker's claim outlived its lease"
        time.sleep(0.2)

    # Fencing: a worker holding no claim, where the router last found partition 1, is
    # refused by the router's link (it names the epoch it expects) and serves it nothing.
    rogue_dir = cluster["dirs"]["b"] / "rogue"
    rogue_dir.mkdir(mode=0o700)
    hosts = cluster["hosts"]
    rogue = netns_process(hosts, "b", ["worker", "--partition", "1", "--partitions", str(PARTITIONS), "--runtime-dir", str(rogue_dir),
                                       "--link-listen", f"{hosts.address['b']}:{LINK_PORT}", *cluster["link_tls"]],
                          str(rogue_dir / "worker.log"), "ready worker 1")
    try:
        deadline = time.time() + 15
        while "refused a router link that does not expect this worker's claim on the partition" not in rogue.text():
            assert time.time() < deadline, rogue.text()
            time.sleep(0.2)
        assert f"expected={epoch}" in rogue.text() and "held=none" in rogue.text(), rogue.text()
    finally:
        rogue.stop()

    # Same host and store, another port: only the map says where it is now.
    cluster["start_worker"]("b", 1, port=LINK_PORT + 7)
    row = partition_map(cluster)[1]
    assert (row["node"], row["address"], row["epoch"]) == ("b", f"{cluster['hosts'].address['b']}:{LINK_PORT + 7}", epoch + 1)
    deadline = time.time() + 30
    got = []
    while time.time() < deadline and len(got) < len(confirmed):
        try:
            got += drain(ch, queue, len(confirmed) - len(got), timeout=2)
        except pika.exceptions.ChannelClosedByBroker:
            ch = connection.channel()  # 404 while the partition was unreachable
            time.sleep(0.2)
    assert got == confirmed, f"{len(got)} of {len(confirmed)} confirmed messages came back"
    assert connection.is_open
    assert "the worker moved; relinking" in open(cluster["dirs"]["a"] / "router.log").read()
    connection.close()


def test_workers_stop_before_their_claims_could_pass_to_others(cluster):
    """etcd stops answering (frozen): no worker can renew its claim, so each stops before
    etcd could end its lease and give the partition to another. Last in this file: it ends
    the cluster."""
    etcd = cluster["etcd"]
    workers = {p: cluster["processes"][p] for p in range(PARTITIONS)}
    frozen = time.time()
    os.kill(etcd.pid, signal.SIGSTOP)
    try:
        for partition, worker in workers.items():
            worker.process.wait(timeout=TTL + 5)
            assert "the partition's claim could not be kept" in worker.text(), worker.text()
        assert time.time() - frozen < TTL + 1, "a worker outlived the lease etcd would have ended"
    finally:
        os.kill(etcd.pid, signal.SIGCONT)
