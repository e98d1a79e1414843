"""Durability (invariant 7 of the design): a confirmed persistent message in a durable queue
survives kill -9 of a worker, of the router, or of every process at once; acked messages never
come back; delivered but unacked ones come back with `redelivered`; transient messages and
non-durable queues are gone after a restart; durable exchanges, queues (with their arguments)
and bindings survive; a data directory made with another partition count is refused.

Each test starts its own clusters, one at a time, on a runtime directory of its own; a cluster
started again on that directory finds the data (by default in `<runtime-dir>/data`)."""
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pika
import pytest
from pika.exceptions import AMQPError, ChannelClosedByBroker, NackError, UnroutableError

from conftest import (EXTERNAL_PORT, Cluster, broker_binary, free_port, get_all_messages,
                      queues_on_distinct_partitions, unique, wait_for, wait_get)

PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)


@pytest.fixture(autouse=True)
def own_broker_only():
    if EXTERNAL_PORT:
        pytest.skip("kills the broker's own processes and restarts them on their data directory")


# --- helpers ------------------------------------------------------------------------------------

def close_quietly(conn):
    try:
        if conn is not None and conn.is_open:
            conn.close()
    except Exception:  # the broker may be gone already
        pass


def connect(cluster, timeout=30.0):
    """A connection to `cluster`, retried while its router is (re)starting."""
    deadline = time.time() + timeout
    while True:
        try:
            return cluster.connect()
        except (AMQPError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def accepts_publish(cluster, queue, timeout=60.0):
    """None once a persistent mandatory publish to `queue` is confirmed (the router is up and
    the worker that owns `queue` serves again), or after `timeout` seconds the last failure."""
    deadline = time.time() + timeout
    failure = "no attempt"
    while time.time() < deadline:
        conn = None
        try:
            conn = cluster.connect()
            ch = conn.channel()
            ch.confirm_delivery()
            ch.basic_publish("", queue, b"probe", PERSISTENT, mandatory=True)
            return None
        except UnroutableError:
            failure = f"queue {queue} does not exist"
            time.sleep(0.2)
        except (AMQPError, OSError) as error:
            failure = repr(error)
            time.sleep(0.2)
        finally:
            close_quietly(conn)
    return failure


def kill_worker_and_wait(cluster, partition, probe, timeout=60.0):
    """kill -9 worker `partition`; returns once `cluster up` has restarted it and the router
    confirms a publish to `probe`, a durable queue on that partition."""
    old = cluster.worker_pid(partition)
    assert old is not None, f"worker {partition} is not running; log: {cluster.log_text()[-3000:]}"
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: cluster.worker_pid(partition) not in (None, old), timeout), \
        f"worker {partition} was not restarted; log: {cluster.log_text()[-3000:]}"
    failure = accepts_publish(cluster, probe, timeout)
    assert failure is None, \
        f"partition {partition} refuses publishes after its restart ({failure}); log: {cluster.log_text()[-3000:]}"


def declare_probes(cluster, prefix):
    """One durable queue per partition (index = partition) for `accepts_publish`."""
    probes = queues_on_distinct_partitions(unique(prefix), cluster.workers, cluster.workers)
    conn = cluster.connect()
    ch = conn.channel()
    for q in probes:
        ch.queue_declare(q, durable=True)
    conn.close()
    return probes


def drain(cluster, queues, timeout=180.0):
    """Consumes every message left in `queues` (auto-ack) until each is empty and nothing has
    arrived for a second: {message_id: [redelivered flag of each copy]}."""
    conn = connect(cluster)
    ch = conn.channel()
    found = {}
    received = 0

    def on_message(channel, method, properties, body):
        nonlocal received
        received += 1
        found.setdefault(properties.message_id, []).append(method.redelivered)

    for q in queues:
        ch.basic_consume(q, on_message, auto_ack=True)
    counter = conn.channel()
    deadline = time.time() + timeout
    seen, quiet_since = 0, time.time()
    while True:
        if time.time() > deadline:
            left = {q: counter.queue_declare(q, passive=True).method.message_count for q in queues}
            pytest.fail(f"queues not drained after {timeout} s: {received} messages taken, still ready: {left}")
        conn.process_data_events(time_limit=0.2)
        if received != seen:
            seen, quiet_since = received, time.time()
        elif time.time() - quiet_since > 1.0:
            if all(counter.queue_declare(q, passive=True).method.message_count == 0 for q in queues):
                break
            quiet_since = time.time()
    conn.close()
    return found


