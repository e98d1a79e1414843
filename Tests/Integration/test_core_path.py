"""The core AMQP path across partitions, driven by pika against a real 3-worker cluster."""
import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, UnroutableError

from conftest import queues_on_distinct_partitions


def drain(conn, ch, queue, count, auto_ack=False, timeout=10):
    """Consumes `count` messages from `queue`; returns [(method, properties, body)]."""
    got = []
    for method, props, body in ch.consume(queue, auto_ack=auto_ack, inactivity_timeout=timeout):
        if method is None:
            break
        got.append((method, props, body))
        if len(got) == count:
            break
    return got


def test_queues_land_on_the_partitions_the_stable_hash_names(cluster):
    names = queues_on_distinct_partitions("placement", cluster.workers, cluster.workers)
    conn = cluster.connect()
    ch = conn.channel()
    for name in names:
        ch.queue_declare(name, auto_delete=True)
    # Each worker answers for its own partition over its socket; check via the HTTP/2 API.
    import subprocess, json
    for index, name in enumerate(names):
        sock = f"{cluster.runtime_dir}/worker-{index}.sock"
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--unix-socket", sock, "http://worker/v1/queues"],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, f"curl failed: {out.stderr} (install curl)"
        queues = {q["name"] for q in json.loads(out.stdout)}
        assert name in queues, f"{name} should live on worker {index}, which has {queues}"
        for other in names:
            if other != name:
                assert other not in queues
    conn.close()


def test_one_channel_consuming_from_three_workers_sees_tags_1_to_n_and_multi_ack_is_exact(cluster):
    names = queues_on_distinct_partitions("tags", cluster.workers, 3)
    conn = cluster.connect()
    ch = conn.channel()
    for name in names:
        ch.queue_declare(name, exclusive=True)
    for round_ in range(4):
        for name in names:
            ch.basic_publish("", name, f"{name}:{round_}".encode())
    got = []

    def on_message(channel, method, props, body):
        got.append((method.delivery_tag, body.decode()))

    for name in names:
        ch.basic_consume(name, on_message)
    deadline = 100
    while len(got) < 12 and deadline:
        conn.process_data_events(time_limit=0.1)
        deadline -= 1
    assert [tag for tag, _ in got] == list(range(1, 13))
    # Ack everything up to tag 7 at once; 8..12 stay unacked.
    acked = {body for tag, body in got if tag <= 7}
    ch.basic_ack(7, multiple=True)
    ch.close()
    # The unacked five come back (redelivered) once the channel is gone; the acked seven don't.
    ch2 = conn.channel()
    back = []
    for name in names:
        while True:
            method, props, body = ch2.basic_get(name, auto_ack=True)
            if method is None:
                break
            assert method.redelivered
            back.append(body.decode())
    assert sorted(back) == sorted(body for tag, body in got if tag > 7)
    assert not acked & set(back)
    conn.close()


def test_confirm_waits_for_every_worker_the_message_was_routed_to(cluster):
    names = queues_on_distinct_partitions("confirm", cluster.workers, 3)
    conn = cluster.connect()
    ch = conn.channel()
    ch.exchange_declare("confirm-fanout", "fanout", auto_delete=False)
    for name in names:
        ch.queue_declare(name, exclusive=True)
        ch.queue_bind(name, "confirm-fanout")
    ch.confirm_delivery()
    for i in range(50):
        ch.basic_publish("confirm-fanout", "", f"m{i}".encode())  # raises on nack
    for name in names:
        assert ch.queue_declare(name, passive=True).method.message_count == 50
    ch.exchange_delete("confirm-fanout")
    conn.close()


