"""Invariant 2: HTTP/2 flow control on a connection's stream is that connection's
backpressure. A client that stops reading its socket stalls only its own deliveries: the
worker keeps the rest of its queue ready, other connections on the same worker keep
receiving, the router does not buffer the backlog, and the stalled client gets everything
once it reads again."""
import struct
import time


from conftest import partition_of
from rawamqp import RawConnection

MESSAGES = 50_000
BODY = b"x" * 2000  # 100 MB in all


def same_partition_names(prefix, partitions):
    """Two queue names that the same worker owns."""
    first = f"{prefix}-0"
    i = 1
    while partition_of(f"{prefix}-{i}", partitions) != partition_of(first, partitions):
        i += 1
    return first, f"{prefix}-{i}"


def router_rss_mb(cluster):
    from conftest import children_of
    for pid in children_of(cluster.process.pid):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"router" in f.read().split(b"\0")[:2]:
                with open(f"/proc/{pid}/status") as status:
                    return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024
    raise AssertionError("router process not found")


def ready_count(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def test_a_client_that_stops_reading_stalls_only_its_own_stream(cluster):
    slow_q, fast_q = same_partition_names("flow", cluster.workers)
    conn = cluster.connect()
    ch = conn.channel()
    for q in (slow_q, fast_q):
        ch.queue_declare(q, auto_delete=False)
        ch.queue_purge(q)
    rss_before = router_rss_mb(cluster)

    slow = RawConnection(cluster.port, receive_buffer=64 << 10)
    slow.open_channel()
    slow.consume(slow_q, no_ack=True)  # and then it reads nothing
    for i in range(MESSAGES):
        ch.basic_publish("", slow_q, BODY)
        if i % 1000 == 0:
            conn.process_data_events(0)
    ready_count(ch, slow_q)  # a round trip: every publish has reached the worker

    # The worker stops delivering: most of the queue stays ready (without flow control the
    # router would take all 100 MB and buffer it for the client).
    time.sleep(1.0)
    held = ready_count(ch, slow_q)
    assert held > MESSAGES // 2, f"only {held} of {MESSAGES} still queued: deliveries were not held back"
    assert router_rss_mb(cluster) - rss_before < 60, "the router buffered the stalled client's backlog"

    # Another connection consuming from the same worker is not held back.
    received = []
    fast = cluster.connect()
    fast_ch = fast.channel()
    fast_ch.basic_consume(fast_q, lambda c, m, p, b: received.append(b), auto_ack=True)
    for i in range(1000):
        ch.basic_publish("", fast_q, b"f%d" % i)
    deadline = time.time() + 10
    while len(received) < 1000 and time.time() < deadline:
        fast.process_data_events(0.05)
    assert len(received) == 1000

    # Once the slow client reads, it gets every message.
    delivered = 0
    deadline = time.time() + 120
    while delivered < MESSAGES and time.time() < deadline:
        frame_type, _, payload = slow.frame()
        if frame_type == 1 and struct.unpack(">HH", payload[:4]) == (60, 60):  # basic.deliver
            delivered += 1
    assert delivered == MESSAGES
    assert ready_count(ch, slow_q) == 0
    slow.close()
    fast.close()
    for q in (slow_q, fast_q):
        ch.queue_delete(q)
    conn.close()
