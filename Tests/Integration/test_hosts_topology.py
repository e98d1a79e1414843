"""One topology for the routers of several hosts (issue 18): three hosts in network namespaces,
etcd (Debian's etcd-server) on host A, a worker on each host, and a router on hosts A and B.
Both routers follow the partition map and share the topology through etcd. Shown with pika
clients connected to the two routers:
- exchanges, queues and bindings declared through one router route publishes made through the
  other, and a delete through one is seen by the other;
- a user, vhost and permissions made through one router log in through the other, and the
  vhost deleted through one closes its connections on the other (320);
- an exclusive reply queue of a client of A takes replies published through B, is locked
  (405) to B's clients, and goes away everywhere with its connection;
- the same exchange or queue declared on both hosts at once: both get declare-ok;
- an exchange declared at once on both hosts with two types: one declare-ok and one
  406 PRECONDITION_FAILED, and both routers then hold the same exchange;
- router A killed (kill -9): router B forgets the exclusive queues of A's connections;
- routers are members under a lease (`broker cluster members`): one killed leaves the list
  within the TTL, one stopped cleanly at once;
- host B killed whole (its router and worker, kill -9): A's client stays connected and the
  partitions of hosts A and C keep serving; once B's processes start again, every confirmed
  persistent message of B's partition is there, through either router.

Needs root, iproute2 and etcd-server, as CI has (Deploy/install-deps.sh)."""
import json
import os
import signal
import subprocess
import threading
import time

import pika
import pytest

from conftest import broker_binary, needs_own_broker, unique
from test_hosts_netns import (AMQP_PORT, ETCD_PORT, LINK_PORT, PARTITIONS, USER, Hosts, netns_process, queue_on, require_namespaces,
                              start_etcd, tear_down)
from test_link_tcp import link_tls
from test_tls import make_pki

NET = 204
TTL = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    needs_own_broker("--etcd", "not applicable: RabbitMQ clusters through Erlang distribution")
    require_namespaces()
    pki = make_pki(tmp_path_factory.mktemp("topology-pki"))
    hosts = Hosts(NET)
    dirs = {h: tmp_path_factory.mktemp(f"topology-host-{h}") for h in "abc"}
    for d in dirs.values():
        os.chmod(d, 0o700)
    etcd_url = f"http://{hosts.address['a']}:{ETCD_PORT}"
    common = ["--partitions", str(PARTITIONS), "--etcd", etcd_url]
    processes = {}
    etcd = None
    try:
        hosts.route_all()
        etcd = start_etcd(hosts, dirs["a"])

        def start_worker(host, partition):
            processes[partition] = netns_process(
                hosts, host, ["worker", "--partition", str(partition), *common, "--runtime-dir", str(dirs[host]),
                              "--node-name", host, "--etcd-lease-ttl", str(TTL),
                              "--link-listen", f"{hosts.address[host]}:{LINK_PORT}", *link_tls(pki)],
                str(dirs[host] / f"worker{partition}.log"), f"ready worker {partition}")

        def start_router(host):
            processes[f"router-{host}"] = netns_process(
                hosts, host,
                ["router", *common, "--runtime-dir", str(dirs[host]), "--host", "0.0.0.0", "--port", str(AMQP_PORT),
                 "--user", f"{USER[0]}:{USER[1]}:administrator", "--node-name", host, "--etcd-lease-ttl", str(TTL),
                 *link_tls(pki, "client")],
                str(dirs[host] / "router.log"), "ready router")

        for host, partition in (("a", 0), ("b", 1), ("c", 2)):
            start_worker(host, partition)
        for host in "ab":
            start_router(host)
        yield {"hosts": hosts, "dirs": dirs, "processes": processes, "start_worker": start_worker, "start_router": start_router}
    finally:
        tear_down(processes, etcd, hosts)


def connect(cluster, host, credentials=USER, vhost="/"):
    params = pika.ConnectionParameters(cluster["hosts"].address[host], AMQP_PORT, vhost,
                                       credentials=pika.PlainCredentials(*credentials), heartbeat=0)
    return pika.BlockingConnection(params)