class Publisher(threading.Thread):
    """Publishes persistent messages with unique ids (`message_id` and body `<prefix><N>`)
    round-robin to `queues`, one at a time in confirm mode, until stopped. A publish that
    returned is `confirmed`; one nacked or returned is not; one cut short by a lost connection
    or channel is neither (it may or may not have been stored), and the publisher reconnects and
    carries on. `target()` is the cluster to use, looked up again on each reconnection."""

    def __init__(self, target, queues, prefix):
        super().__init__(daemon=True)
        self.target = target
        self.queues = queues
        self.prefix = prefix
        self.halt = threading.Event()
        self.attempted = set()
        self.confirmed = {}  # id -> time.monotonic() of its confirm
        self.nacked = 0
        self.unroutable = 0
        self.cut_short = 0
        self.error = None

    def run(self):
        conn = ch = None
        seq = 0
        try:
            while not self.halt.is_set():
                if ch is None or not ch.is_open:
                    close_quietly(conn)
                    try:
                        conn = self.target().connect()
                        ch = conn.channel()
                        ch.confirm_delivery()
                    except (AMQPError, OSError):  # the router is down or restarting
                        conn = ch = None
                        time.sleep(0.1)
                        continue
                mid = f"{self.prefix}{seq}"
                queue = self.queues[seq % len(self.queues)]
                seq += 1
                self.attempted.add(mid)
                try:
                    ch.basic_publish("", queue, mid.encode(),
                                     pika.BasicProperties(delivery_mode=2, message_id=mid), mandatory=True)
                    self.confirmed[mid] = time.monotonic()
                except NackError:
                    self.nacked += 1
                except UnroutableError:
                    self.unroutable += 1
                except (AMQPError, OSError):
                    self.cut_short += 1
                    ch = None
        except BaseException as error:  # reported by the test, not swallowed by the thread
            self.error = error
        finally:
            close_quietly(conn)


def should_ack(mid):
    """Whether the consumer acks message `<prefix><N>`: in runs of seven ids, so that every queue
    of a publisher's round-robin gets both kinds."""
    return int(mid[1:]) // 7 % 2 == 0


class AckingConsumer(threading.Thread):
    """Takes messages from `queues` with basic.get (no prefetch window to stall on) while the
    publisher runs: acks those `should_ack` picks and holds the others unacknowledged until
    it reopens its channel (every second or so) or loses its connection.

    Each batch of gets and acks on a queue ends with a passive queue.declare of that queue on
    the same channel: its answer comes from the worker that owns the queue, on the same link
    stream as the acks, so once it is back the worker has processed those acks and made those
    deliveries. Only then are the ids counted as `acked` (must never come back) or `held`
    (must come back with redelivered=True); ids of a batch that a crash cut short are
    `uncertain` and constrain nothing."""

    def __init__(self, target, queues):
        super().__init__(daemon=True)
        self.target = target
        self.queues = queues
        self.halt = threading.Event()
        self.acked = set()
        self.held = set()
        self.uncertain = set()
        self.error = None

    def run(self):
        conn = ch = None
        reopen_at = 0.0
        try:
            while not self.halt.is_set():
                try:
                    if conn is None or not conn.is_open:
                        close_quietly(conn)
                        conn = ch = None
                        conn = self.target().connect()
                    if ch is None or not ch.is_open or time.time() > reopen_at:
                        if ch is not None and ch.is_open:
                            ch.close()  # requeues the held messages, redelivered
                        ch = conn.channel()
                        reopen_at = time.time() + random.uniform(0.7, 1.5)
                    for q in self.queues:
                        acked, held = [], []
                        for _ in range(5):
                            method, props, _ = ch.basic_get(q)
                            if method is None:
                                break
                            mid = props.message_id
                            self.uncertain.add(mid)  # before the ack: a crash may cut it short after it left
                            if should_ack(mid):
                                ch.basic_ack(method.delivery_tag)
                                acked.append(mid)
                            else:
                                held.append(mid)
                        if acked or held:
                            ch.queue_declare(q, passive=True)
                            self.uncertain.difference_update(acked + held)
                            self.acked.update(acked)
                            self.held.update(held)
                    time.sleep(0.1)
                except (AMQPError, OSError):
                    close_quietly(conn)
                    conn = ch = None
                    time.sleep(0.1)
        except BaseException as error:
            self.error = error
        finally:
            close_quietly(conn)


