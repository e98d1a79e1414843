"""`broker cluster join` (issue 18): hosts join a cluster with one command each. Three network
namespaces stand for hosts; etcd (Debian's etcd-server) runs on host A. Host A joins serving
partition 0, host B then joins and takes the partitions left (1 and 2). Shown with pika clients
connected to both hosts and with `broker cluster partitions`:
- the map shows where each partition went, and the first host's router started although the
  other partitions had no worker yet;
- a message published through host A reaches a consumer on host B, for a queue on every
  partition, and the other way round;
- a host that names another partition count than the cluster's is refused, and so is one
  that would serve nothing;
- `broker cluster move-partition` moves a partition from host B to host A while a publisher
  on A sends it confirmed messages, persistent and transient in turn, and a consumer on B
  takes them: every confirmed message arrives, and neither client's connection closes nor
  its consumer is cancelled; a move to a node that never takes it times out and leaves the
  map as it was;
- a taker killed with kill -9 while the owner streams it a 300 MB store: the owner stops, its
  supervisor starts it again on its own store, and every message is still there;
- the owner killed with kill -9 while it streams a 200 MB store: the taker gives up with
  status 76 and removes what it copied, and the owner's supervisor starts it again on its
  own store, with every message;
- what lives in memory only moves too: transient messages keep their places among persistent
  ones, unacked deliveries come back redelivered to the re-attached consumer, and non-durable
  and exclusive queues move with their messages, exclusive ones still their owners' (and
  deleted when the owner closes, also when it closes while the partition moves).

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
from test_hosts_netns import AMQP_PORT, ETCD_PORT, LINK_PORT, PARTITIONS, USER, Hosts, queue_on, require_namespaces, start_etcd, tear_down
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
        yield {"hosts": hosts, "dirs": dirs, "processes": processes, "join_args": join_args, "prefix": prefix, "pki": pki}
    finally:
        tear_down(processes, etcd, hosts)


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


def test_a_partition_moves_to_another_host_under_load(cluster):
    hosts, dirs = cluster["hosts"], cluster["dirs"]
    etcd_url = f"http://{hosts.address['a']}:{ETCD_PORT}"
    queue = queue_on(2, unique("moving"))
    persistent, transient = pika.BasicProperties(delivery_mode=2), pika.BasicProperties(delivery_mode=1)
    setup = connect(cluster, "a")
    channel = setup.channel()
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    confirmed = set()
    for i in range(300):  # stored before the move: they travel in the store's files
        channel.basic_publish("", queue, f"stored-{i}".encode(), persistent, mandatory=True)
        confirmed.add(f"stored-{i}".encode())
    setup.close()

    stop, refused, publisher_state = threading.Event(), [], {}

    def publish():
        connection = connect(cluster, "a")
        publishing = connection.channel()
        publishing.confirm_delivery()
        i = 0
        while not stop.is_set():
            body = f"live-{i}".encode()
            i += 1
            try:
                # Transient ones too: a confirmed message moves whether it is on disk or not.
                publishing.basic_publish("", queue, body, persistent if i % 2 else transient, mandatory=True)
                confirmed.add(body)
            except (pika.exceptions.NackError, pika.exceptions.UnroutableError) as error:
                refused.append(type(error).__name__)  # while the partition moves: not confirmed
                time.sleep(0.02)
        publisher_state["open"] = connection.is_open
        connection.close()

    received, cancelled = [], []
    consumer = connect(cluster, "b")
    consuming = consumer.channel()
    consuming.basic_qos(prefetch_count=50)
    consuming.add_on_cancel_callback(lambda frame: cancelled.append(frame))

    def on_message(ch, method, properties, body):
        received.append(body)
        ch.basic_ack(method.delivery_tag)

    consuming.basic_consume(queue, on_message)
    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        consumer.process_data_events(time_limit=1.0)
        move = subprocess.Popen([broker_binary(), "cluster", "move-partition", "2", "--to", "a", "--etcd", etcd_url],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while move.poll() is None:
            consumer.process_data_events(time_limit=0.1)
        output = move.stdout.read()
        assert move.returncode == 0, output
        assert "partition 2 moved from node 'b'" in output and "to node 'a'" in output, output
        deadline = time.time() + 3  # publishing goes on through the new owner
        while time.time() < deadline:
            consumer.process_data_events(time_limit=0.1)
    finally:
        stop.set()
        publisher.join(30)
    deadline = time.time() + 30
    while not confirmed <= set(received) and time.time() < deadline:
        consumer.process_data_events(time_limit=0.1)
    missing = confirmed - set(received)
    assert not missing, f"{len(missing)} confirmed messages lost, e.g. {sorted(missing)[:5]}"
    assert any(body.startswith(b"live-") and body in confirmed for body in received[-20:]), "nothing published after the move"
    assert publisher_state.get("open") and consumer.is_open, "a client connection was closed"
    assert not cancelled, cancelled
    consumer.close()
    print(f"moved under load: {len(confirmed)} confirmed, {len(received)} received, refused while moving: {len(refused)}")

    result = subprocess.run([broker_binary(), "cluster", "partitions", "--etcd", etcd_url, "--json"],
                            capture_output=True, text=True, timeout=30)
    rows = {row["partition"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows[2]["node"] == "a" and rows[2]["address"] == f"{hosts.address['a']}:{LINK_PORT + 2}", rows
    assert "worker 2 handed its partition over to another host; not restarted" in cluster["processes"]["b"].text()
    assert "worker 2 serves here now" in cluster["processes"]["a"].text()
    moved = list((dirs["b"] / "data").glob("partition-2.moved-*"))
    assert moved, "the old host's copy was not set aside"
    # Emptied once the new owner serves; the directory stays, with a note.
    deadline = time.time() + 30
    while sorted(os.listdir(moved[0])) != ["MOVED"]:
        assert time.time() < deadline, f"{moved[0]} still holds {sorted(os.listdir(moved[0]))}"
        time.sleep(0.5)
    assert "node 'a' serves it" in (moved[0] / "MOVED").read_text()
    # The old host never serves its handed-over copy again, nor an empty store in its place.
    runtime = dirs["b"] / "after-move"
    runtime.mkdir(mode=0o700)
    worker = subprocess.run([*cluster["prefix"]("b"), broker_binary(), "worker", "--partition", "2", "--partitions", str(PARTITIONS),
                             "--runtime-dir", str(runtime), "--data-dir", str(dirs["b"] / "data"), "--etcd", etcd_url,
                             "--node-name", "b"], capture_output=True, text=True, timeout=60)
    assert worker.returncode != 0 and "partition 2 was handed over to another host" in worker.stdout + worker.stderr, \
        worker.stdout + worker.stderr


def test_a_move_to_a_node_that_never_takes_it_times_out_and_changes_nothing(cluster):
    etcd_url = f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}"
    result = subprocess.run([broker_binary(), "cluster", "move-partition", "1", "--to", "nowhere", "--etcd", etcd_url,
                             "--timeout", "2"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout
    assert "did not move to node 'nowhere' within 2 s" in result.stdout + result.stderr, result.stdout + result.stderr
    rows = subprocess.run([broker_binary(), "cluster", "partitions", "--etcd", etcd_url, "--json"],
                          capture_output=True, text=True, timeout=30).stdout
    assert {row["partition"]: row["node"] for row in map(json.loads, rows.splitlines())}[1] == "b", rows
    moves = subprocess.run(["etcdctl", "--endpoints", etcd_url, "get", "--prefix", "/broker/broker/moves/"],
                           capture_output=True, text=True, timeout=30)
    assert moves.returncode == 0 and moves.stdout.strip() == "", moves.stdout + moves.stderr


def test_a_taker_killed_mid_transfer_leaves_the_owner_serving_its_store(cluster):
    etcd_url = f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}"
    queue = fill_partition_1(cluster, "kept", 300)  # 300 MB: the transfer takes long enough to be cut
    epoch = partition_owner(etcd_url, 1)["epoch"]

    # A taker on host C, killed once it has started to take partition 1.
    taker_dir, log, taker = start_taker(cluster, "taker")
    taker.kill()
    taker.wait(10)
    assert "took the partition's files" not in log.read_text(), "the transfer ended before the kill: make the store larger"
    assert not (taker_dir / "data" / "partition-1").exists(), "a partial store was put in place"

    # The owner gives the handover up, is started again on its own store, and serves it.
    deadline = time.time() + 60
    while True:
        owner = partition_owner(etcd_url, 1)
        if owner.get("node") == "b" and owner["epoch"] > epoch:
            try:
                check = connect(cluster, "a")
                count = check.channel().queue_declare(queue, passive=True).method.message_count
                check.close()
                if count == 300:
                    break
            except pika.exceptions.AMQPError:
                pass
        assert time.time() < deadline, f"partition 1 did not come back: {owner}\n" + cluster["processes"]["b"].text()[-3000:]
        time.sleep(0.2)
    assert "stopping after the failed handover" in cluster["processes"]["b"].text()


def test_an_owner_killed_mid_transfer_is_restarted_on_its_store_and_the_taker_gives_up(cluster):
    dirs = cluster["dirs"]
    etcd_url = f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}"
    owner_node = partition_owner(etcd_url, 1)["node"]
    queue = fill_partition_1(cluster, "owner-killed", 200)  # 200 MB: the transfer takes long enough to be cut
    epoch = partition_owner(etcd_url, 1)["epoch"]

    taker_dir, log, taker = start_taker(cluster, "taker-of-killed")
    owner_pid = int(subprocess.run(["pgrep", "-f", f"worker --partition 1 .*{dirs[owner_node]}"], capture_output=True, text=True,
                                   check=True).stdout.split()[0])
    os.kill(owner_pid, signal.SIGKILL)

    # The taker gives up: it is not started again, and nothing it copied is left.
    assert taker.wait(30) == 76, log.read_text()
    assert "cannot take the partition over" in log.read_text()
    data = taker_dir / "data"
    assert not (data / "partition-1").exists() and not (data / "partition-1.incoming").exists(), sorted(os.listdir(data))
    # The owner's supervisor starts it again on its own store (a crash, as any other).
    deadline = time.time() + 60
    while True:
        owner = partition_owner(etcd_url, 1)
        if owner.get("node") == owner_node and owner["epoch"] > epoch:
            try:
                check = connect(cluster, "a")
                count = check.channel().queue_declare(queue, passive=True).method.message_count
                check.channel().queue_delete(queue)
                check.close()
                assert count == 200, count
                break
            except pika.exceptions.AMQPError:
                pass
        assert time.time() < deadline, f"partition 1 did not come back: {owner}"
        time.sleep(0.2)


def test_a_move_carries_transient_messages_unacked_deliveries_and_non_durable_queues(cluster):
    etcd_url = f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}"
    target = "a" if partition_owner(etcd_url, 2)["node"] == "b" else "b"
    mixed, plain, mine, held, idle = (queue_on(2, unique(name)) for name in ("mixed", "plain", "mine", "held", "idle"))
    transient, persistent = pika.BasicProperties(delivery_mode=1), pika.BasicProperties(delivery_mode=2)
    # The keeper stays connected through the move: it owns `mine` and holds deliveries of `held`.
    keeper = connect(cluster, "a")
    channel = declare_when_served(keeper, mixed)
    channel.confirm_delivery()
    channel.queue_declare(plain)
    channel.queue_declare(mine, exclusive=True)
    channel.queue_declare(held)
    for i in range(6):  # transient ones between persistent ones: they come back in their places
        channel.basic_publish("", mixed, f"d{i}".encode(), persistent if i % 2 == 0 else transient, mandatory=True)
    for i in range(3):
        for queue, prefix in ((plain, "p"), (mine, "x"), (held, "h")):
            channel.basic_publish("", queue, f"{prefix}{i}".encode(), transient, mandatory=True)
    # A store large enough that its last file, the queue catalog, goes out well after the owner
    # closed its links, when the connections' exclusive queues must still be in the catalog.
    bulk = queue_on(2, unique("bulk"))
    channel.queue_declare(bulk, durable=True)
    for _ in range(150):
        channel.basic_publish("", bulk, b"b" * (1 << 20), persistent, mandatory=True)
    consuming = keeper.channel()
    consuming.basic_qos(prefetch_count=10)
    deliveries, cancelled = [], []
    consuming.add_on_cancel_callback(cancelled.append)
    consuming.basic_consume(held, lambda ch, method, properties, body: deliveries.append((body, method.redelivered, method.delivery_tag)))
    deadline = time.time() + 10
    while len(deliveries) < 3:
        assert time.time() < deadline, deliveries
        keeper.process_data_events(time_limit=0.1)
    # Another connection owns an exclusive queue there and does nothing more until it closes;
    # a third closes while the partition moves.
    idler = connect(cluster, "a")
    idler.channel().queue_declare(idle, exclusive=True)
    closer, closed_queue = connect(cluster, "a"), queue_on(2, unique("closed-while-moving"))
    closer.channel().queue_declare(closed_queue, exclusive=True)
    lost = "partition=2 [RouterServer] link to worker lost"
    links_lost = cluster["processes"]["a"].text().count(lost)

    move = subprocess.Popen([broker_binary(), "cluster", "move-partition", "2", "--to", target, "--etcd", etcd_url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while move.poll() is None:
        keeper.process_data_events(time_limit=0.1)
        if closer.is_open and cluster["processes"]["a"].text().count(lost) >= links_lost + 2:
            time.sleep(0.2)  # every event loop's link to the old owner is lost: no stream to end
            closer.close()
    output = move.stdout.read()
    assert move.returncode == 0, output
    assert f"to node '{target}'" in output, output
    new_owner = cluster["processes"][target].text()
    assert "kept what a handover carried over" in new_owner, new_owner[-3000:]

    # The unacked deliveries come back to the re-attached consumer, marked redelivered.
    deadline = time.time() + 30
    while len(deliveries) < 6:
        assert time.time() < deadline, deliveries
        keeper.process_data_events(time_limit=0.1)
    assert [(body, redelivered) for body, redelivered, _ in deliveries[3:]] == [(b"h0", True), (b"h1", True), (b"h2", True)]
    consuming.basic_ack(deliveries[-1][2], multiple=True)
    assert not cancelled, cancelled

    def drain(queue):
        bodies = []
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body.decode())

    assert channel.queue_delete(bulk).method.message_count == 150
    assert drain(mixed) == [f"d{i}" for i in range(6)]
    assert drain(plain) == ["p0", "p1", "p2"]
    assert drain(mine) == ["x0", "x1", "x2"]
    # Still exclusive to their owners, as the new worker checks (host B's router does not know the owners).
    other = connect(cluster, "b")
    for queue in (mine, idle):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            other.channel().queue_declare(queue, passive=True)
        assert refused.value.reply_code == 405, refused.value
    assert not closer.is_open, "the router's links to the old owner were not seen lost"
    eventually_gone(other, closed_queue)
    # An exclusive queue goes when its owner closes, though the owner sent nothing since the move.
    idler.close()
    eventually_gone(other, idle)
    assert keeper.is_open and other.is_open
    other.close()
    keeper.close()


def declare_when_served(connection, queue):
    """Declares a durable queue, retrying for up to 30 s: run alone, a test may start before
    host A's router has linked to every partition (404 meanwhile). Returns the channel."""
    deadline = time.time() + 30
    while True:
        channel = connection.channel()
        try:
            channel.queue_declare(queue, durable=True)
            return channel
        except pika.exceptions.ChannelClosedByBroker:
            assert time.time() < deadline, f"{queue}'s partition is not served"
            time.sleep(0.2)


