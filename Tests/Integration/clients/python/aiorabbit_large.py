"""aiorabbit: a large message published and consumed within the client's timeout (the issue's
never arrived). aiorabbit needs pamqp 3, so it runs from its own directory (see the test)."""
import asyncio
import uuid

import aiorabbit

from common import args, body_of, check, done


async def main(port, size):
    body = body_of(size)
    queue = f"aiorabbit-large-{uuid.uuid4().hex[:8]}"
    async with aiorabbit.connect(f"amqp://guest:guest@127.0.0.1:{port}/%2F") as client:
        await client.queue_declare(queue)
        await client.publish("", queue, body)
        received = asyncio.get_running_loop().create_future()

        async def on_message(message):
            if not received.done():
                received.set_result(message.body)
            await client.basic_ack(message.delivery_tag)

        consumer = await client.basic_consume(queue, callback=on_message)
        got = await asyncio.wait_for(received, 60)
        check(got == body, f"body of {len(got)} bytes differs from the {size} sent")
        # Cancelled first: aiorabbit cannot take the basic.cancel a deleted queue would send.
        await client.basic_cancel(consumer)
        await client.queue_delete(queue)
    done(f"aiorabbit {size}")

asyncio.run(main(*args()))
