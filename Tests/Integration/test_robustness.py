"""Bad input under load (issue 17): for a bounded time, several connections send random and
mutated frames (truncated, oversized, a wrong frame end, unknown class and method, content on
a channel that is not open, a body longer than its header declared, field tables with bad
types, a handshake one byte at a time) while a well-behaved pika client publishes persistent
messages with confirms and consumes them on the same router. No process dies, the good client
sees no error, and every confirmed message arrives. Seeded: TEST_SEED replays a run."""
import os
import random
import socket
import struct
import threading
import time

import pika

from conftest import Cluster, needs_own_broker, unique
from rawamqp import RawConnection, shortstr

DURATION = 15.0
ATTACKERS = 6
SEED = int(os.environ.get("TEST_SEED", random.randrange(1 << 32)))


def frame(frame_type, channel, payload, end=b"\xce"):
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + end


def method(channel, class_id, method_id, args=b""):
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def publish(channel, queue, declared_size, body):
    """basic.publish, a header declaring `declared_size`, and `body` in one body frame."""
    header = struct.pack(">HHQH", 60, 0, declared_size, 0)
    return (method(channel, 60, 40, struct.pack(">H", 0) + shortstr("") + shortstr(queue) + b"\x00")
            + frame(2, channel, header) + frame(3, channel, body))


def bad_table():
    """queue.declare arguments with a field type no table has, or lengths that lie."""
    entry = shortstr("x-bad") + bytes([random.choice(b"QZzj!\x00\xff")]) + os.urandom(random.randrange(0, 9))
    return struct.pack(">I", len(entry) + random.randrange(-3, 4)) + entry


MUTATIONS = [
    lambda: frame(1, 1, os.urandom(random.randrange(0, 40)))[:random.randrange(1, 20)],   # truncated
    lambda: struct.pack(">BHI", 1, 1, 0x7FFFFFFF) + os.urandom(64),                      # oversized
    lambda: frame(1, 1, struct.pack(">HH", 20, 10) + b"\x00", end=b"\x00"),              # wrong frame end
    lambda: method(1, random.randrange(100, 65535), random.randrange(0, 65535)),         # unknown class/method
    lambda: publish(random.randrange(2, 100), "q", 5, b"hello"),                         # content on a closed channel
    lambda: publish(1, "q", 3, b"longer than declared"),                                 # body > declared size
    lambda: method(1, 50, 10, struct.pack(">H", 0) + shortstr("q") + b"\x00" + bad_table()),  # bad table
    lambda: os.urandom(random.randrange(1, 300)),                                        # garbage
    lambda: frame(random.choice([0, 4, 9, 255]), 1, os.urandom(8)),                      # unknown frame type
]


def attacker(port, deadline, counts, rng_seed):
    random.seed(rng_seed)
    while time.time() < deadline:
        try:
            if random.random() < 0.15:
                slow_loris(port, deadline)
                counts["slow"] += 1
                continue
            raw = RawConnection(port)
            raw.open_channel(1)
            for _ in range(random.randrange(1, 6)):
                raw.sock.sendall(random.choice(MUTATIONS)())
            counts["sent"] += 1
            raw.sock.settimeout(0.5)
            try:
                while raw.sock.recv(65536):
                    pass
            except OSError:
                pass
            raw.close()
        except (OSError, EOFError, AssertionError):
            counts["refused"] += 1  # closed on us mid-handshake: fine


def slow_loris(port, deadline):
    """The protocol header a byte at a time, then nothing: the handshake timeout ends it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        for byte in b"AMQP\x00\x00\x09\x01"[:random.randrange(1, 8)]:
            sock.sendall(bytes([byte]))
            time.sleep(0.2)
    finally:
        sock.close()


def test_a_good_client_is_unaffected_by_connections_sending_malformed_frames():
    needs_own_broker("raw garbage", "nothing: it checks the broker survives")
    print(f"TEST_SEED={SEED}")
    random.seed(SEED)
    c = Cluster(2)
    try:
        pids = {"router": c.router_pid(), 0: c.worker_pid(0), 1: c.worker_pid(1)}
        queue = unique("robust")
        deadline = time.time() + DURATION
        counts = {"sent": 0, "refused": 0, "slow": 0}
        threads = [threading.Thread(target=attacker, args=(c.port, deadline, counts, SEED + i), daemon=True)
                   for i in range(ATTACKERS)]
        for thread in threads:
            thread.start()

        conn = c.connect()
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        ch.confirm_delivery()
        confirmed = []
        n = 0
        while time.time() < deadline:
            ch.basic_publish("", queue, f"m{n}".encode(), pika.BasicProperties(delivery_mode=2, message_id=str(n)))
            confirmed.append(str(n))
            n += 1
        for thread in threads:
            thread.join(timeout=30)
        received = set()
        for method_frame, properties, _ in ch.consume(queue, inactivity_timeout=5):
            if method_frame is None:
                break
            received.add(properties.message_id)
            ch.basic_ack(method_frame.delivery_tag)
            if len(received) == len(confirmed):
                break
        ch.cancel()
        conn.close()
        print(f"{counts['sent']} malformed sessions, {counts['slow']} slow handshakes, {counts['refused']} refused; "
              f"good client: {len(confirmed)} confirmed, {len(received)} received")
        assert counts["sent"] > 50, counts
        assert set(confirmed) == received, f"{len(set(confirmed) - received)} confirmed messages missing"
        assert {"router": c.router_pid(), 0: c.worker_pid(0), 1: c.worker_pid(1)} == pids, \
            f"a process died; log: {c.log_text()[-3000:]}"
    finally:
        c.stop()