def test_mandatory_unroutable_publish_is_returned_and_still_confirmed(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    with pytest.raises(UnroutableError) as info:
        ch.basic_publish("amq.direct", "nobody-home", b"x", mandatory=True)
    returned = info.value.messages[0]
    assert returned.method.reply_code == 312 and returned.method.reply_text == "NO_ROUTE"
    assert returned.body == b"x"
    # A non-mandatory unroutable publish is simply confirmed.
    ch.basic_publish("amq.direct", "nobody-home", b"y")
    conn.close()


def test_mandatory_return_without_confirms(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append((m.reply_code, m.routing_key, b)))
    ch.basic_publish("", "no-such-queue-here", b"ret", mandatory=True)
    for _ in range(50):
        conn.process_data_events(time_limit=0.05)
        if returned:
            break
    assert returned == [(312, "no-such-queue-here", b"ret")]
    conn.close()


def test_routing_direct_topic_headers(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    assert q.startswith("amq.gen-")
    ch.exchange_declare("t-topic", "topic", auto_delete=True)
    ch.queue_bind(q, "t-topic", "stock.*.nyse")
    ch.queue_bind(q, "t-topic", "audit.#")
    ch.exchange_declare("t-headers", "headers", auto_delete=True)
    ch.queue_bind(q, "t-headers", "", arguments={"x-match": "any", "a": 1, "b": "two"})
    for key in ["stock.ibm.nyse", "stock.ibm.nasdaq", "audit", "audit.a.b", "stock.nyse"]:
        ch.basic_publish("t-topic", key, key.encode())
    ch.basic_publish("t-headers", "", b"h-hit", pika.BasicProperties(headers={"b": "two"}))
    ch.basic_publish("t-headers", "", b"h-miss", pika.BasicProperties(headers={"b": "three"}))
    bodies = [b for _, _, b in drain(conn, ch, q, 4, auto_ack=True)]
    assert bodies == [b"stock.ibm.nyse", b"audit", b"audit.a.b", b"h-hit"]
    assert ch.basic_get(q)[0] is None
    conn.close()


def test_get_purge_delete_and_message_counts(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare("gpd", auto_delete=False)
    ch.queue_purge("gpd")
    for i in range(5):
        ch.basic_publish("", "gpd", str(i).encode(), pika.BasicProperties(content_type="text/plain", headers={"i": i}))
    method, props, body = ch.basic_get("gpd")
    assert body == b"0" and method.message_count == 4 and props.content_type == "text/plain" and props.headers == {"i": 0}
    ch.basic_reject(method.delivery_tag, requeue=True)
    method, _, body = ch.basic_get("gpd", auto_ack=True)
    assert body == b"0" and method.redelivered  # back at its original position
    assert ch.queue_purge("gpd").method.message_count == 4
    assert ch.basic_get("gpd") == (None, None, None)
    ch.basic_publish("", "gpd", b"keep")
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_delete("gpd", if_empty=True)
    assert info.value.reply_code == 406
    ch = conn.channel()
    assert ch.queue_delete("gpd").method.message_count == 1
    conn.close()


def test_prefetch_nack_requeue_recover_and_cancel(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(6):
        ch.basic_publish("", q, str(i).encode())
    ch.basic_qos(prefetch_count=2)
    got = []
    tag = ch.basic_consume(q, lambda c, m, p, b: got.append((m, b)))
    for _ in range(20):
        conn.process_data_events(time_limit=0.05)
    assert [b for _, b in got] == [b"0", b"1"]  # prefetch honoured
    ch.basic_nack(got[0][0].delivery_tag, requeue=True)
    for _ in range(20):
        conn.process_data_events(time_limit=0.05)
    # "0" went back to the head and is redelivered before "2".
    assert [b for _, b in got[2:]] == [b"0"] and got[2][0].redelivered
    ch.basic_recover(requeue=True)
    for _ in range(20):
        conn.process_data_events(time_limit=0.05)
    assert [b for _, b in got[3:5]] == [b"0", b"1"]
    assert all(m.redelivered for m, _ in got[3:5])
    ch.basic_cancel(tag)
    ch.basic_ack(0, multiple=True)  # all outstanding
    assert ch.queue_declare(q, passive=True).method.message_count == 4
    conn.close()


def test_auto_delete_queue_goes_when_its_last_consumer_cancels(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare("ad-q", auto_delete=True)
    tag = ch.basic_consume("ad-q", lambda *a: None)
    ch.basic_cancel(tag)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("ad-q", passive=True)
    assert info.value.reply_code == 404
    conn.close()
