"""aio-pika: a message with a headers table through the default exchange, fetched with
basic.get within 5 s (the issue's 22 MB case never arrived)."""
import asyncio
import time
import uuid

import aio_pika

from common import args, body_of, check, done


async def main(port, size):
    body = body_of(size)
    conn = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/")
    async with conn:
        ch = await conn.channel()
        queue = await ch.declare_queue(f"aiopika-large-{uuid.uuid4().hex[:8]}", auto_delete=False)
        headers = {"kind": "large", "size": size, "nested": {"a": 1}}
        await ch.default_exchange.publish(aio_pika.Message(body, headers=headers), routing_key=queue.name)
        deadline = time.monotonic() + 5
        message = None
        while message is None and time.monotonic() < deadline:
            message = await queue.get(no_ack=True, fail=False, timeout=5)
        check(message is not None, "no message within 5 s")
        check(message.body == body, f"body of {len(message.body)} bytes differs from the {size} sent")
        check(message.headers.get("size") == size, f"headers came back as {message.headers}")
        await queue.delete()
    done(f"aio-pika {size}")

asyncio.run(main(*args()))
