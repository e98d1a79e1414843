"""Partitions on three hosts (issue 18, the link between hosts): three network namespaces joined
by veth pairs stand for three hosts. Host A runs the router and worker 0; hosts B and C run
workers 1 and 2, which the router reaches over TCP with mutual TLS across the veths. pika, in
the test's own namespace, connects to the router over a fourth veth. A worker killed with
kill -9 on host B leaves the client connected and the other hosts' partitions serving; once it
is started again its confirmed persistent messages are all there.

Needs root and iproute2 (`ip netns`), as CI has."""
import os
import shutil
import signal
import subprocess
import time

import pika
import pytest

from conftest import needs_own_broker, queue_on_partition, unique
from test_link_tcp import Process, link_tls
from test_tls import make_pki

PARTITIONS = 3
LINK_PORT = 5690
AMQP_PORT = 5672
USER = ("netns", "netns-secret")


def ip(*args, check=True):
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check:
        assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"
    return result


class Hosts:
    """Namespaces A, B, C; A joined to B (10.N.1.0/24) and to C (10.N.2.0/24), and the test's
    namespace joined to A (10.N.0.0/24). Each test file takes its own N."""

    def __init__(self, net):
        self.net = net
        self.routed = False
        tag = f"{net}{os.getpid() % 10000}"
        self.names = {h: f"brk{h}{tag}" for h in "abc"}
        self.links = []
        for name in self.names.values():
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
        self.pair(f"vr{tag}", None, f"10.{net}.0.1", f"va{tag}", "a", f"10.{net}.0.2")
        self.pair(f"vab{tag}", "a", f"10.{net}.1.1", f"vba{tag}", "b", f"10.{net}.1.2")
        self.pair(f"vac{tag}", "a", f"10.{net}.2.1", f"vca{tag}", "c", f"10.{net}.2.2")
        # Each host's address as the test and host A see it, and host A's as B and C see it.
        self.address = {"a": f"10.{net}.0.2", "b": f"10.{net}.1.2", "c": f"10.{net}.2.2"}
        self.a_from = {"a": "127.0.0.1", "b": f"10.{net}.1.1", "c": f"10.{net}.2.1"}

    def pair(self, left, left_host, left_ip, right, right_host, right_ip):
        ip("link", "add", left, "type", "veth", "peer", "name", right)
        self.links.append(left)
        for dev, host, addr in ((left, left_host, left_ip), (right, right_host, right_ip)):
            prefix = []
            if host:
                ip("link", "set", dev, "netns", self.names[host])
                prefix = ["-n", self.names[host]]
            ip(*prefix, "addr", "add", f"{addr}/24", "dev", dev)
            ip(*prefix, "link", "set", dev, "up")

    def route_all(self):
        """Every host reaches every other through A, and the test's namespace reaches them all."""
        subprocess.run(["ip", "netns", "exec", self.names["a"], "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
        ip("-n", self.names["b"], "route", "add", "default", "via", self.a_from["b"])
        ip("-n", self.names["c"], "route", "add", "default", "via", self.a_from["c"])
        ip("route", "replace", f"10.{self.net}.0.0/16", "via", self.address["a"])
        self.routed = True

    def remove(self):
        if self.routed:
            ip("route", "del", f"10.{self.net}.0.0/16", check=False)
        for name in self.names.values():
            ip("netns", "delete", name, check=False)
        for link in self.links:
            ip("link", "delete", link, check=False)


ETCD_PORT = 2379


def start_etcd(hosts, directory):
    """etcd (Debian's etcd-server) on host A, reached by the test at hosts.address['a'] and by
    the hosts at hosts.a_from[host]; returns once it answers."""
    if shutil.which("etcd") is None:
        pytest.fail("etcd missing: install Debian's etcd-server (apt-get install etcd-server, or run Deploy/install-deps.sh)")
    etcd = subprocess.Popen(
        ["ip", "netns", "exec", hosts.names["a"], "etcd", "--data-dir", str(directory / "etcd"),
         "--listen-client-urls", f"http://0.0.0.0:{ETCD_PORT}", "--advertise-client-urls", f"http://{hosts.address['a']}:{ETCD_PORT}",
         "--listen-peer-urls", "http://127.0.0.1:2380"],
        stdout=open(directory / "etcd.log", "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while subprocess.run(["ip", "netns", "exec", hosts.names["a"], "etcdctl", "--endpoints", f"127.0.0.1:{ETCD_PORT}",
                          "endpoint", "health"], capture_output=True, env={**os.environ, "ETCDCTL_API": "3"}).returncode != 0:
        if time.time() > deadline or etcd.poll() is not None:
            stop_etcd(etcd)
            pytest.fail("etcd did not start:\n" + open(directory / "etcd.log").read())
        time.sleep(0.2)
    return etcd


def stop_etcd(etcd):
    etcd.terminate()
    try:
        etcd.wait(timeout=20)
    except subprocess.TimeoutExpired:
        etcd.kill()
        etcd.wait()


def tear_down(processes, etcd, hosts):
    """The end of a several-hosts fixture: its broker processes (a dict), etcd, the namespaces."""
    for p in processes.values():
        p.stop()
    if etcd:
        stop_etcd(etcd)
    hosts.remove()


def require_namespaces():
    if shutil.which("ip") is None:
        pytest.fail("iproute2 missing: install it (apt-get install iproute2, or run Deploy/install-deps.sh)")
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root: run the integration tests as root (CI does)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    needs_own_broker("--worker-link", "not applicable: RabbitMQ's inter-node links are Erlang distribution")
    require_namespaces()
    pki = make_pki(tmp_path_factory.mktemp("netns-pki"))
    hosts = Hosts(201)
    dirs = {h: tmp_path_factory.mktemp(f"host-{h}") for h in "abc"}
    for d in dirs.values():
        os.chmod(d, 0o700)
    common = ["--partitions", str(PARTITIONS)]
    processes = {}

    def start_worker(host, partition):
        args = ["worker", "--partition", str(partition), *common, "--runtime-dir", str(dirs[host])]
        if host != "a":
            args += ["--link-listen", f"{hosts.address[host]}:{LINK_PORT}", *link_tls(pki)]
        processes[partition] = netns_process(hosts, host, args, str(dirs[host] / f"worker{partition}.log"),
                                             f"ready worker {partition}")

    try:
        for host, partition in (("a", 0), ("b", 1), ("c", 2)):
            start_worker(host, partition)
        processes["router"] = netns_process(
            hosts, "a",
            ["router", *common, "--runtime-dir", str(dirs["a"]), "--host", "0.0.0.0", "--port", str(AMQP_PORT),
             "--user", f"{USER[0]}:{USER[1]}:administrator",
             "--worker-link", f"1={hosts.address['b']}:{LINK_PORT}", "--worker-link", f"2={hosts.address['c']}:{LINK_PORT}",
             *link_tls(pki, "client")],
            str(dirs["a"] / "router.log"), "ready router")
        yield {"hosts": hosts, "processes": processes, "dirs": dirs, "start_worker": start_worker}
    finally:
        for p in processes.values():
            p.stop()
        hosts.remove()


def netns_process(hosts, host, args, log, ready):
    """A broker process on `host` (`ip netns exec` execs it, so the pid is the broker's)."""
    return Process(args, log, ready, prefix=["ip", "netns", "exec", hosts.names[host]])


def connect(cluster):
    params = pika.ConnectionParameters(cluster["hosts"].address["a"], AMQP_PORT,
                                       credentials=pika.PlainCredentials(*USER), heartbeat=0)
    return pika.BlockingConnection(params)


def queue_on(partition, prefix):
    return queue_on_partition(prefix, partition, PARTITIONS)


def publish_confirmed(ch, queue, bodies):
    for body in bodies:
        ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True)


def drain(ch, queue, expected, timeout=10):
    got = []
    deadline = time.time() + timeout
    while len(got) < expected and time.time() < deadline:
        method, _, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
            continue
        got.append(body)
    return got


def round_trip_every_partition(cluster, prefix, count):
    """`count` persistent messages published with confirms to a queue on each partition, and
    got back in order."""
    connection = connect(cluster)
    ch = connection.channel()
    ch.confirm_delivery()
    for partition in range(PARTITIONS):
        queue = queue_on(partition, unique(prefix))
        ch.queue_declare(queue, durable=True)
        bodies = [f"p{partition}-{i}".encode() for i in range(count)]
        publish_confirmed(ch, queue, bodies)
        assert drain(ch, queue, len(bodies)) == bodies, f"partition {partition}"
    connection.close()


def test_a_message_crosses_to_every_host_and_back(cluster):
    round_trip_every_partition(cluster, "hosts", 300)
    # Each remote partition's store is on its own host.
    for host, partition in (("b", 1), ("c", 2)):
        assert f"partition-{partition}" in os.listdir(cluster["dirs"][host] / "data")


def test_a_host_killed_leaves_the_others_serving_and_loses_no_confirmed_message(cluster):
    connection = connect(cluster)
    ch = connection.channel()
    ch.confirm_delivery()
    prefix = unique("kill")
    queues = {p: queue_on(p, prefix) for p in range(PARTITIONS)}
    for queue in queues.values():
        ch.queue_declare(queue, durable=True)
    confirmed = [f"before-{i}".encode() for i in range(500)]
    publish_confirmed(ch, queues[1], confirmed)

    victim = cluster["processes"][1]
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)

    # Hosts A and C keep serving on the same connection.
    for partition in (0, 2):
        body = f"while-b-is-down-{partition}".encode()
        publish_confirmed(ch, queues[partition], [body])
        assert drain(ch, queues[partition], 1) == [body]
    assert connection.is_open

    cluster["start_worker"]("b", 1)
    deadline = time.time() + 30
    got = []
    while time.time() < deadline and len(got) < len(confirmed):
        try:
            got += drain(ch, queues[1], len(confirmed) - len(got), timeout=2)
        except pika.exceptions.ChannelClosedByBroker:
            ch = connection.channel()  # 404 while the partition is still unreachable
            ch.confirm_delivery()
            time.sleep(0.2)
    assert got == confirmed, f"{len(got)} of {len(confirmed)} confirmed messages came back"
    assert connection.is_open
    connection.close()
