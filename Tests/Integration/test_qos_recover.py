"""basic.qos per consumer and per channel (global) across workers, prefetch_size, basic.recover
and channel.flow, as RabbitMQ 3.10 does them (pika)."""
import time
import uuid

import pytest
from pika.exceptions import ConnectionClosedByBroker

from conftest import queues_on_distinct_partitions


def pump(conn, until, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        conn.process_data_events(time_limit=0.02)
        if until():
            return True
    return until()


def settle(conn, seconds=0.3):
    """Processes events for a short while, to show that nothing more arrives."""
    pump(conn, lambda: False, timeout=seconds)


def filled_queues(ch, cluster, prefix, count, messages):
    """`count` exclusive queues on distinct workers, each holding `messages` messages."""
    queues = queues_on_distinct_partitions(f"{prefix}-{uuid.uuid4().hex[:8]}", cluster.workers, count)
    for q in queues:
        ch.queue_declare(q, exclusive=True)
        for i in range(messages):
            ch.basic_publish("", q, f"{q}/{i}".encode())
    return queues


class Tracker:
    """Records deliveries and the most ever outstanding (delivered, not yet acked) at once."""

    def __init__(self):
        self.deliveries = []
        self.acked = 0
        self.max_outstanding = 0

    def on_message(self, ch, method, props, body):
        self.deliveries.append((method, body))
        self.max_outstanding = max(self.max_outstanding, self.outstanding())

    def outstanding(self):
        return len(self.deliveries) - self.acked

    def ack_oldest(self, ch):
        ch.basic_ack(self.deliveries[self.acked][0].delivery_tag)
        self.acked += 1

    def drain(self, conn, ch, total, timeout=10.0):
        """Acks one delivery at a time until `total` have arrived and been acked."""
        deadline = time.time() + timeout
        while self.acked < total and time.time() < deadline:
            if self.outstanding() > 0:
                self.ack_oldest(ch)
            conn.process_data_events(time_limit=0.01)
        return self.acked == total


def test_per_consumer_prefetch_limits_unacked_deliveries(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(6):
        ch.basic_publish("", q, str(i).encode())
    ch.basic_qos(prefetch_count=2)
    t = Tracker()
    ch.basic_consume(q, t.on_message)
    assert pump(conn, lambda: len(t.deliveries) == 2)
    settle(conn)
    assert len(t.deliveries) == 2
    assert t.drain(conn, ch, 6)
    assert [b for _, b in t.deliveries] == [str(i).encode() for i in range(6)]
    assert t.max_outstanding == 2
    conn.close()


def test_global_prefetch_is_shared_by_consumers_on_queues_on_different_workers(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q1, q2 = filled_queues(ch, cluster, "gqos", 2, 10)
    ch.basic_qos(prefetch_count=3, global_qos=True)
    t = Tracker()
    ch.basic_consume(q1, t.on_message)
    ch.basic_consume(q2, t.on_message)
    assert pump(conn, lambda: len(t.deliveries) == 3)
    settle(conn)
    assert len(t.deliveries) == 3
    assert t.drain(conn, ch, 20)
    assert t.max_outstanding == 3
    bodies = [b for _, b in t.deliveries]
    for q in (q1, q2):
        assert [b for b in bodies if b.startswith(q.encode() + b"/")] == [f"{q}/{i}".encode() for i in range(10)]
    conn.close()


def test_global_prefetch_of_one_serves_every_queue_without_starving_any(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    queues = filled_queues(ch, cluster, "gqos1", 2, 5)
    ch.basic_qos(prefetch_count=1, global_qos=True)
    t = Tracker()
    for q in queues:
        ch.basic_consume(q, t.on_message)
    assert t.drain(conn, ch, 10)
    assert t.max_outstanding == 1
    bodies = sorted(b for _, b in t.deliveries)
    assert bodies == sorted(f"{q}/{i}".encode() for q in queues for i in range(5))
    settle(conn)
    assert len(t.deliveries) == 10
    conn.close()


def test_per_consumer_and_global_prefetch_both_apply_when_global_is_set_last(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    queues = filled_queues(ch, cluster, "bothqos", 3, 10)
    ch.basic_qos(prefetch_count=2)  # each consumer created from now on: 2
    ch.basic_qos(prefetch_count=5, global_qos=True)  # the whole channel: 5
    t = Tracker()
    for q in queues:
        ch.basic_consume(q, t.on_message)
    assert pump(conn, lambda: len(t.deliveries) == 5)
    settle(conn)
    per_queue = sorted(sum(1 for _, b in t.deliveries if b.startswith(q.encode() + b"/")) for q in queues)
    assert per_queue == [1, 2, 2]
    assert t.drain(conn, ch, 30)
    assert t.max_outstanding == 5
    conn.close()


def test_per_consumer_qos_after_a_global_qos_lifts_the_channel_limit_as_in_rabbitmq(cluster):
    # RabbitMQ 3.10's basic.qos(global=false) also clears the channel-wide (global) limit.
    conn = cluster.connect()
    ch = conn.channel()
    queues = filled_queues(ch, cluster, "liftqos", 3, 10)
    ch.basic_qos(prefetch_count=5, global_qos=True)
    ch.basic_qos(prefetch_count=2)
    t = Tracker()
    for q in queues:
        ch.basic_consume(q, t.on_message)
    assert pump(conn, lambda: len(t.deliveries) == 6)
    settle(conn)
    assert len(t.deliveries) == 6  # 2 per consumer, no longer capped at 5
    conn.close()


def test_prefetch_size_is_540_not_implemented_connection_error(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ConnectionClosedByBroker) as info:
        ch.basic_qos(prefetch_size=1000, prefetch_count=5)
    assert info.value.reply_code == 540
    assert info.value.reply_text == "NOT_IMPLEMENTED - prefetch_size!=0 (1000)"


def test_recover_without_requeue_is_540_not_implemented_connection_error(cluster):
    # basic.recover(requeue=True) is covered in test_core_path.
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"x")
    assert ch.basic_get(q)[2] == b"x"
    with pytest.raises(ConnectionClosedByBroker) as info:
        ch.basic_recover(requeue=False)
    assert info.value.reply_code == 540
    assert info.value.reply_text == "NOT_IMPLEMENTED - requeue=false"


def test_recover_requeue_redelivers_to_the_consumers_on_every_worker(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    queues = filled_queues(ch, cluster, "recover", 2, 2)
    got = []
    for q in queues:
        ch.basic_consume(q, lambda c, m, p, b: got.append((b, m.redelivered)))
    assert pump(conn, lambda: len(got) == 4)
    ch.basic_recover(requeue=True)
    assert pump(conn, lambda: len(got) == 8)
    settle(conn)
    assert len(got) == 8
    assert sorted(got[4:]) == sorted((b, True) for b, _ in got[:4])
    assert not any(redelivered for _, redelivered in got[:4])
    conn.close()


def test_channel_flow_active_is_acknowledged_and_inactive_is_540_not_implemented(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    assert ch.flow(True) is True
    with pytest.raises(ConnectionClosedByBroker) as info:
        ch.flow(False)
    assert info.value.reply_code == 540
    assert info.value.reply_text == "NOT_IMPLEMENTED - active=false"