def fill_partition_1(cluster, name, megabytes):
    """A durable queue on partition 1 with `megabytes` persistent 1 MB messages; its name."""
    queue = queue_on(1, unique(name))
    connection = connect(cluster, "a")
    channel = declare_when_served(connection, queue)
    channel.confirm_delivery()
    body = b"m" * (1 << 20)
    for _ in range(megabytes):
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    connection.close()
    return queue


def start_taker(cluster, name):
    """`broker worker --partition 1 --take-over` on host C, once it has started to take the
    partition: its directory, its log and its process."""
    hosts, etcd_url = cluster["hosts"], f"http://{cluster['hosts'].address['a']}:{ETCD_PORT}"
    taker_dir = cluster["dirs"]["c"] / name
    taker_dir.mkdir(mode=0o700)
    log = taker_dir / "worker.log"
    taker = subprocess.Popen([*cluster["prefix"]("c"), broker_binary(), "worker", "--partition", "1", "--partitions", str(PARTITIONS),
                              "--take-over", "--runtime-dir", str(taker_dir), "--etcd", etcd_url, "--node-name", "c",
                              "--link-listen", f"{hosts.address['c']}:{LINK_PORT + 1}", *link_tls(cluster["pki"], "member")],
                             stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while "taking the partition over" not in log.read_text():
        assert time.time() < deadline and taker.poll() is None, log.read_text()
        time.sleep(0.02)
    time.sleep(0.3)
    return taker_dir, log, taker


def eventually_gone(connection, queue):
    """An exclusive queue whose owner closed is deleted (404) within 10 s."""
    deadline = time.time() + 10
    while True:
        try:
            connection.channel().queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code == 404:
                return
        assert time.time() < deadline, f"{queue} outlived its owner's connection"
        time.sleep(0.2)


def partition_owner(etcd_url, partition):
    result = subprocess.run([broker_binary(), "cluster", "partitions", "--etcd", etcd_url, "--json"],
                            capture_output=True, text=True, timeout=30)
    return {row["partition"]: row for row in map(json.loads, result.stdout.splitlines())}[partition]
