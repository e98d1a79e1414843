"""The link between hosts (issue 18, first step): a worker takes routers of other hosts on TCP
with mutual TLS (`--link-listen`), and a router reaches a partition there (`--worker-link`).
Here the "other host" is a worker with its own runtime directory, so the router cannot reach
it by its Unix socket. The certificates are made with `openssl`; pika is the client; Python's
ssl module plays the stranger knocking on the worker's port."""
import os
import socket
import ssl
import subprocess
import time

import pika
import pytest

from conftest import broker_binary, free_port, needs_own_broker, queue_on_partition, stop_process, unique
from test_tls import make_pki

PARTITIONS = 2
REMOTE = 1  # the partition whose worker is "on another host"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("link-pki"))


def link_tls(pki, name="server"):
    return ["--link-cert-file", pki(f"{name}.pem"), "--link-key-file", pki(f"{name}.key"), "--link-ca-file", pki("ca.pem")]


class Process:
    """One broker process started by hand (after `prefix`, e.g. `ip netns exec NS`), its output in
    a file; waits for its ready line."""

    def __init__(self, args, log, ready, prefix=(), env=None):
        self.log = log
        self.process = subprocess.Popen([*prefix, broker_binary(), *args], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                        env=None if env is None else {**os.environ, **env})
        deadline = time.time() + 60
        while ready not in self.text():
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise AssertionError(f"{args[0]} did not start:\n{self.text()}")
            time.sleep(0.1)

    def text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        stop_process(self.process)