def check_nothing_lost(publishers, consumer, found, since):
    """The end-of-test checks of the crash loops; prints the counts."""
    attempted = set().union(*(p.attempted for p in publishers))
    confirmed = {mid: t for p in publishers for mid, t in p.confirmed.items()}
    nacked, unroutable, cut_short = (sum(getattr(p, name) for p in publishers)
                                     for name in ("nacked", "unroutable", "cut_short"))
    copies = sum(map(len, found.values()))
    duplicated = {mid: flags for mid, flags in found.items() if len(flags) > 1}
    redelivered = sum(flag for flags in found.values() for flag in flags)
    after_last_crash = sum(1 for t in confirmed.values() if t > since)
    print(f"\npublished {len(attempted)}: confirmed {len(confirmed)}, nacked {nacked}, unroutable {unroutable}, "
          f"cut short by a crash {cut_short}; confirmed after the last crash {after_last_crash}")
    print(f"consumer: acked {len(consumer.acked)}, held unacked {len(consumer.held)}, "
          f"uncertain {len(consumer.uncertain)}")
    print(f"drained: {len(found)} ids in {copies} copies, {len(duplicated)} duplicated, {redelivered} redelivered")
    for thread in publishers + [consumer]:
        assert thread.error is None, repr(thread.error)
    # The run proves something only if messages were confirmed, acked and held around the crashes.
    assert len(confirmed) >= 200 and after_last_crash > 0
    assert consumer.acked and consumer.held
    phantoms = set(found) - attempted
    assert not phantoms, f"messages nobody published: {sorted(phantoms)[:20]}"
    came_back = consumer.acked & set(found)
    assert not came_back, f"{len(came_back)} acked messages came back, e.g. {sorted(came_back)[:20]}"
    missing = set(confirmed) - consumer.acked - consumer.uncertain - set(found)
    assert not missing, f"{len(missing)} confirmed messages lost, e.g. {sorted(missing)[:20]}"
    not_flagged = {mid for mid in consumer.held & set(found) if not all(found[mid])}
    assert not not_flagged, f"delivered but unacked, back without redelivered: {sorted(not_flagged)[:20]}"
    bad_copies = {mid: flags for mid, flags in duplicated.items() if flags.count(False) > 1}
    assert not bad_copies, f"extra copies without redelivered: {dict(list(bad_copies.items())[:20])}"
    # The queues are durable and exist throughout: a worker that is down means nacks, never
    # basic.return (the router must not forget a durable queue while its worker restarts).
    assert unroutable == 0, f"{unroutable} mandatory publishes to durable queues were returned as unroutable"


# --- tests --------------------------------------------------------------------------------------

