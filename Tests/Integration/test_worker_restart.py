"""Invariant 9 (issue 16): a worker's failure is not the client's. Under load from several pika
clients (publishers with confirms through a direct and a fanout exchange, consumers acking each
message, queues on every worker), one worker is killed with kill -9, or every worker is
replaced in turn by `broker cluster restart`, and:
- every client connection stays open;
- confirms for queues on the other workers never pause for a second or more;
- consumers of the restarted worker's queues resume;
- no confirmed persistent message is lost, and nothing is delivered twice without
  `redelivered`."""
import os
import signal
import subprocess
import threading
import time

import pika
import pytest

from conftest import Cluster, broker_binary, needs_own_broker, queues_on_distinct_partitions, unique, wait_for

WORKERS = 3
PERSISTENT = dict(delivery_mode=2)


class Publisher(threading.Thread):
    """Publishes persistent messages one at a time with confirms, until halted; records the
    ids the broker acked and when."""

    def __init__(self, cluster, exchange, routing_key, name):
        super().__init__(daemon=True)
        self.cluster, self.exchange, self.routing_key, self.prefix = cluster, exchange, routing_key, name
        self.acked = []  # (message id, time of the ack)
        self.nacked = 0
        self.error = None
        self.halt = threading.Event()

    def run(self):
        try:
            conn = self.cluster.connect()
            ch = conn.channel()
            ch.confirm_delivery()
            n = 0
            while not self.halt.is_set():
                message_id = f"{self.prefix}-{n}"
                n += 1
                try:
                    ch.basic_publish(self.exchange, self.routing_key, b"x" * 100,
                                     pika.BasicProperties(message_id=message_id, **PERSISTENT))
                    self.acked.append((message_id, time.time()))
                except pika.exceptions.NackError:
                    self.nacked += 1
                    time.sleep(0.01)  # its worker is down: no need to spin
            conn.close()
        except Exception as error:  # a closed connection is what this test looks for
            self.error = repr(error)

    def longest_pause(self, since, until):
        """The longest time without an ack between `since` and `until`."""
        times = [since] + [t for _, t in self.acked if since < t < until] + [until]
        return max(b - a for a, b in zip(times, times[1:]))


class Consumer(threading.Thread):
    """Consumes `queues` with manual acks (prefetch 50) until halted; records, per queue, each
    delivery's (message id, redelivered, time)."""

    def __init__(self, cluster, queues):
        super().__init__(daemon=True)
        self.cluster, self.queues = cluster, queues
        self.received = {q: [] for q in queues}
        self.cancelled = []
        self.error = None
        self.halt = threading.Event()

    def run(self):
        try:
            conn = self.cluster.connect()
            ch = conn.channel()
            ch.basic_qos(prefetch_count=50)
            ch.add_on_cancel_callback(lambda frame: self.cancelled.append(frame.method.consumer_tag))
            for q in self.queues:
                ch.basic_consume(q, self.make_callback(q))
            while not self.halt.is_set():
                conn.process_data_events(time_limit=0.1)
            conn.close()
        except Exception as error:
            self.error = repr(error)

    def make_callback(self, queue):
        def on_message(channel, method, properties, body):
            self.received[queue].append((properties.message_id, method.redelivered, time.time()))
            channel.basic_ack(method.delivery_tag)
        return on_message


