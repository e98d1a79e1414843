"""py-amqp: a consumer whose messages are acknowledged by another thread while it keeps
consuming (as kombu/Celery workers do); the consumer must never be cancelled by the broker,
and every message must end acknowledged."""
import queue
import sys
import threading
import time
import uuid

import amqp

from common import args, check, done

port, count = args()
count = count or 2000
name = f"pyamqp-thread-{uuid.uuid4().hex[:8]}"
conn = amqp.Connection(f"127.0.0.1:{port}", userid="guest", password="guest")
conn.connect()
ch = conn.channel()
ch.queue_declare(name, auto_delete=False)
for i in range(count):
    ch.basic_publish(amqp.Message(f"m{i}"), routing_key=name)
ch.basic_qos(0, 10, False)
to_ack, acked, got, cancelled = queue.Queue(), [], [], []


def acker():
    while (message := to_ack.get()) is not None:
        ch.basic_ack(message.delivery_tag)
        acked.append(message.body)


thread = threading.Thread(target=acker)
thread.start()
ch.basic_consume(name, callback=lambda m: (got.append(m.body), to_ack.put(m)),
                 on_cancel=lambda tag: cancelled.append(tag))
deadline = time.monotonic() + 60
while len(got) < count and time.monotonic() < deadline and not cancelled:
    try:
        conn.drain_events(timeout=1)
    except TimeoutError:
        pass
to_ack.put(None)
thread.join()
time.sleep(0.3)
left = conn.channel().queue_declare(name, passive=True).message_count
check(not cancelled, f"the broker cancelled the consumer {cancelled}")
check(got == [f"m{i}" for i in range(count)], f"{len(got)} of {count} delivered, or out of order")
check(len(acked) == count and left == 0, f"{len(acked)} acked, {left} left in the queue")
ch.queue_delete(name)
conn.close()
done(f"pyamqp thread ack {count}")