def test_durable_topology_and_persistent_messages_survive_killing_every_process(runtime_dir):
    c = Cluster(2, runtime_dir=runtime_dir)
    qa, qd = queues_on_distinct_partitions(unique("dur"), 2, 2)
    qn, dlq, q_gone = unique("dur-transient-q"), unique("dur-dlq"), unique("dur-deleted-q")
    x, entry, dlx, x_gone = unique("dur-topic"), unique("dur-entry"), unique("dur-dlx"), unique("dur-deleted-x")
    qa_args = {"x-max-length": 6, "x-message-ttl": 3_600_000, "x-dead-letter-exchange": dlx}
    try:
        conn = c.connect()
        ch = conn.channel()
        ch.exchange_declare(x, "topic", durable=True)
        ch.exchange_declare(entry, "fanout", durable=True)
        ch.exchange_bind(destination=x, source=entry)
        ch.exchange_declare(dlx, "fanout", durable=True)
        ch.queue_declare(dlq, durable=True)
        ch.queue_bind(dlq, dlx)
        ch.queue_declare(qa, durable=True, arguments=qa_args)
        ch.queue_bind(qa, x, "orders.#")
        ch.queue_declare(qd, durable=True)
        ch.queue_bind(qd, x, "audit.*")
        ch.queue_bind(qd, x, "old.key")
        ch.queue_unbind(qd, x, "old.key")  # an unbinding is persisted too
        ch.queue_declare(qn, durable=False)
        ch.queue_bind(qn, x, "orders.#")
        ch.queue_declare(q_gone, durable=True)
        ch.queue_delete(q_gone)
        ch.exchange_declare(x_gone, "direct", durable=True)
        ch.exchange_delete(x_gone)
        ch.confirm_delivery()
        for body, props in [(b"P0", PERSISTENT), (b"T0", TRANSIENT), (b"P1", PERSISTENT), (b"T1", TRANSIENT),
                            (b"P2", PERSISTENT)]:
            ch.basic_publish(x, "orders.new", body, props, mandatory=True)  # to qa and qn
        for body, props in [(b"DP0", PERSISTENT), (b"DT0", TRANSIENT), (b"DP1", PERSISTENT), (b"DT1", TRANSIENT)]:
            ch.basic_publish("", qd, body, props, mandatory=True)
        ch.basic_publish(x, "audit.log", b"DP2", PERSISTENT, mandatory=True)
        counts = {q: ch.queue_declare(q, passive=True).method.message_count for q in (qa, qd, qn)}
        assert counts == {qa: 5, qd: 5, qn: 5}
        conn.close()
        c.kill_all()

        c = Cluster(2, runtime_dir=runtime_dir)
        conn = c.connect()
        ch = conn.channel()
        for name in (x, entry, dlx):
            ch.exchange_declare(name, passive=True)
        counts = {q: ch.queue_declare(q, passive=True).method.message_count for q in (qa, qd, dlq)}
        assert counts == {qa: 3, qd: 3, dlq: 0}  # only the persistent messages
        for name, declare in [(qn, "queue_declare"), (q_gone, "queue_declare"), (x_gone, "exchange_declare")]:
            with pytest.raises(ChannelClosedByBroker) as info:
                getattr(ch, declare)(name, passive=True)
            assert info.value.reply_code == 404, name
            ch = conn.channel()
        # Same arguments: equivalent; other arguments or another type: 406, as before the restart.
        ch.queue_declare(qa, durable=True, arguments=qa_args)
        ch.exchange_declare(x, "topic", durable=True)
        with pytest.raises(ChannelClosedByBroker) as info:
            ch.queue_declare(qa, durable=True, arguments={**qa_args, "x-max-length": 7})
        assert info.value.reply_code == 406
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as info:
            ch.exchange_declare(x, "direct", durable=True)
        assert info.value.reply_code == 406
        ch = conn.channel()

        got = get_all_messages(ch, qd)
        assert [(body, m.redelivered, p.delivery_mode) for m, p, body in got] == [
            (b"DP0", False, 2), (b"DP1", False, 2), (b"DP2", False, 2)]
        ch.confirm_delivery()
        with pytest.raises(UnroutableError):
            ch.basic_publish(x, "old.key", b"unbound", PERSISTENT, mandatory=True)

        # qa's dead-letter exchange and its binding work: a rejected message reaches dlq.
        method, _, body = ch.basic_get(qa)
        assert (body, method.redelivered) == (b"P0", False)
        ch.basic_reject(method.delivery_tag, requeue=False)
        _, props, body = wait_get(ch, dlq)
        assert body == b"P0" and props.headers["x-death"][0]["reason"] == "rejected"
        # The bindings route: x → qa directly and entry → x → qa (exchange to exchange).
        ch.basic_publish(x, "orders.after", b"after-x", PERSISTENT, mandatory=True)
        ch.basic_publish(entry, "orders.after", b"after-entry", PERSISTENT, mandatory=True)
        # x-max-length 6 holds: 4 + 3 = 7 drops the oldest, P1, dead-lettered as maxlen.
        for i in range(3):
            ch.basic_publish(x, "orders.fill", b"fill%d" % i, PERSISTENT, mandatory=True)
        _, props, body = wait_get(ch, dlq)
        assert body == b"P1" and props.headers["x-death"][0]["reason"] == "maxlen"
        assert [body for _, _, body in get_all_messages(ch, qa)] == [
            b"P2", b"after-x", b"after-entry", b"fill0", b"fill1", b"fill2"]
        conn.close()
    finally:
        c.stop()