class Load:
    """One direct publisher per worker (to a durable queue there), one fanout publisher (to a
    durable queue on every worker) and one consumer per worker (of both its queues)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.direct = queues_on_distinct_partitions(unique("restart-d"), WORKERS, WORKERS)
        self.fanned = queues_on_distinct_partitions(unique("restart-f"), WORKERS, WORKERS)
        self.exchange = unique("restart-fanout")
        conn = cluster.connect()
        ch = conn.channel()
        ch.exchange_declare(self.exchange, "fanout", durable=True)
        for q in self.direct + self.fanned:
            ch.queue_declare(q, durable=True)
        for q in self.fanned:
            ch.queue_bind(q, self.exchange)
        conn.close()
        self.publishers = [Publisher(cluster, "", q, f"d{p}") for p, q in enumerate(self.direct)]
        self.fanout = Publisher(cluster, self.exchange, "", "f")
        self.consumers = [Consumer(cluster, [self.direct[p], self.fanned[p]]) for p in range(WORKERS)]

    @property
    def threads(self):
        return self.publishers + [self.fanout] + self.consumers

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop_publishing(self):
        for publisher in self.publishers + [self.fanout]:
            publisher.halt.set()
            publisher.join(timeout=30)
            assert not publisher.is_alive(), f"publisher {publisher.prefix} is stuck (a publish neither acked nor nacked)"

    def expected(self):
        """Queue → the ids of the messages confirmed to it."""
        wanted = {q: {m for m, _ in self.publishers[p].acked} for p, q in enumerate(self.direct)}
        for q in self.fanned:
            wanted[q] = {m for m, _ in self.fanout.acked}
        return wanted

    def received(self):
        found = {}
        for consumer in self.consumers:
            found.update(consumer.received)
        return found

    def drain_and_stop(self, timeout=60):
        wanted = self.expected()
        delivered = lambda: all(wanted[q] <= {m for m, _, _ in got} for q, got in self.received().items())
        wait_for(delivered, timeout)
        time.sleep(0.5)  # a duplicate still on its way would show now
        for consumer in self.consumers:
            consumer.halt.set()
            consumer.join(timeout=30)

    def check(self, log):
        errors = [(t.__class__.__name__, t.error) for t in self.threads if t.error]
        assert not errors, f"client connections were closed: {errors}; log: {log()[-3000:]}"
        cancelled = [c.cancelled for c in self.consumers if c.cancelled]
        assert not cancelled, f"consumers were cancelled instead of re-attached: {cancelled}"
        wanted, found = self.expected(), self.received()
        for queue, ids in wanted.items():
            seen = {}
            for message_id, redelivered, _ in found[queue]:
                if message_id in seen:
                    assert redelivered, f"{message_id} delivered twice from {queue}, the second time without redelivered"
                seen[message_id] = True
            missing = ids - set(seen)
            assert not missing, f"{len(missing)} confirmed messages lost from {queue}, e.g. {sorted(missing)[:5]}; log: {log()[-3000:]}"

    def resumed_after(self, moment):
        """Whether every consumer got a message of its direct queue published after `moment`."""
        published_after = [{m for m, t in self.publishers[p].acked if t > moment} for p in range(WORKERS)]
        return all(any(m in published_after[p] for m, _, _ in self.consumers[p].received[self.direct[p]])
                   for p in range(WORKERS))

    def report(self):
        return ", ".join(f"{p.prefix}: {len(p.acked)} acked, {p.nacked} nacked" for p in self.publishers + [self.fanout])


def test_a_worker_killed_under_load_closes_no_client_connection_and_loses_no_confirmed_message():
    needs_own_broker("kill -9 of a worker", "that a worker's crash closes no client connection")
    c = Cluster(WORKERS)
    victim = 1
    try:
        load = Load(c)
        load.start()
        time.sleep(2)
        old = c.worker_pid(victim)
        killed_at = time.time()
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: c.worker_pid(victim) not in (None, old), 30), f"worker {victim} was not restarted"
        back_at = time.time()
        assert wait_for(lambda: load.resumed_after(back_at), 30), \
            f"consumers did not resume after the restart ({load.report()}); log: {c.log_text()[-3000:]}"
        time.sleep(1)
        load.stop_publishing()
        until = time.time()
        pauses = {p: load.publishers[p].longest_pause(killed_at - 1, until) for p in range(WORKERS) if p != victim}
        print(f"worker {victim} killed; back after {back_at - killed_at:.2f} s; longest pause in confirms on the "
              f"other workers: {max(pauses.values()):.3f} s; {load.report()}")
        load.drain_and_stop()
        load.check(c.log_text)
        assert max(pauses.values()) < 1.0, f"confirms on other workers paused: {pauses}"
        assert load.publishers[victim].nacked > 0 or load.publishers[victim].longest_pause(killed_at, back_at) > 0, \
            "the dead worker's publisher noticed nothing"
    finally:
        c.stop()


def test_a_rolling_restart_of_every_worker_under_load_closes_no_client_connection_and_loses_nothing():
    needs_own_broker("broker cluster restart", "that a rolling restart closes no client connection")
    c = Cluster(WORKERS)
    try:
        load = Load(c)
        load.start()
        time.sleep(1)
        began = time.time()
        restart = subprocess.run([broker_binary(), "cluster", "restart", "--runtime-dir", c.runtime_dir],
                                 capture_output=True, text=True, timeout=300)
        assert restart.returncode == 0, f"cluster restart failed: {restart.stdout}{restart.stderr}; log: {c.log_text()[-3000:]}"
        done = time.time()
        print(restart.stdout)
        for p in range(WORKERS):
            assert f"restarted worker {p}:" in restart.stdout, restart.stdout
        assert wait_for(lambda: load.resumed_after(done), 30), f"consumers did not resume ({load.report()})"
        load.stop_publishing()
        print(f"rolling restart of {WORKERS} workers took {done - began:.2f} s; {load.report()}")
        load.drain_and_stop()
        load.check(c.log_text)
    finally:
        c.stop()


def test_restart_worker_of_no_running_cluster_fails_and_says_so(tmp_path):
    result = subprocess.run([broker_binary(), "cluster", "restart-worker", "0", "--runtime-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "no cluster is running" in result.stdout, (result.stdout, result.stderr)


def test_while_a_worker_is_down_its_queues_answer_404_and_a_commit_touching_it_is_refused():
    """Within the supervisor's back-off after a kill -9 (0.5 s), the worker is down: a method on
    its queue fails the channel with RabbitMQ's 404 for a queue whose node is down, and a
    tx.commit publishing to it is refused rather than answered commit-ok; the connection stays
    open, and the queue serves again once the worker is back."""
    needs_own_broker("kill -9 of a worker", "that a worker's crash closes no client connection")
    c = Cluster(2)
    try:
        down, up = sorted(queues_on_distinct_partitions(unique("down"), 2, 2), key=c.partition_of, reverse=True)
        conn = c.connect()
        ch = conn.channel()
        for q in (down, up):
            ch.queue_declare(q, durable=True)
        tx = conn.channel()
        tx.tx_select()
        tx.basic_publish("", up, b"applied")
        tx.basic_publish("", down, b"nowhere")
        old = c.worker_pid(1)
        os.kill(old, signal.SIGKILL)
        time.sleep(0.1)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            ch.queue_purge(down)
        assert refused.value.reply_code == 404
        assert refused.value.reply_text == f"NOT_FOUND - home node of queue '{down}' (partition 1) is down or inaccessible"
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as commit:
            tx.tx_commit()
        assert commit.value.reply_code == 404 and "transaction" in commit.value.reply_text, commit.value.reply_text
        assert conn.is_open
        assert wait_for(lambda: c.worker_pid(1) not in (None, old), 30)
        ch = conn.channel()
        ch.confirm_delivery()
        assert wait_for(lambda: publish_confirmed(ch, down), 10), "the queue did not serve again"
        assert ch.queue_declare(up, passive=True).method.message_count == 1
        conn.close()
    finally:
        c.stop()


def publish_confirmed(ch, queue):
    try:
        ch.basic_publish("", queue, b"again", pika.BasicProperties(**PERSISTENT))
        return True
    except pika.exceptions.NackError:
        return False
