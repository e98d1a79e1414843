"""The x-delayed-message exchange type, as RabbitMQ's rabbitmq_delayed_message_exchange plugin
does it: the x-delay header (ms) holds a message back, then it is routed by the x-delayed-type
(pika).

The plugin is not shipped with Debian's RabbitMQ 3.10.8 (without it RabbitMQ answers 503
"COMMAND_INVALID - unknown exchange type 'x-delayed-message'"), so these tests follow the
plugin's documentation and source: route/2 returns no queues for a delayed message and routes it
when the timer fires, with the x-delay header set to -Delay; a missing or non-positive x-delay
routes at once; a mandatory delayed publish is answered by basic.return 312 NO_ROUTE at once,
even though the message is delivered later (plugin issues #7 and #136)."""
import time
import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker

from conftest import EXTERNAL_PORT, queues_on_distinct_partitions, wait_get

pytestmark = pytest.mark.skipif(
    bool(EXTERNAL_PORT), reason="RabbitMQ 3.10.8 here has no rabbitmq_delayed_message_exchange plugin: "
                                "written from the plugin's documented behaviour")


def delayed_exchange(ch, delayed_type="direct"):
    x = f"delayed-{uuid.uuid4().hex[:8]}"
    ch.exchange_declare(x, "x-delayed-message", auto_delete=True, arguments={"x-delayed-type": delayed_type})
    return x


def bound_queues(ch, cluster, exchange, keys):
    queues = queues_on_distinct_partitions(f"{exchange}-q", cluster.workers, len(keys))
    for q, key in zip(queues, keys):
        ch.queue_declare(q, exclusive=True)
        ch.queue_bind(q, exchange, key)
    return queues


def delay(ms):
    return pika.BasicProperties(headers={"x-delay": ms})


def test_a_message_with_x_delay_arrives_after_the_delay_and_not_before(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = delayed_exchange(ch)
    (q,) = bound_queues(ch, cluster, x, ["k"])
    started = time.time()
    ch.basic_publish(x, "k", b"later", delay(300))
    method, props, body = wait_get(ch, q)
    elapsed = time.time() - started
    assert body == b"later"
    assert 0.3 <= elapsed < 3.0
    assert method.exchange == x and method.routing_key == "k"
    conn.close()


def test_the_delivered_message_carries_x_delay_negated(cluster):
    # The plugin swaps x-delay to -Delay so that a further delayed exchange does not delay it again.
    conn = cluster.connect()
    ch = conn.channel()
    x = delayed_exchange(ch)
    (q,) = bound_queues(ch, cluster, x, ["k"])
    ch.basic_publish(x, "k", b"m", pika.BasicProperties(headers={"x-delay": 100, "keep": "me"}))
    _, props, body = wait_get(ch, q)
    assert body == b"m" and props.headers == {"x-delay": -100, "keep": "me"}
    conn.close()


def test_messages_with_different_delays_come_out_in_delay_order(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = delayed_exchange(ch)
    (q,) = bound_queues(ch, cluster, x, ["k"])
    for ms in (600, 200, 400):
        ch.basic_publish(x, "k", str(ms).encode(), delay(ms))
    got = [wait_get(ch, q)[2] for _ in range(3)]
    assert got == [b"200", b"400", b"600"]
    conn.close()


def test_no_or_non_positive_x_delay_routes_at_once(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = delayed_exchange(ch)
    (q,) = bound_queues(ch, cluster, x, ["k"])
    started = time.time()
    ch.basic_publish(x, "k", b"absent")
    ch.basic_publish(x, "k", b"zero", delay(0))
    ch.basic_publish(x, "k", b"negative", delay(-100))
    got = [wait_get(ch, q, timeout=1.0) for _ in range(3)]
    assert time.time() - started < 0.5
    assert [body for _, _, body in got] == [b"absent", b"zero", b"negative"]
    conn.close()


def test_topic_and_fanout_delayed_types_route_by_their_rules_to_queues_on_every_worker(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    topic = delayed_exchange(ch, "topic")
    qa, qb, qc = bound_queues(ch, cluster, topic, ["a.*", "b.#", "#.z"])
    ch.basic_publish(topic, "a.z", b"topic", delay(150))
    assert wait_get(ch, qa)[2] == b"topic" and wait_get(ch, qc)[2] == b"topic"
    assert ch.basic_get(qb, auto_ack=True)[0] is None
    fanout = delayed_exchange(ch, "fanout")
    queues = bound_queues(ch, cluster, fanout, ["", "", ""])
    started = time.time()
    ch.basic_publish(fanout, "ignored", b"fan", delay(200))
    assert all(wait_get(ch, q)[2] == b"fan" for q in queues)
    assert time.time() - started >= 0.2
    conn.close()


def test_declaring_without_x_delayed_type_is_406_and_an_unknown_one_is_503(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.exchange_declare(f"delayed-bad-{uuid.uuid4().hex[:8]}", "x-delayed-message")
    assert info.value.reply_code == 406
    assert info.value.reply_text == ("PRECONDITION_FAILED - Invalid argument, "
                                     "'x-delayed-type' must be an existing exchange type")
    ch = conn.channel()
    with pytest.raises(ConnectionClosedByBroker) as info:
        ch.exchange_declare(f"delayed-bad-{uuid.uuid4().hex[:8]}", "x-delayed-message",
                            arguments={"x-delayed-type": "bogus"})
    assert info.value.reply_code == 503
    assert info.value.reply_text == "COMMAND_INVALID - unknown exchange type 'bogus'"


def test_a_mandatory_delayed_publish_is_returned_at_once_and_still_delivered_later(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = delayed_exchange(ch)
    (q,) = bound_queues(ch, cluster, x, ["k"])
    returns = []
    ch.add_on_return_callback(lambda c, m, p, b: returns.append((m.reply_code, m.reply_text, b)))
    ch.basic_publish(x, "k", b"delayed", delay(300), mandatory=True)
    ch.basic_publish(x, "k", b"immediate", mandatory=True)  # routed now: not returned
    deadline = time.time() + 0.25  # before the delay is over
    while time.time() < deadline:
        conn.process_data_events(time_limit=0.02)
    assert returns == [(312, "NO_ROUTE", b"delayed")]
    assert wait_get(ch, q)[2] == b"immediate"
    assert wait_get(ch, q)[2] == b"delayed"
    conn.close()
