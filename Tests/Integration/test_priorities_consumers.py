"""Priority queues, single active consumer, consumer priorities, consumer cancel notification
and consumer (delivery acknowledgement) timeouts, with RabbitMQ's codes and texts (pika)."""
import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from conftest import EXTERNAL_PORT, Cluster, needs_own_broker, get_all, unique


def pump(conns, until, timeout=5.0):
    """Processes events on every connection until `until()` holds or the deadline passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for conn in conns:
            conn.process_data_events(time_limit=0.02)
        if until():
            return True
    return until()


def settle(conns, seconds=0.3):
    """Processes events for a short while, to show that nothing more arrives."""
    pump(conns, lambda: False, timeout=seconds)


def declare_error(conn, queue, arguments):
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare(queue, exclusive=True, arguments=arguments)
    return info.value.reply_code, info.value.reply_text


# --- priority queues -------------------------------------------------------------------------

def test_priority_queue_delivers_highest_priority_first_and_fifo_within_a_priority(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True, arguments={"x-max-priority": 10}).method.queue
    for body, priority in [(b"none", None), (b"p1", 1), (b"p5-a", 5), (b"p9", 9), (b"p5-b", 5), (b"p0", 0)]:
        ch.basic_publish("", q, body, pika.BasicProperties(priority=priority))
    # No priority property counts as priority 0.
    assert get_all(ch, q) == [b"p9", b"p5-a", b"p5-b", b"p1", b"none", b"p0"]
    conn.close()


def test_without_x_max_priority_the_priority_property_is_ignored(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for body, priority in [(b"p1", 1), (b"p9", 9), (b"p5", 5)]:
        ch.basic_publish("", q, body, pika.BasicProperties(priority=priority))
    assert get_all(ch, q) == [b"p1", b"p9", b"p5"]
    conn.close()


def test_priority_above_the_maximum_counts_as_the_maximum_for_consumers_too(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True, arguments={"x-max-priority": 10}).method.queue
    # 200 > 10 is treated as 10: FIFO with the earlier 10, still ahead of 9.
    for body, priority in [(b"p9", 9), (b"p10", 10), (b"p200", 200), (b"p3", 3)]:
        ch.basic_publish("", q, body, pika.BasicProperties(priority=priority))
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    assert pump([conn], lambda: len(got) == 4)
    assert got == [b"p10", b"p200", b"p9", b"p3"]
    conn.close()


def test_nack_requeue_puts_a_message_back_in_its_place_within_its_priority(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True, arguments={"x-max-priority": 10}).method.queue
    for body, priority in [(b"a5", 5), (b"b5", 5), (b"c1", 1), (b"d9", 9)]:
        ch.basic_publish("", q, body, pika.BasicProperties(priority=priority))
    first, _, body1 = ch.basic_get(q)
    second, _, body2 = ch.basic_get(q)
    assert (body1, body2) == (b"d9", b"a5")
    ch.basic_nack(second.delivery_tag, multiple=True, requeue=True)
    got = []
    while True:
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is None:
            break
        got.append((body, method.redelivered))
    assert got == [(b"d9", True), (b"a5", True), (b"b5", False), (b"c1", False)]
    conn.close()


def test_invalid_x_max_priority_is_406_with_rabbitmqs_text(cluster):
    conn = cluster.connect()
    q = unique("prio-bad")
    prefix = f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{q}' in vhost '/': "
    assert declare_error(conn, q, {"x-max-priority": 300}) == (406, prefix + "{max_value_exceeded,300}")
    assert declare_error(conn, q, {"x-max-priority": 256}) == (406, prefix + "{max_value_exceeded,256}")
    assert declare_error(conn, q, {"x-max-priority": -1}) == (406, prefix + "{value_negative,-1}")
    assert declare_error(conn, q, {"x-max-priority": "ten"}) == (406, prefix + '"expected integer, got longstr"')
    ch = conn.channel()
    ch.queue_declare(q, exclusive=True, arguments={"x-max-priority": 255})  # the largest accepted
    conn.close()


# --- single active consumer ------------------------------------------------------------------

def test_single_active_consumer_only_the_first_receives_and_the_next_takes_over_after_cancel(cluster):
    q = unique("sac")
    c1, c2 = cluster.connect(), cluster.connect()
    ch1, ch2 = c1.channel(), c2.channel()
    ch1.queue_declare(q, arguments={"x-single-active-consumer": True})
    got1, got2 = [], []
    tag1 = ch1.basic_consume(q, lambda c, m, p, b: got1.append((m, b)))
    ch2.basic_consume(q, lambda c, m, p, b: got2.append((m, b)))
    for i in range(4):
        ch2.basic_publish("", q, f"m{i}".encode())
    assert pump([c1, c2], lambda: len(got1) == 4)
    settle([c1, c2])
    assert [b for _, b in got1] == [b"m0", b"m1", b"m2", b"m3"] and got2 == []
    ch1.basic_ack(got1[1][0].delivery_tag, multiple=True)
    ch1.basic_cancel(tag1)
    for i in (4, 5):
        ch2.basic_publish("", q, f"m{i}".encode())
    assert pump([c1, c2], lambda: len(got2) == 2)
    assert [(b, m.redelivered) for m, b in got2] == [(b"m4", False), (b"m5", False)]
    # A cancel leaves m2, m3 unacked on channel 1; closing it requeues them to the new active one.
    ch1.close()
    assert pump([c1, c2], lambda: len(got2) == 4)
    assert [(b, m.redelivered) for m, b in got2[2:]] == [(b"m2", True), (b"m3", True)]
    assert len(got1) == 4
    ch2.queue_delete(q)
    c1.close()
    c2.close()


def test_single_active_consumer_connection_loss_hands_unacked_messages_to_the_next(cluster):
    q = unique("sac-loss")
    c1, c2 = cluster.connect(), cluster.connect()
    ch1, ch2 = c1.channel(), c2.channel()
    ch2.queue_declare(q, arguments={"x-single-active-consumer": True})
    got1, got2 = [], []
    ch1.basic_consume(q, lambda c, m, p, b: got1.append(b))
    ch2.basic_consume(q, lambda c, m, p, b: got2.append((m, b)))
    ch2.basic_publish("", q, b"held")
    assert pump([c1, c2], lambda: got1 == [b"held"])
    settle([c1, c2])
    assert got2 == []
    c1.close()
    assert pump([c2], lambda: len(got2) == 1)
    assert got2[0][1] == b"held" and got2[0][0].redelivered
    ch2.queue_delete(q)
    c2.close()


def test_invalid_x_single_active_consumer_is_406_with_rabbitmqs_text(cluster):
    conn = cluster.connect()
    q = unique("sac-bad")
    prefix = f"PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '{q}' in vhost '/': "
    assert declare_error(conn, q, {"x-single-active-consumer": "yes"}) == (406, prefix + "{unacceptable_type,longstr}")
    # pika sends a small int as a signed 32-bit integer ('I'): only a boolean is accepted.
    assert declare_error(conn, q, {"x-single-active-consumer": 1}) == (406, prefix + "{unacceptable_type,signedint}")
    conn.close()


# --- consumer priorities ---------------------------------------------------------------------

def test_consumer_priority_high_gets_messages_while_it_has_capacity_low_only_when_it_is_blocked(cluster):
    conn = cluster.connect()
    high, low = conn.channel(), conn.channel()
    q = high.queue_declare("", exclusive=True).method.queue
    high.basic_qos(prefetch_count=1)
    got_high, got_low = [], []
    high.basic_consume(q, lambda c, m, p, b: got_high.append((m, b)), arguments={"x-priority": 10})
    low.basic_consume(q, lambda c, m, p, b: got_low.append(b), auto_ack=True, arguments={"x-priority": 1})
    for i in range(4):  # the high one acks each before the next: it always has capacity
        high.basic_publish("", q, f"a{i}".encode())
        assert pump([conn], lambda: len(got_high) + len(got_low) == i + 1)
        if len(got_high) == i + 1:
            high.basic_ack(got_high[-1][0].delivery_tag)
    assert [b for _, b in got_high] == [b"a0", b"a1", b"a2", b"a3"] and got_low == []
    high.basic_publish("", q, b"fills-high")
    assert pump([conn], lambda: len(got_high) == 5)
    high.basic_publish("", q, b"b0")
    high.basic_publish("", q, b"b1")
    assert pump([conn], lambda: len(got_low) == 2)
    assert got_low == [b"b0", b"b1"] and len(got_high) == 5
    high.basic_ack(got_high[-1][0].delivery_tag)
    high.basic_publish("", q, b"c0")
    assert pump([conn], lambda: len(got_high) == 6)
    assert got_high[-1][1] == b"c0" and got_low == [b"b0", b"b1"]
    conn.close()


def test_non_integer_x_priority_is_406_with_rabbitmqs_text(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = unique("cprio-bad")
    ch.queue_declare(q, exclusive=True)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.basic_consume(q, lambda *a: None, arguments={"x-priority": "high"})
    assert info.value.reply_code == 406
    assert info.value.reply_text == (f"PRECONDITION_FAILED - invalid arg 'x-priority' for queue '{q}' in vhost '/': "
                                     '"expected integer, got longstr"')
    ch = conn.channel()
    ch.basic_consume(q, lambda *a: None, arguments={"x-priority": -5})  # negative is fine
    conn.close()


# --- consumer cancel notification ------------------------------------------------------------

def test_deleting_a_queue_from_another_connection_sends_basic_cancel_to_its_consumer(cluster):
    q = unique("cancel-notify")
    consumer_conn, admin_conn = cluster.connect(), cluster.connect()
    ch = consumer_conn.channel()
    ch.queue_declare(q)
    cancels = []
    ch.add_on_cancel_callback(lambda frame: cancels.append(frame.method))
    tag = ch.basic_consume(q, lambda *a: None)
    admin_conn.channel().queue_delete(q)
    assert pump([consumer_conn], lambda: len(cancels) == 1)
    assert cancels[0].consumer_tag == tag
    assert ch.is_open and ch.consumer_tags == []
    consumer_conn.close()
    admin_conn.close()


# --- consumer timeout ------------------------------------------------------------------------
# RabbitMQ closes the channel whose oldest unacknowledged delivery is older than the timeout:
# channel.close 406 "PRECONDITION_FAILED - delivery acknowledgement on channel N timed out.
# Timeout value used: T ms. This timeout value can be configured, see consumers doc guide to
# learn more". RabbitMQ 3.10 checks this on the channel tick (channel_tick_interval, 60 s by
# default), so it took ~60 s there; it was validated with consumer_timeout = 500 and
# {rabbit, [{channel_tick_interval, 100}]}. RabbitMQ 3.10 does not know the x-consumer-timeout
# queue argument (accepted and ignored, even "x"); it arrived in RabbitMQ 3.12.

def timeout_text(channel_number, ms):
    return (f"PRECONDITION_FAILED - delivery acknowledgement on channel {channel_number} timed out. "
            f"Timeout value used: {ms} ms. This timeout value can be configured, see consumers doc guide "
            "to learn more")


def assert_unacked_delivery_times_out_and_is_redelivered(broker, queue_arguments, timeout_ms):
    q = unique("consumer-timeout")
    slow_conn, other_conn = broker.connect(), broker.connect()
    slow = slow_conn.channel()
    slow.queue_declare(q, arguments=queue_arguments)
    got = []
    slow.basic_consume(q, lambda c, m, p, b: got.append(b))  # never acks
    slow.basic_publish("", q, b"slow-work")
    started = time.time()
    stopper = slow_conn.call_later(timeout_ms / 1000 + 5, slow.stop_consuming)
    with pytest.raises(ChannelClosedByBroker) as info:
        slow.start_consuming()
    slow_conn.remove_timeout(stopper)
    assert time.time() - started >= timeout_ms / 1000 * 0.9
    assert got == [b"slow-work"]
    assert info.value.reply_code == 406
    assert info.value.reply_text == timeout_text(slow.channel_number, timeout_ms)
    assert slow_conn.is_open  # a channel error only
    other = other_conn.channel()
    redelivered = []
    other.basic_consume(q, lambda c, m, p, b: redelivered.append((m.redelivered, b)), auto_ack=True)
    assert pump([other_conn], lambda: len(redelivered) == 1)
    assert redelivered == [(True, b"slow-work")]
    other.queue_delete(q)
    slow_conn.close()
    other_conn.close()


def test_x_consumer_timeout_queue_argument_closes_the_channel_of_a_consumer_that_does_not_ack(cluster):
    if EXTERNAL_PORT:
        pytest.skip("RabbitMQ 3.10 ignores x-consumer-timeout (3.12+); the close and its text were validated "
                    "against RabbitMQ 3.10 with consumer_timeout = 500 and channel_tick_interval = 100")
    assert_unacked_delivery_times_out_and_is_redelivered(cluster, {"x-consumer-timeout": 500}, 500)


def test_server_wide_consumer_timeout_closes_the_channel_of_a_consumer_that_does_not_ack():
    needs_own_broker("--consumer-timeout", "consumer_timeout = 500 and channel_tick_interval = 100")
    broker = Cluster(workers=3, extra_args=["--consumer-timeout", "500"])
    try:
        assert_unacked_delivery_times_out_and_is_redelivered(broker, {}, 500)
    finally:
        broker.stop()