def eventually(check, timeout=10):
    """Retries `check` (it raises until it holds) for up to `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        try:
            return check()
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def refused(connection, code, call):
    """`call` on a new channel of `connection` must close that channel with `code`."""
    ch = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        call(ch)
    assert closed.value.reply_code == code, closed.value


def get_one(ch, queue, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        method, _, body = ch.basic_get(queue, auto_ack=True)
        if method is not None:
            return body
        time.sleep(0.05)
    return None


def test_topology_declared_through_one_router_routes_through_the_other(cluster):
    a, b = connect(cluster, "a"), connect(cluster, "b")
    on_a, on_b = a.channel(), b.channel()
    exchange, queue = unique("orders"), queue_on(2, unique("eu-orders"))
    on_a.exchange_declare(exchange, "topic", durable=True)
    on_a.queue_declare(queue, durable=True)
    on_a.queue_bind(queue, exchange, "eu.#")

    def routed_from_b():
        ch = b.channel()
        ch.confirm_delivery()
        ch.basic_publish(exchange, "eu.fr", b"from b", pika.BasicProperties(delivery_mode=2), mandatory=True)
        ch.close()
    eventually(routed_from_b)
    assert get_one(on_a, queue) == b"from b"

    # Deleted through B: a publish through A then finds no exchange (404).
    on_b.exchange_delete(exchange)

    eventually(lambda: refused(a, 404, lambda ch: ch.exchange_declare(exchange, passive=True)))
    a.close()
    b.close()


def test_users_and_vhosts_made_through_one_router_log_in_through_the_other(cluster):
    vhost, user = unique("vh"), (unique("user"), "pw-" + unique("s"))
    subprocess.run(["ip", "netns", "exec", cluster["hosts"].names["a"], broker_binary(), "ctl", "add_vhost", vhost,
                    "--runtime-dir", str(cluster["dirs"]["a"])], check=True, capture_output=True, timeout=30)
    for args in (["add_user", *user], ["set_permissions", "-p", vhost, user[0], ".*", ".*", ".*"]):
        result = subprocess.run([broker_binary(), "ctl", *args, "--runtime-dir", str(cluster["dirs"]["a"])],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
    connection = eventually(lambda: connect(cluster, "b", credentials=user, vhost=vhost))
    connection.channel().queue_declare(unique("q"), exclusive=True)

    # The vhost deleted through A: B closes its connection to it, as RabbitMQ does (320).
    result = subprocess.run([broker_binary(), "ctl", "delete_vhost", vhost, "--runtime-dir", str(cluster["dirs"]["a"])],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        deadline = time.time() + 10
        while time.time() < deadline:
            connection.process_data_events(time_limit=0.2)
    assert closed.value.reply_code == 320, closed.value


def race(*calls):
    """Runs the calls at once; returns each one's exception or None."""
    outcomes = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index, call):
        start.wait()
        try:
            call()
        except Exception as error:
            outcomes[index] = error
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_the_same_declares_on_two_hosts_at_once_both_succeed(cluster):
    a, b = connect(cluster, "a"), connect(cluster, "b")
    on_a, on_b = a.channel(), b.channel()
    for _ in range(5):
        exchange, queue = unique("same-x"), queue_on(1, unique("same-q"))

        def declare(ch):
            return lambda: (ch.exchange_declare(exchange, "fanout", durable=True), ch.queue_declare(queue, durable=True),
                            ch.queue_bind(queue, exchange))
        assert race(declare(on_a), declare(on_b)) == [None, None]
        on_a.basic_publish(exchange, "", b"once")
        assert get_one(on_b, queue) == b"once"
        assert on_b.basic_get(queue, auto_ack=True)[0] is None, "one binding, not two"
    a.close()
    b.close()


def test_an_exchange_declared_with_two_types_at_once_is_refused_on_one_host(cluster):
    a, b = connect(cluster, "a"), connect(cluster, "b")
    for _ in range(5):
        exchange = unique("contested")
        on_a, on_b = a.channel(), b.channel()
        outcomes = race(lambda: on_a.exchange_declare(exchange, "direct"), lambda: on_b.exchange_declare(exchange, "fanout"))
        refused = [o for o in outcomes if o is not None]
        assert len(refused) == 1, outcomes
        assert isinstance(refused[0], pika.exceptions.ChannelClosedByBroker) and refused[0].reply_code == 406, refused
        assert "inequivalent arg 'type'" in refused[0].reply_text, refused[0].reply_text
        winner = "direct" if outcomes[0] is None else "fanout"

        def both_hold_the_winner():
            for connection in (a, b):
                ch = connection.channel()
                ch.exchange_declare(exchange, winner)  # 406 if this router held the other type
                ch.close()
        eventually(both_hold_the_winner)
    a.close()
    b.close()


def test_an_exclusive_queue_of_one_host_takes_replies_from_the_other(cluster):
    """The RPC pattern across hosts: the caller on A has an exclusive reply queue; the server on
    B publishes to it through the default exchange. B's clients may not consume from it
    (405), and it is gone everywhere once its connection closes."""
    a, b = connect(cluster, "a"), connect(cluster, "b")
    on_a = a.channel()
    reply_queue = on_a.queue_declare("", exclusive=True).method.queue

    def reply_from_b():
        ch = b.channel()
        ch.confirm_delivery()
        ch.basic_publish("", reply_queue, b"the answer", mandatory=True)
        ch.close()
    eventually(reply_from_b)
    assert get_one(on_a, reply_queue) == b"the answer"

    refused(b, 405, lambda ch: ch.basic_consume(reply_queue, lambda *_: None))

    a.close()

    eventually(lambda: refused(b, 404, lambda ch: ch.queue_declare(reply_queue, passive=True)))
    b.close()


