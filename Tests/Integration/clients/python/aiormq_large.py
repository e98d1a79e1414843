"""aiormq (beneath aio-pika): the same large message with headers, publish then basic.get."""
import asyncio
import time
import uuid

import aiormq
from pamqp.commands import Basic

from common import args, body_of, check, done


async def main(port, size):
    body = body_of(size)
    conn = await aiormq.connect(f"amqp://guest:guest@127.0.0.1:{port}/")
    ch = await conn.channel()
    queue = f"aiormq-large-{uuid.uuid4().hex[:8]}"
    await ch.queue_declare(queue)
    await ch.basic_publish(body, routing_key=queue, properties=aiormq.spec.Basic.Properties(headers={"size": size}))
    deadline = time.monotonic() + 5
    got = None
    while time.monotonic() < deadline:
        got = await ch.basic_get(queue, no_ack=True)
        if isinstance(got.delivery, Basic.GetOk):
            break
        got = None
    check(got is not None, "no message within 5 s")
    check(got.body == body, f"body of {len(got.body)} bytes differs from the {size} sent")
    check(got.header.properties.headers == {"size": size}, f"headers {got.header.properties.headers}")
    await ch.queue_delete(queue)
    await conn.close()
    done(f"aiormq {size}")

asyncio.run(main(*args()))
