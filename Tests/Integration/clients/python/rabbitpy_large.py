"""rabbitpy: a large body published and consumed (the issue's round trip raised
AMQPFrameError, a frame the client could not parse)."""
import uuid

import rabbitpy

from common import args, body_of, check, done

port, size = args()
body = body_of(size)
with rabbitpy.Connection(f"amqp://guest:guest@127.0.0.1:{port}/%2F") as conn:
    with conn.channel() as ch:
        queue = rabbitpy.Queue(ch, f"rabbitpy-large-{uuid.uuid4().hex[:8]}")
        queue.declare()
        rabbitpy.Message(ch, body, {"content_type": "application/octet-stream"}).publish("", queue.name)
        got = None
        for message in queue.consume(prefetch=1):
            got = message.body
            message.ack()
            break
        check(got == body, f"body of {len(got or b'')} bytes differs from the {size} sent")
        queue.delete()
done(f"rabbitpy {size}")
