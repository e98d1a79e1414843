"""Direct reply-to (amq.rabbitmq.reply-to) and sender-selected distribution (CC/BCC headers),
with RabbitMQ's codes and texts (pika)."""
import time
import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from conftest import queues_on_distinct_partitions, get_all_messages, wait_get

REPLY_TO = "amq.rabbitmq.reply-to"


def pump(conns, until, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for conn in conns:
            conn.process_data_events(time_limit=0.02)
        if until():
            return True
    return until()


def request_reply_key(client_ch, server_ch, server_queue):
    """Publishes a request asking for a direct reply; returns the reply-to key the server sees."""
    client_ch.basic_publish("", server_queue, b"request", pika.BasicProperties(reply_to=REPLY_TO, correlation_id="c1"))
    method, props, body = wait_get(server_ch, server_queue)
    assert body == b"request"
    return props


# --- direct reply-to -------------------------------------------------------------------------

def test_direct_reply_to_round_trip_between_two_connections(cluster):
    client, server = cluster.connect(), cluster.connect()
    client_ch, server_ch = client.channel(), server.channel()
    server_q = server_ch.queue_declare("", exclusive=True).method.queue
    replies = []
    client_ch.basic_consume(REPLY_TO, lambda c, m, p, b: replies.append((m, p, b)), auto_ack=True)
    props = request_reply_key(client_ch, server_ch, server_q)
    assert props.reply_to.startswith(REPLY_TO + ".") and len(props.reply_to) > len(REPLY_TO) + 1
    assert props.correlation_id == "c1"
    # The requester's channel is alive: a passive declare of its reply key succeeds.
    assert server_ch.queue_declare(props.reply_to, passive=True).method.queue == props.reply_to
    server_ch.basic_publish("", props.reply_to, b"reply", pika.BasicProperties(correlation_id=props.correlation_id))
    assert pump([client], lambda: len(replies) == 1)
    method, reply_props, body = replies[0]
    assert body == b"reply" and reply_props.correlation_id == "c1"
    assert method.exchange == "" and method.routing_key == props.reply_to and not method.redelivered
    client.close()
    server.close()


def test_request_with_reply_to_but_no_reply_consumer_is_406(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"request", pika.BasicProperties(reply_to=REPLY_TO))
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("", exclusive=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - fast reply consumer does not exist"
    # The reply consumer must be on the publishing channel, not just on the connection.
    consuming = conn.channel()
    consuming.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)
    other = conn.channel()
    other.basic_publish("", q, b"request", pika.BasicProperties(reply_to=REPLY_TO))
    with pytest.raises(ChannelClosedByBroker) as info:
        other.queue_declare("", exclusive=True)
    assert info.value.reply_text == "PRECONDITION_FAILED - fast reply consumer does not exist"
    conn.close()


def test_reply_consumer_must_be_auto_ack_and_unique_on_its_channel(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=False)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    ch = conn.channel()
    ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - reply consumer already set"
    conn.close()


def test_declaring_the_reply_to_pseudo_queue_is_ok_but_it_cannot_be_bound_or_got_from(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    # RabbitMQ answers declare-ok with consumer_count 1 even without a reply consumer.
    ok = ch.queue_declare(REPLY_TO, passive=True).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == (REPLY_TO, 0, 1)
    ok = ch.queue_declare(REPLY_TO).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == (REPLY_TO, 0, 1)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_bind(REPLY_TO, "amq.direct", "k")
    assert info.value.reply_code == 404
    assert info.value.reply_text == f"NOT_FOUND - no queue '{REPLY_TO}' in vhost '/'"
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.basic_get(REPLY_TO)
    assert info.value.reply_text == f"NOT_FOUND - no queue '{REPLY_TO}' in vhost '/'"
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare(REPLY_TO + ".garbage", passive=True)
    assert info.value.reply_text == f"NOT_FOUND - no queue '{REPLY_TO}.garbage' in vhost '/'"
    conn.close()


def test_reply_to_a_closed_channels_key_is_dropped_and_the_publisher_carries_on(cluster):
    client, server = cluster.connect(), cluster.connect()
    client_ch, server_ch = client.channel(), server.channel()
    server_q = server_ch.queue_declare("", exclusive=True).method.queue
    client_ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)
    key = request_reply_key(client_ch, server_ch, server_q).reply_to
    client_ch.close()
    returns = []
    server_ch.add_on_return_callback(lambda c, m, p, b: returns.append((m.reply_code, m.reply_text, m.routing_key)))
    server_ch.basic_publish("", key, b"too-late")
    server_ch.basic_publish("", key, b"too-late-mandatory", mandatory=True)
    assert pump([server], lambda: len(returns) == 1)
    assert returns == [(312, "NO_ROUTE", key)]
    assert server_ch.is_open and client.is_open
    with pytest.raises(ChannelClosedByBroker) as info:
        server_ch.queue_declare(key, passive=True)
    assert info.value.reply_code == 404
    assert info.value.reply_text == f"NOT_FOUND - no queue '{key}' in vhost '/'"
    ch = server.channel()
    ch.basic_publish("", server_q, b"still-works")
    assert wait_get(ch, server_q)[2] == b"still-works"
    client.close()
    server.close()


# --- CC / BCC --------------------------------------------------------------------------------

def bound_queues(ch, cluster, exchange, keys):
    queues = queues_on_distinct_partitions(f"{exchange}-q", cluster.workers, len(keys))
    for q, key in zip(queues, keys):
        ch.queue_declare(q, exclusive=True)
        ch.queue_bind(q, exchange, key)
    return queues


def test_cc_and_bcc_route_to_more_keys_and_bcc_is_removed_from_every_copy(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = f"ccx-{uuid.uuid4().hex[:8]}"
    ch.exchange_declare(x, "direct", auto_delete=True)
    q1, q2, q3 = bound_queues(ch, cluster, x, ["k1", "k2", "k3"])
    other = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(other, x, "k4")
    ch.basic_publish(x, "k1", b"m", pika.BasicProperties(headers={"CC": ["k2"], "BCC": ["k3"], "keep": 1}))
    for q in (q1, q2, q3):
        method, props, body = wait_get(ch, q)
        assert body == b"m", q
        assert method.routing_key == "k1"  # the publish's routing key, whatever key matched
        assert props.headers == {"CC": ["k2"], "keep": 1}
    assert get_all_messages(ch, other) == []
    conn.close()


def test_cc_duplicates_and_non_string_entries_give_one_copy_and_lowercase_is_not_special(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = f"ccdup-{uuid.uuid4().hex[:8]}"
    ch.exchange_declare(x, "direct", auto_delete=True)
    q1, q2, q3 = bound_queues(ch, cluster, x, ["k1", "k2", "k3"])
    ch.basic_publish(x, "nowhere", b"dup", pika.BasicProperties(headers={"CC": ["k2", "k2", "k1", 5]}))
    ch.basic_publish(x, "k1", b"lower", pika.BasicProperties(headers={"cc": ["k2"], "bcc": ["k3"]}))
    assert [body for _, _, body in get_all_messages(ch, q1)] == [b"dup", b"lower"]
    assert [body for _, _, body in get_all_messages(ch, q2)] == [b"dup"]
    assert get_all_messages(ch, q3) == []
    conn.close()


def test_bcc_alone_is_removed_and_a_cc_routed_mandatory_publish_is_not_returned(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = f"bcc-{uuid.uuid4().hex[:8]}"
    ch.exchange_declare(x, "direct", auto_delete=True)
    q1, q2 = bound_queues(ch, cluster, x, ["k1", "k2"])
    ch.confirm_delivery()
    ch.basic_publish(x, "unbound", b"m", pika.BasicProperties(headers={"BCC": ["k2"]}), mandatory=True)
    method, props, body = wait_get(ch, q2)
    assert body == b"m" and method.routing_key == "unbound"
    assert "BCC" not in (props.headers or {})  # RabbitMQ leaves an empty table
    assert get_all_messages(ch, q1) == []
    conn.close()


def test_cc_on_a_topic_exchange_matches_patterns(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = f"cctopic-{uuid.uuid4().hex[:8]}"
    ch.exchange_declare(x, "topic", auto_delete=True)
    qa, qb, qc = bound_queues(ch, cluster, x, ["a.*", "b.#", "c.x"])
    ch.basic_publish(x, "a.1", b"t", pika.BasicProperties(headers={"CC": ["b.x.y"], "BCC": ["c.x"]}))
    for q in (qa, qb, qc):
        method, props, body = wait_get(ch, q)
        assert body == b"t" and method.routing_key == "a.1"
        assert props.headers == {"CC": ["b.x.y"]}
    conn.close()


def test_cc_or_bcc_that_is_not_an_array_is_406(cluster):
    conn = cluster.connect()
    for header in ("CC", "BCC"):
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"m", pika.BasicProperties(headers={header: "k2"}))
        with pytest.raises(ChannelClosedByBroker) as info:
            ch.queue_declare("", exclusive=True)
        assert info.value.reply_code == 406
        assert info.value.reply_text == f'PRECONDITION_FAILED - invalid message: {{unacceptable_type_in_header,"{header}",longstr}}'
    conn.close()
