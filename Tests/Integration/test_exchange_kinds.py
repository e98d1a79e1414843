"""Exchange kinds and flags end to end (pika): internal and auto-delete exchanges, headers
matching with RabbitMQ's any-with-x / all-with-x, topic edge cases, exchange.delete, plus
reject-publish-dlx, basic.recover-async, immediate=true and dead-lettering with CC keys."""

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker

from conftest import queues_on_distinct_partitions, get_all, wait_get, unique


def test_publishing_to_an_internal_exchange_is_403_but_it_routes_from_another_exchange(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    front, inner = unique("front"), unique("internal")
    ch.exchange_declare(front, "fanout", auto_delete=True)
    ch.exchange_declare(inner, "fanout", internal=True, auto_delete=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, inner)
    ch.exchange_bind(destination=inner, source=front)
    ch.basic_publish(front, "", b"through")
    assert get_all(ch, q) == [b"through"]
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.basic_publish(inner, "", b"direct")
        ch.queue_declare("", exclusive=True)  # a round trip to receive the close
    assert info.value.reply_code == 403
    assert info.value.reply_text == f"ACCESS_REFUSED - cannot publish to internal exchange '{inner}' in vhost '/'"
    conn.close()


def test_an_auto_delete_exchange_goes_when_its_last_binding_goes(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = unique("autodel")
    ch.exchange_declare(x, "direct", auto_delete=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, x, "k")
    ch.exchange_declare(x, "direct", passive=True)  # still there with a binding
    ch.queue_unbind(q, x, "k")
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.exchange_declare(x, "direct", passive=True)
    assert info.value.reply_code == 404
    conn.close()


def test_exchange_delete_removes_it_and_its_bindings(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = unique("deleted")
    ch.exchange_declare(x, "fanout")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, x)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.exchange_delete(x, if_unused=True)
    assert info.value.reply_code == 406
    ch = conn.channel()
    ch.exchange_delete(x)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.exchange_declare(x, "fanout", passive=True)
    assert info.value.reply_code == 404
    conn.close()


def test_headers_any_with_x_and_all_with_x_consider_x_headers(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    x = unique("hdr")
    ch.exchange_declare(x, "headers", auto_delete=True)
    any_q, all_q, anyx_q, allx_q = queues_on_distinct_partitions(unique("hq"), cluster.workers, 3) + [
        ch.queue_declare("", exclusive=True).method.queue]
    for q in (any_q, all_q, anyx_q):
        ch.queue_declare(q, exclusive=True)
    ch.queue_bind(any_q, x, arguments={"x-match": "any", "x-tenant": "a", "kind": "k"})
    ch.queue_bind(all_q, x, arguments={"x-match": "all", "x-tenant": "a", "kind": "k"})
    ch.queue_bind(anyx_q, x, arguments={"x-match": "any-with-x", "x-tenant": "a"})
    ch.queue_bind(allx_q, x, arguments={"x-match": "all-with-x", "x-tenant": "a", "kind": "k"})
    ch.basic_publish(x, "", b"only-x", pika.BasicProperties(headers={"x-tenant": "a"}))
    ch.basic_publish(x, "", b"both", pika.BasicProperties(headers={"x-tenant": "a", "kind": "k"}))
    # any / all ignore x- headers: "only-x" matches neither; "both" matches both via "kind".
    assert get_all(ch, any_q) == [b"both"]
    assert get_all(ch, all_q) == [b"both"]
    assert get_all(ch, anyx_q) == [b"only-x", b"both"]
    assert get_all(ch, allx_q) == [b"both"]
    conn.close()


@pytest.mark.parametrize("pattern,keys,matches", [
    ("#", ["", "a", "a.b.c"], [True, True, True]),
    ("a.#", ["a", "a.b", "b.a"], [True, True, False]),
    ("*", ["", "a", "a.b"], [False, True, False]),  # "" is zero words in RabbitMQ
    ("a..b", ["a..b", "a.b"], [True, False]),
    ("#.a", ["a", ".a", "b.a"], [True, True, True]),
])
def test_topic_edge_cases_match_like_rabbitmq(cluster, pattern, keys, matches):
    conn = cluster.connect()
    ch = conn.channel()
    x = unique("topic")
    ch.exchange_declare(x, "topic", auto_delete=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, x, pattern)
    for key in keys:
        ch.basic_publish(x, key, key.encode() or b"<empty>")
    expected = [(key.encode() or b"<empty>") for key, match in zip(keys, matches) if match]
    assert get_all(ch, q) == expected
    conn.close()


def test_reject_publish_dlx_nacks_and_dead_letters_the_refused_message(cluster):
    src, dst = queues_on_distinct_partitions(unique("rpdlx"), cluster.workers, 2)
    conn = cluster.connect()
    ch = conn.channel()
    dlx = unique("rpdlx-x")
    ch.exchange_declare(dlx, "fanout", auto_delete=True)
    ch.queue_declare(dst, exclusive=True)
    ch.queue_bind(dst, dlx)
    ch.queue_declare(src, exclusive=True, arguments={
        "x-max-length": 1, "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": dlx})
    ch.confirm_delivery()
    ch.basic_publish("", src, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", src, b"refused")
    method, props, body = wait_get(ch, dst)
    assert body == b"refused"
    assert props.headers["x-death"][0]["reason"] == "maxlen"
    assert get_all(ch, src) == [b"kept"]
    conn.close()


def test_recover_async_redelivers_unacked_messages(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"again")
    method, _, _ = ch.basic_get(q)
    assert method.redelivered is False
    # pika has no recover-async; send the method itself (basic.recover-async, 60/100).
    ch._impl._send_method(pika.spec.Basic.RecoverAsync(requeue=True))
    method, _, body = wait_get(ch, q)
    assert body == b"again" and method.redelivered is True
    conn.close()


def test_immediate_publish_is_540_not_implemented(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    with pytest.raises(ConnectionClosedByBroker) as info:
        # pika's blocking channel has no immediate flag: send the method and content directly.
        ch._impl._send_method(pika.spec.Basic.Publish(exchange="", routing_key=q, immediate=True),
                              (pika.BasicProperties(), b"now"))
        ch.queue_declare("", exclusive=True)
    assert info.value.reply_code == 540
    assert info.value.reply_text == "NOT_IMPLEMENTED - immediate=true"


def test_dead_letters_keep_their_cc_keys_and_are_routed_with_them(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    dlx = unique("cc-dlx")
    ch.exchange_declare(dlx, "direct", auto_delete=True)
    k1, k2 = queues_on_distinct_partitions(unique("ccdl"), cluster.workers, 2)
    for q, key in ((k1, "k1"), (k2, "k2")):
        ch.queue_declare(q, exclusive=True)
        ch.queue_bind(q, dlx, key)
    src = ch.queue_declare("", exclusive=True, arguments={"x-dead-letter-exchange": dlx}).method.queue
    ch.queue_bind(src, "amq.direct", "k1")
    ch.basic_publish("amq.direct", "k1", b"m", pika.BasicProperties(headers={"CC": ["k2"]}))
    method, _, _ = wait_get(ch, src)
    assert method is not None
    # Reject it: dead-lettered with both of its keys.
    ch.basic_publish("amq.direct", "k1", b"dead", pika.BasicProperties(headers={"CC": ["k2"]}))
    method, _, _ = ch.basic_get(src)
    ch.basic_reject(method.delivery_tag, requeue=False)
    for q in (k1, k2):
        _, props, body = wait_get(ch, q)
        assert body == b"dead"
        assert props.headers["x-death"][0]["routing-keys"] == ["k1", "k2"]
    conn.close()