def start_failure(args, tmp_path):
    """Runs a process that must refuse to start; returns what it said."""
    result = subprocess.run([broker_binary(), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, f"{args[0]} started:\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def hosts(pki, tmp_path_factory):
    """Host A: worker 0 and the router; host B: worker 1, reached over TCP with mutual TLS."""
    needs_own_broker("--link-listen", "not applicable: RabbitMQ's inter-node links are Erlang distribution")
    a, b = tmp_path_factory.mktemp("host-a"), tmp_path_factory.mktemp("host-b")
    for d in (a, b):
        os.chmod(d, 0o700)
    link_port, amqp_port = free_port(), free_port()
    common = ["--partitions", str(PARTITIONS)]
    processes = []
    try:
        processes.append(Process(["worker", "--partition", "0", *common, "--runtime-dir", str(a)], str(a / "worker0.log"),
                                 "ready worker 0"))
        # Host B's worker takes its link settings from the environment (BROKER_<KEY>), as the
        # systemd units pass them; the router takes flags.
        processes.append(Process(["worker", "--partition", str(REMOTE), *common, "--runtime-dir", str(b)],
                                 str(b / "worker1.log"), f"ready worker {REMOTE}",
                                 env={"BROKER_LINK_LISTEN": f"127.0.0.1:{link_port}", "BROKER_LINK_CERT_FILE": pki("server.pem"),
                                      "BROKER_LINK_KEY_FILE": pki("server.key"), "BROKER_LINK_CA_FILE": pki("ca.pem")}))
        processes.append(Process(["router", *common, "--runtime-dir", str(a), "--host", "127.0.0.1", "--port", str(amqp_port),
                                  "--worker-link", f"{REMOTE}=127.0.0.1:{link_port}", *link_tls(pki, "client")],
                                 str(a / "router.log"), "ready router"))
        yield {"amqp": amqp_port, "link": link_port, "processes": processes, "a": a, "b": b}
    finally:
        for p in reversed(processes):
            p.stop()


def queue_on(partition, prefix):
    return queue_on_partition(prefix, partition, PARTITIONS)


def test_messages_reach_a_partition_on_another_host(hosts):
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", hosts["amqp"]))
    ch = connection.channel()
    ch.confirm_delivery()
    prefix = unique("link")
    for partition in range(PARTITIONS):
        queue = queue_on(partition, prefix)
        ch.queue_declare(queue, durable=True)
        bodies = [f"{partition}-{i}".encode() * 50 for i in range(200)]
        for body in bodies:
            ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
        got = []
        for method, _, body in ch.consume(queue, inactivity_timeout=10):
            assert method is not None, f"partition {partition}: only {len(got)} of {len(bodies)} arrived"
            got.append(body)
            ch.basic_ack(method.delivery_tag)
            if len(got) == len(bodies):
                break
        ch.cancel()
        assert got == bodies
    # The remote partition's queue lives in host B's worker: its store is under B's directory.
    assert any(name.startswith("partition-") for name in os.listdir(hosts["b"] / "data")), os.listdir(hosts["b"] / "data")
    connection.close()


def handshake(port, pki, cert=None, key=None):
    """A TLS handshake with the worker's link port; returns None if it succeeded and the
    worker then speaks, else the error."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(pki("ca.pem"))
    if cert:
        context.load_cert_chain(cert, key)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw) as tls:
                # TLS 1.3: a refused client certificate shows at the first read.
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
                data = tls.recv(9)
                return None if data else "closed"
    except (ssl.SSLError, ConnectionError, OSError) as error:
        return error


def test_a_worker_takes_only_processes_of_the_cluster_ca(hosts, pki):
    port = hosts["link"]
    assert handshake(port, pki, pki("client.pem"), pki("client.key")) is None
    assert handshake(port, pki) is not None, "a peer without a certificate was served"
    assert handshake(port, pki, pki("stranger.pem"), pki("stranger.key")) is not None, "another CA's certificate was served"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:  # plain HTTP/2, no TLS
        raw.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        raw.settimeout(10)
        try:
            data = raw.recv(64)
        except (ConnectionError, socket.timeout):
            data = b""
        assert not data.startswith(bytes([0, 0])), f"the worker answered plain HTTP/2: {data!r}"
    # The router's link still serves after the strangers.
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", hosts["amqp"]))
    ch = connection.channel()
    queue = queue_on(REMOTE, unique("after"))
    ch.queue_declare(queue)
    ch.basic_publish("", queue, b"still here")
    deadline = time.time() + 10
    while time.time() < deadline:
        method, _, body = ch.basic_get(queue, auto_ack=True)
        if method:
            assert body == b"still here"
            break
        time.sleep(0.05)
    else:
        pytest.fail("the remote partition stopped serving after the refused peers")
    connection.close()


def test_links_between_hosts_need_the_tls_files(tmp_path, pki):
    needs_own_broker("--link-listen", "not applicable")
    os.chmod(tmp_path, 0o700)
    said = start_failure(["worker", "--partition", "0", "--partitions", "1", "--runtime-dir", str(tmp_path),
                          "--link-listen", f"127.0.0.1:{free_port()}"], tmp_path)
    assert "mutual TLS" in said, said
    said = start_failure(["router", "--partitions", "1", "--runtime-dir", str(tmp_path), "--port", str(free_port()),
                          "--worker-link", f"0=127.0.0.1:{free_port()}"], tmp_path)
    assert "mutual TLS" in said, said
    said = start_failure(["router", "--partitions", "1", "--runtime-dir", str(tmp_path), "--port", str(free_port()),
                          "--worker-link", "5=127.0.0.1:1"], tmp_path)
    assert "--worker-link wants" in said, said


def test_a_router_refuses_a_worker_of_another_ca(pki, tmp_path_factory):
    """Mutual: the router checks the worker's certificate too. A worker showing another CA's
    certificate never serves the router's clients; the router says why."""
    needs_own_broker("--worker-link", "not applicable")
    a, b = tmp_path_factory.mktemp("router-a"), tmp_path_factory.mktemp("stranger-b")
    for d in (a, b):
        os.chmod(d, 0o700)
    link_port, amqp_port = free_port(), free_port()
    common = ["--partitions", str(PARTITIONS)]
    stranger_tls = ["--link-cert-file", pki("stranger.pem"), "--link-key-file", pki("stranger.key"),
                    "--link-ca-file", pki("other-ca.pem")]
    processes = []
    try:
        processes.append(Process(["worker", "--partition", "0", *common, "--runtime-dir", str(a)], str(a / "worker0.log"),
                                 "ready worker 0"))
        processes.append(Process(["worker", "--partition", str(REMOTE), *common, "--runtime-dir", str(b),
                                  "--link-listen", f"127.0.0.1:{link_port}", *stranger_tls],
                                 str(b / "worker1.log"), f"ready worker {REMOTE}"))
        router = subprocess.Popen([broker_binary(), "router", *common, "--runtime-dir", str(a), "--host", "127.0.0.1",
                                   "--port", str(amqp_port), "--worker-link", f"{REMOTE}=127.0.0.1:{link_port}",
                                   *link_tls(pki, "client")], stdout=open(a / "router.log", "w"), stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 20
            log = ""
            while "CERTIFICATE_VERIFY_FAILED" not in log:
                assert time.time() < deadline, log
                time.sleep(0.2)
                log = open(a / "router.log").read()
            # The worker heard the router's refusal (its alert), and no link was restored.
            assert "TLSV1_ALERT_UNKNOWN_CA" in open(b / "worker1.log").read()
            assert "link to worker restored" not in log, log
        finally:
            stop_process(router)
    finally:
        for p in reversed(processes):
            p.stop()