def test_a_router_killed_takes_its_connections_exclusive_queues_with_it(cluster):
    """Router A dies with kill -9 while a client of it has an exclusive queue: the queue's worker
    drops it when A's links close and tells the routers still linked, so router B forgets it
    (404), as RabbitMQ does when a node goes down."""
    a, b = connect(cluster, "a"), connect(cluster, "b")
    queue = a.channel().queue_declare("", exclusive=True).method.queue

    eventually(lambda: refused(b, 405, lambda ch: ch.basic_consume(queue, lambda *_: None)))

    router = cluster["processes"]["router-a"]
    os.kill(router.process.pid, signal.SIGKILL)
    router.process.wait(timeout=10)

    eventually(lambda: refused(b, 404, lambda ch: ch.queue_declare(queue, passive=True)))
    b.close()
    cluster["start_router"]("a")


def test_routers_are_members_under_a_lease(cluster):
    """Each router registers in etcd under a lease: `broker cluster members` lists it with the
    workers; a router killed with kill -9 leaves the list a lease TTL later, one stopped cleanly
    at once, and each is listed again when it starts again."""
    etcd_url = f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}"
    processes = cluster["processes"]

    def routers():
        result = subprocess.run([broker_binary(), "cluster", "members", "--etcd", etcd_url, "--json"],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert sorted((row["partition"], row["node"]) for row in rows if row["role"] == "worker") == [(0, "a"), (1, "b"), (2, "c")], rows
        return sorted((row["node"], row["pid"]) for row in rows if row["role"] == "router")

    def expect_routers(expected, timeout=10):
        def check():
            assert routers() == expected
        eventually(check, timeout)

    expect_routers([("a", processes["router-a"].process.pid), ("b", processes["router-b"].process.pid)])
    os.kill(processes["router-b"].process.pid, signal.SIGKILL)
    processes["router-b"].process.wait(timeout=10)
    expect_routers([("a", processes["router-a"].process.pid)], timeout=TTL + 8)
    processes["router-a"].process.terminate()
    processes["router-a"].process.wait(timeout=30)
    assert routers() == [], "a router stopped cleanly is still listed"

    for host in "ab":
        cluster["start_router"](host)
    assert "otherRouters=1" in processes["router-b"].text(), processes["router-b"].text()
    expect_routers([("a", processes["router-a"].process.pid), ("b", processes["router-b"].process.pid)])
    a = connect(cluster, "a")
    a.channel().queue_declare(queue_on(0, unique("after-members")), exclusive=True)
    a.close()


def test_a_whole_host_killed_leaves_the_others_serving_and_loses_no_confirmed_message(cluster):
    """Last in this file: it kills host B's processes and starts them again."""
    a = connect(cluster, "a")
    ch = a.channel()
    ch.confirm_delivery()
    queues = {p: queue_on(p, unique(f"host-kill-{p}")) for p in range(PARTITIONS)}
    confirmed = [f"m-{i}".encode() for i in range(200)]
    for queue in queues.values():
        ch.queue_declare(queue, durable=True)
        for body in confirmed:
            ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True)

    processes = cluster["processes"]
    for name in ("router-b", 1):
        os.kill(processes[name].process.pid, signal.SIGKILL)
        processes[name].process.wait(timeout=10)

    # Hosts A and C serve on: a confirmed publish, then everything back in order.
    for partition in (0, 2):
        ch.basic_publish("", queues[partition], b"after", pika.BasicProperties(delivery_mode=2), mandatory=True)
        got = [get_one(ch, queues[partition], timeout=5) for _ in range(len(confirmed) + 1)]
        assert got == confirmed + [b"after"], f"partition {partition}"
    assert a.is_open

    cluster["start_worker"]("b", 1)  # waits out its own claim (TTL) and claims the next epoch
    cluster["start_router"]("b")
    b = connect(cluster, "b")

    def all_back(connection):
        def check():
            on = connection.channel()
            on.queue_declare(queues[1], passive=True)
            return on
        return eventually(check, timeout=30)
    on_b = all_back(b)
    got = [get_one(on_b, queues[1]) for _ in range(100)]
    on_a = all_back(a)
    got += [get_one(on_a, queues[1]) for _ in range(100)]
    assert got == confirmed, f"{sum(1 for g in got if g is not None)} of {len(confirmed)} confirmed messages came back"
    assert a.is_open
    a.close()
    b.close()
