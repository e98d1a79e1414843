"""Queue arguments: message TTL, per-message expiration, queue expiry, length limits and
dead-lettering with RabbitMQ's x-death header, across workers (pika)."""
import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, NackError

from conftest import queues_on_distinct_partitions, wait_get


def count(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def test_message_ttl_dead_letters_to_a_queue_on_another_worker(cluster):
    src, dst = queues_on_distinct_partitions("ttl-dlx", cluster.workers, 2)
    conn = cluster.connect()
    ch = conn.channel()
    ch.exchange_declare("ttl-dlx-x", "direct", auto_delete=True)
    ch.queue_declare(dst, exclusive=True)
    ch.queue_bind(dst, "ttl-dlx-x", "expired-key")
    ch.queue_declare(src, exclusive=True, arguments={
        "x-message-ttl": 200, "x-dead-letter-exchange": "ttl-dlx-x", "x-dead-letter-routing-key": "expired-key"})
    ch.basic_publish("", src, b"short-lived", pika.BasicProperties(headers={"keep": "me"}))
    assert count(ch, src) == 1
    method, props, body = wait_get(ch, dst)
    assert body == b"short-lived"
    assert count(ch, src) == 0
    assert method.exchange == "ttl-dlx-x" and method.routing_key == "expired-key"
    death = props.headers["x-death"][0]
    assert death["reason"] == "expired" and death["queue"] == src and death["count"] == 1
    assert death["exchange"] == "" and death["routing-keys"] == [src]
    assert props.headers["x-first-death-reason"] == "expired"
    assert props.headers["x-first-death-queue"] == src
    assert props.headers["keep"] == "me"
    conn.close()


def test_per_message_expiration_and_the_shorter_ttl_wins(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True, arguments={"x-message-ttl": 60000}).method.queue
    ch.basic_publish("", q, b"fast", pika.BasicProperties(expiration="100"))
    ch.basic_publish("", q, b"slow")
    time.sleep(0.4)
    method, props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"slow"
    assert ch.basic_get(q)[0] is None
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration="soon"))
        ch.queue_declare(q, passive=True)
    assert info.value.reply_code == 406
    conn.close()


def test_rejected_message_is_dead_lettered_with_reason_rejected_and_counts_deaths(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    dead = ch.queue_declare("", exclusive=True).method.queue
    work = ch.queue_declare("", exclusive=True, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead}).method.queue
    ch.basic_publish("", work, b"bad")
    method, _, _ = ch.basic_get(work)
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, props, body = wait_get(ch, dead)
    assert body == b"bad" and props.headers["x-death"][0]["reason"] == "rejected"
    # Back into the work queue and rejected again: the same death is counted, not repeated.
    ch.basic_publish("", work, body, props)
    method, _, _ = ch.basic_get(work)
    ch.basic_nack(method.delivery_tag, requeue=False)
    method, props, body = wait_get(ch, dead)
    deaths = props.headers["x-death"]
    assert len(deaths) == 1 and deaths[0]["count"] == 2
    conn.close()


def test_max_length_drop_head_dead_letters_the_oldest(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    dead = ch.queue_declare("", exclusive=True).method.queue
    q = ch.queue_declare("", exclusive=True, arguments={
        "x-max-length": 2, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead}).method.queue
    for i in range(5):
        ch.basic_publish("", q, str(i).encode())
    assert count(ch, q) == 2
    assert [ch.basic_get(q, auto_ack=True)[2] for _ in range(2)] == [b"3", b"4"]
    dropped = [wait_get(ch, dead) for _ in range(3)]
    assert [body for _, _, body in dropped] == [b"0", b"1", b"2"]
    assert all(props.headers["x-death"][0]["reason"] == "maxlen" for _, props, _ in dropped)
    conn.close()


def test_max_length_bytes_and_reject_publish_nacks_the_publisher(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True, arguments={"x-max-length-bytes": 10, "x-overflow": "reject-publish"}).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"12345")
    ch.basic_publish("", q, b"67890")
    with pytest.raises(NackError):
        ch.basic_publish("", q, b"x")
    assert count(ch, q) == 2
    conn.close()


def test_queue_expires_when_unused(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare("expiring-q", arguments={"x-expires": 300})
    time.sleep(0.8)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("expiring-q", passive=True)
    assert info.value.reply_code == 404
    conn.close()


def test_invalid_arguments_are_406(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("", exclusive=True, arguments={"x-message-ttl": -5})
    assert info.value.reply_code == 406
    assert "invalid arg 'x-message-ttl'" in info.value.reply_text
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("", exclusive=True, arguments={"x-overflow": "explode"})
    assert info.value.reply_code == 406
    conn.close()