def run_crash_loop(workers, runtime_dir, crash, cycles):
    """Starts a cluster of `workers` on `runtime_dir`, two `Publisher`s and an `AckingConsumer` on
    two durable queues per partition, calls `crash(current, cycle, rng, probes)` at random
    moments `cycles` times while they run (it returns once the cluster serves again;
    `current[0]` is the cluster, `probes[i]` a durable queue on partition i), lets traffic run
    on, then drains the queues and checks what is there."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"\nseed {seed}")
    current = [Cluster(workers, runtime_dir=runtime_dir)]
    threads = []
    try:
        probes = declare_probes(current[0], "crash-probe")
        queues = (queues_on_distinct_partitions(unique("crash-a"), workers, workers)
                  + queues_on_distinct_partitions(unique("crash-b"), workers, workers))
        conn = current[0].connect()
        ch = conn.channel()
        for q in queues:
            ch.queue_declare(q, durable=True)
        conn.close()
        # Two publishers, so that confirms wait for the same group commit, and a consumer.
        publishers = [Publisher(lambda: current[0], queues, prefix) for prefix in ("a", "b")]
        consumer = AckingConsumer(lambda: current[0], queues)
        threads = publishers + [consumer]
        for thread in threads:
            thread.start()
        for cycle in range(cycles):
            time.sleep(rng.uniform(0.5, 2.0))
            crash(current, cycle, rng, probes)
        last_crash_over = time.monotonic()
        time.sleep(1.5)  # traffic after the last restart
        for thread in threads:
            thread.halt.set()
        for thread in threads:
            thread.join(60)
        assert not any(p.is_alive() for p in publishers), \
            "a publisher is stuck (a publish neither confirmed nor failed)"
        assert not consumer.is_alive(), "the consumer is stuck"
        found = drain(current[0], queues)
        check_nothing_lost(publishers, consumer, found, last_crash_over)
    finally:
        for thread in threads:
            thread.halt.set()
        current[0].stop()


def test_confirmed_messages_survive_a_worker_killed_again_and_again(runtime_dir):
    victims = []

    def kill_a_worker(current, cycle, rng, probes):
        if not victims:  # every partition at least once, in random order, and one more
            victims.extend(range(3))
            rng.shuffle(victims)
            victims.append(rng.randrange(3))
        partition = victims[cycle]
        print(f"kill -9 worker {partition}")
        kill_worker_and_wait(current[0], partition, probes[partition])

    run_crash_loop(3, runtime_dir, kill_a_worker, cycles=4)


def test_confirmed_messages_survive_every_process_killed_again_and_again(runtime_dir):
    def power_cut(current, cycle, rng, probes):
        print(f"power cut {cycle + 1}")
        current[0].kill_all()
        current[0] = Cluster(2, runtime_dir=runtime_dir)
        for partition, probe in enumerate(probes):
            failure = accepts_publish(current[0], probe)
            assert failure is None, (f"partition {partition} refuses publishes after the restart ({failure}); "
                                     f"log: {current[0].log_text()[-3000:]}")

    run_crash_loop(2, runtime_dir, power_cut, cycles=3)


def test_delivered_but_unacked_messages_come_back_redelivered_after_their_worker_is_killed(runtime_dir):
    c = Cluster(2, runtime_dir=runtime_dir)
    q = queues_on_distinct_partitions(unique("unacked"), 2, 2)[1]
    try:
        probes = declare_probes(c, "unacked-probe")
        conn = c.connect()
        ch = conn.channel()
        ch.queue_declare(q, durable=True)
        ch.confirm_delivery()
        for i in range(10):
            ch.basic_publish("", q, b"m%d" % i, pika.BasicProperties(delivery_mode=2, message_id=f"m{i}"))
        conn.close()
        consumer = c.connect()
        cch = consumer.channel()
        tags = []
        for i in range(5):  # m0..m4 delivered
            method, _, body = cch.basic_get(q)
            assert (body, method.redelivered) == (b"m%d" % i, False)
            tags.append(method.delivery_tag)
        cch.basic_ack(tags[1], multiple=True)  # m0 and m1 acked; m2..m4 held
        assert cch.queue_declare(q, passive=True).method.message_count == 5  # m5..m9 never delivered
        kill_worker_and_wait(c, 1, probes[1])
        close_quietly(consumer)

        conn = c.connect()
        ch = conn.channel()
        got = [(body, method.redelivered) for method, _, body in get_all_messages(ch, q)]
        assert got == [(b"m2", True), (b"m3", True), (b"m4", True)] + [(b"m%d" % i, False) for i in range(5, 10)]
        conn.close()
    finally:
        c.stop()


def cluster_up_refused(workers, runtime_dir):
    """Runs `cluster up` on `runtime_dir`; fails the test unless it exits non-zero without
    reporting the cluster up. Returns its stderr."""
    args = [broker_binary(), "cluster", "up", "--workers", str(workers), "--port", str(free_port()),
            "--host", "127.0.0.1", "--runtime-dir", runtime_dir, "--event-loops", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate()
        pytest.fail(f"`cluster up --workers {workers}` ran on data of another worker count: {out!r}\n{err[-3000:]}")
    assert proc.returncode != 0 and "broker cluster up" not in out, (out, err[-3000:])
    return err


@pytest.mark.parametrize("made, tried", [(2, 3), (3, 2)])
def test_a_data_dir_made_with_one_worker_count_is_refused_by_another(runtime_dir, made, tried):
    c = Cluster(made, runtime_dir=runtime_dir)
    qs = queues_on_distinct_partitions(unique("count"), made, made)
    try:
        conn = c.connect()
        ch = conn.channel()
        ch.confirm_delivery()
        for q in qs:
            ch.queue_declare(q, durable=True)
            ch.basic_publish("", q, q.encode(), PERSISTENT)
        conn.close()
    finally:
        c.stop()

    err = cluster_up_refused(tried, runtime_dir)
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    named = [line for line in errors if re.search("partition", line, re.I)
             and re.search(rf"\b{made}\b", line) and re.search(rf"\b{tried}\b", line)]
    assert named, f"no error naming the partition counts {made} and {tried}:\n{err[-3000:]}"
    # Nothing of the refused run is left running.
    time.sleep(0.5)
    leftovers = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if runtime_dir.encode() in f.read():
                        leftovers.append(entry)
            except OSError:
                pass
    assert leftovers == []

    c = Cluster(made, runtime_dir=runtime_dir)  # the refusal left the data as it was
    try:
        conn = c.connect()
        ch = conn.channel()
        for q in qs:
            assert [body for _, _, body in get_all_messages(ch, q)] == [q.encode()]
        conn.close()
    finally:
        c.stop()


def test_an_explicit_data_dir_is_found_by_a_cluster_with_another_runtime_dir(runtime_dir):
    data = os.path.join(runtime_dir, "explicit-data")
    runtimes = [tempfile.mkdtemp(prefix="broker-test-") for _ in range(2)]
    q = unique("explicit")
    x = unique("explicit-x")
    try:
        c = Cluster(2, extra_args=["--data-dir", data], runtime_dir=runtimes[0])
        try:
            conn = c.connect()
            ch = conn.channel()
            ch.exchange_declare(x, "direct", durable=True)
            ch.queue_declare(q, durable=True)
            ch.queue_bind(q, x, "key")
            ch.confirm_delivery()
            ch.basic_publish(x, "key", b"kept", PERSISTENT, mandatory=True)
            conn.close()
            entries = sorted(os.listdir(data)) if os.path.isdir(data) else None
            for sub in ("router", "partition-0", "partition-1"):
                assert os.path.isdir(os.path.join(data, sub)), f"{data} holds {entries}"
            assert not os.path.exists(os.path.join(runtimes[0], "data"))  # the default is not used
            c.kill_all()
        finally:
            c.stop()
        c = Cluster(2, extra_args=["--data-dir", data], runtime_dir=runtimes[1])
        try:
            conn = c.connect()
            ch = conn.channel()
            ch.confirm_delivery()
            ch.basic_publish(x, "key", b"after", PERSISTENT, mandatory=True)
            assert [body for _, _, body in get_all_messages(ch, q)] == [b"kept", b"after"]
            conn.close()
        finally:
            c.stop()
    finally:
        for path in runtimes:
            shutil.rmtree(path, ignore_errors=True)


def test_the_router_killed_alone_comes_back_with_its_topology_and_the_messages_intact(runtime_dir):
    c = Cluster(2, runtime_dir=runtime_dir)
    q0, q1 = queues_on_distinct_partitions(unique("router-crash"), 2, 2)
    x, fan = unique("router-crash-x"), unique("router-crash-fanout")
    try:
        conn = c.connect()
        ch = conn.channel()
        ch.exchange_declare(x, "direct", durable=True)
        ch.exchange_declare(fan, "fanout", durable=True)
        for q, key in [(q0, "k0"), (q1, "k1")]:
            ch.queue_declare(q, durable=True)
            ch.queue_bind(q, x, key)
            ch.queue_bind(q, fan)
        ch.confirm_delivery()
        for i in range(3):
            ch.basic_publish(x, "k0", b"k0-%d" % i, PERSISTENT, mandatory=True)
            ch.basic_publish(x, "k1", b"k1-%d" % i, PERSISTENT, mandatory=True)
        consumer = c.connect()
        cch = consumer.channel()
        method, _, body = cch.basic_get(q1)  # held unacked when the router dies
        assert body == b"k1-0"
        assert cch.queue_declare(q1, passive=True).method.message_count == 2

        old = c.router_pid()
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: c.router_pid() not in (None, old), 30), c.log_text()[-3000:]
        close_quietly(conn)
        close_quietly(consumer)
        conn = connect(c)
        ch = conn.channel()
        ch.exchange_declare(x, passive=True)
        ch.exchange_declare(fan, passive=True)
        # The router's streams ended with it, so the workers requeued the held delivery.
        assert wait_for(lambda: ch.queue_declare(q1, passive=True).method.message_count == 3, 10)
        assert ch.queue_declare(q0, passive=True).method.message_count == 3
        ch.confirm_delivery()
        ch.basic_publish(x, "k0", b"k0-after", PERSISTENT, mandatory=True)
        ch.basic_publish(x, "k1", b"k1-after", PERSISTENT, mandatory=True)
        ch.basic_publish(fan, "", b"both", PERSISTENT, mandatory=True)
        with pytest.raises(UnroutableError):
            ch.basic_publish(x, "k2", b"nowhere", PERSISTENT, mandatory=True)
        got0 = [(body, m.redelivered) for m, _, body in get_all_messages(ch, q0)]
        got1 = [(body, m.redelivered) for m, _, body in get_all_messages(ch, q1)]
        assert got0 == [(b"k0-0", False), (b"k0-1", False), (b"k0-2", False), (b"k0-after", False), (b"both", False)]
        assert got1 == [(b"k1-0", True), (b"k1-1", False), (b"k1-2", False), (b"k1-after", False), (b"both", False)]
        conn.close()
    finally:
        c.stop()


# --- a full disk --------------------------------------------------------------------------------
# The data directory on a 24 MB tmpfs with the disk alarm switched off (--disk-free-limit 0), so
# that writes really fail with ENOSPC: publishes are nacked while the store cannot write, nothing
# confirmed is lost, the store carries on once consumers free space, and a restart finds exactly
# what was confirmed and not acked.

@pytest.fixture
def tiny_filesystem():
    path = tempfile.mkdtemp(prefix="broker-tinyfs-")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", path], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"mounting a 24 MB tmpfs for the disk-full test failed (needs root): {result.stderr.strip()}")
    yield path
    subprocess.run(["umount", path], check=False)
    shutil.rmtree(path, ignore_errors=True)


def test_a_full_disk_nacks_publishes_and_loses_nothing_confirmed(runtime_dir, tiny_filesystem):
    args = ["--data-dir", tiny_filesystem, "--disk-free-limit", "0"]
    c = Cluster(1, extra_args=args, runtime_dir=runtime_dir)
    q = unique("disk-full")
    body = os.urandom(256 * 1024)
    try:
        # Never blocked (the alarm is off), but fail rather than hang if it were.
        conn = c.connect(blocked_connection_timeout=30)
        ch = conn.channel()
        ch.queue_declare(q, durable=True)
        ch.confirm_delivery()
        confirmed, nacked = [], []
        for i in range(200):  # 50 MB into 24 MB
            try:
                ch.basic_publish("", q, b"%d:" % i + body, pika.BasicProperties(delivery_mode=2, message_id=str(i)))
                confirmed.append(str(i))
            except NackError:
                nacked.append(str(i))
            if len(nacked) >= 5:
                break
        assert nacked, "the store never ran out of space"
        assert len(confirmed) > 20
        assert wait_for(lambda: "cannot write the message store" in c.log_text(), 5)
        # Every confirmed message is there, in order (nacked ones may or may not be); acking
        # them frees their segments.
        got = [props.message_id for _, props, _ in get_all_messages(ch, q)]
        assert [m for m in got if m in confirmed] == confirmed
        assert wait_for(lambda: "the message store is writable again" in c.log_text(), 10), c.log_text()[-2000:]
        ch.basic_publish("", q, b"after", pika.BasicProperties(delivery_mode=2, message_id="after"))
        ch.queue_declare(q, passive=True)
        conn.close()
        c.kill_all()
        c = Cluster(1, extra_args=args, runtime_dir=runtime_dir)
        conn = c.connect()
        ch = conn.channel()
        assert [p.message_id for _, p, _ in get_all_messages(ch, q)] == ["after"]
        conn.close()
    finally:
        c.stop()


def test_persistent_delayed_messages_survive_a_restart_and_fall_due_on_time(runtime_dir):
    """As the delayed-message plugin keeps them on disk: a persistent message waiting in a durable
    x-delayed-message exchange survives kill -9 of every process and arrives when it was due
    (not before); a transient one is gone, as transient messages in queues are."""
    c = Cluster(2, runtime_dir=runtime_dir)
    x, q = unique("delayed-durable-x"), unique("delayed-durable-q")
    try:
        conn = c.connect()
        ch = conn.channel()
        ch.exchange_declare(x, "x-delayed-message", durable=True, arguments={"x-delayed-type": "direct"})
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, x, "k")
        ch.confirm_delivery()
        published = time.time()
        ch.basic_publish(x, "k", b"kept", pika.BasicProperties(delivery_mode=2, headers={"x-delay": 4000}))
        ch.basic_publish(x, "k", b"transient", pika.BasicProperties(delivery_mode=1, headers={"x-delay": 4000}))
        conn.close()
        c.kill_all()
        c = Cluster(2, runtime_dir=runtime_dir)
        conn = c.connect()
        ch = conn.channel()
        method, props, body = wait_get(ch, q, timeout=20)
        arrived = time.time()
        assert body == b"kept"
        assert arrived - published >= 4.0, f"arrived {arrived - published:.2f} s after publishing, before its delay"
        assert props.headers.get("x-delay") == -4000
        time.sleep(1.0)
        assert ch.basic_get(q, auto_ack=True)[0] is None  # the transient one is gone
        conn.close()
    finally:
        c.stop()
