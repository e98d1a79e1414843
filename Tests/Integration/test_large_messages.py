"""Large messages, driven by pika against a real 3-worker cluster: bodies from 1 byte to
RabbitMQ's default max_message_size (128 MiB), on both sides of the frame_max boundary,
persistent and transient, fetched with basic.get and delivered by basic.consume. Above the
limit the channel is closed with 406, as RabbitMQ 3.10 does. One large message never stalls
the other queues of its partition."""
import threading
import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from conftest import unique

FRAME_MAX = 131072  # what the broker offers and pika accepts
MiB = 1 << 20


def body_of(size):
    """A body whose every byte depends on its position, so a lost, doubled or reordered frame
    shows (a constant fill would not)."""
    pattern = bytes(range(251))  # prime length: frame boundaries never align with it
    return (pattern * (size // 251 + 1))[:size]


def connect(cluster):
    return cluster.connect(blocked_connection_timeout=300, heartbeat=0)


SIZES = [1, FRAME_MAX - 8, FRAME_MAX - 7, 1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB, 128 * MiB]


@pytest.mark.parametrize("persistent", [True, False], ids=["persistent", "transient"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_a_body_survives_publish_with_confirm_then_basic_get_intact(cluster, size, persistent):
    conn = connect(cluster)
    ch = conn.channel()
    ch.confirm_delivery()
    queue = unique("large-get")
    ch.queue_declare(queue, durable=persistent)
    body = body_of(size)
    ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2 if persistent else 1,
                                                             headers={"size": size}))
    method, props, got = ch.basic_get(queue, auto_ack=False)
    assert method is not None, "the confirmed message was not in the queue"
    assert len(got) == size and got == body
    assert props.headers == {"size": size}
    ch.basic_ack(method.delivery_tag)
    assert ch.queue_declare(queue, passive=True).method.message_count == 0
    ch.queue_delete(queue)
    conn.close()


@pytest.mark.parametrize("persistent", [True, False], ids=["persistent", "transient"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_a_body_is_delivered_intact_to_a_consumer(cluster, size, persistent):
    conn = connect(cluster)
    ch = conn.channel()
    queue = unique("large-consume")
    ch.queue_declare(queue, durable=persistent)
    body = body_of(size)
    ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2 if persistent else 1))
    ch.basic_qos(prefetch_count=1)
    got = None
    for method, _, received in ch.consume(queue, inactivity_timeout=60):
        assert method is not None, "no delivery within 60 s"
        got = received
        ch.basic_ack(method.delivery_tag)
        break
    ch.cancel()
    assert got is not None and len(got) == size and got == body
    ch.queue_delete(queue)
    conn.close()


def test_several_large_messages_interleave_with_small_ones_in_order(cluster):
    """Large and small bodies on one channel keep their order, and a consumer with a small
    frame_max gets every body cut to its own limit."""
    conn = cluster.connect(frame_max=4096)
    ch = conn.channel()
    ch.confirm_delivery()
    queue = unique("large-mixed")
    ch.queue_declare(queue)
    bodies = [body_of(n) for n in (3 * MiB, 10, 4096 - 8, 4096 - 7, 2 * MiB + 1, 0, 1)]
    for body in bodies:
        ch.basic_publish("", queue, body)
    got = []
    for method, _, received in ch.consume(queue, inactivity_timeout=30):
        assert method is not None
        got.append(received)
        ch.basic_ack(method.delivery_tag)
        if len(got) == len(bodies):
            break
    assert got == bodies
    conn.close()


def test_a_body_over_max_message_size_closes_the_channel_with_406(cluster):
    conn = connect(cluster)
    ch = conn.channel()
    queue = unique("too-large")
    ch.queue_declare(queue)
    ch.basic_publish("", queue, body_of(128 * MiB + 1))
    with pytest.raises(ChannelClosedByBroker) as closed:
        ch.queue_declare(queue, passive=True)
    assert closed.value.reply_code == 406
    assert closed.value.reply_text == (
        "PRECONDITION_FAILED - message size 134217729 is larger than configured max size 134217728")
    # The connection stays usable, and nothing was enqueued.
    ch = conn.channel()
    assert ch.queue_declare(queue, passive=True).method.message_count == 0
    ch.queue_delete(queue)
    conn.close()


def same_partition_queue(cluster, name):
    """Another queue name on the partition that owns `name`."""
    target = cluster.partition_of(name)
    i = 0
    while True:
        other = f"{name}-neighbour-{i}"
        if cluster.partition_of(other) == target:
            return other
        i += 1


def test_a_large_message_does_not_stall_the_other_queues_of_its_partition(cluster):
    """While a 64 MiB message goes through its worker, small round trips on another queue of
    the same partition keep completing: the worst one is reported and stays far below the
    minutes such a message used to stall a partition."""
    big_queue = unique("stall-big")
    small_queue = same_partition_queue(cluster, unique("stall-small"))
    setup = connect(cluster)
    sch = setup.channel()
    sch.queue_declare(big_queue)
    sch.queue_declare(small_queue)

    done = threading.Event()
    errors = []

    def publish_big():
        try:
            conn = connect(cluster)
            ch = conn.channel()
            ch.confirm_delivery()
            for _ in range(2):
                ch.basic_publish("", big_queue, body_of(64 * MiB))
            conn.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)
        finally:
            done.set()

    publisher = threading.Thread(target=publish_big)
    publisher.start()
    small = connect(cluster)
    ch = small.channel()
    ch.confirm_delivery()
    worst = 0.0
    rounds = 0
    while not done.is_set() or rounds < 5:
        start = time.monotonic()
        ch.basic_publish("", small_queue, b"ping")
        method, _, body = ch.basic_get(small_queue, auto_ack=True)
        worst = max(worst, time.monotonic() - start)
        assert body == b"ping"
        rounds += 1
    publisher.join()
    assert not errors, errors
    print(f"worst small round trip during 2 x 64 MiB publishes: {worst * 1000:.0f} ms over {rounds} rounds")
    assert worst < 5.0, f"a small round trip took {worst:.1f} s while a large message was in the partition"
    assert sch.queue_declare(big_queue, passive=True).method.message_count == 2
    sch.queue_delete(big_queue)
    sch.queue_delete(small_queue)
    small.close()
    setup.close()
