"""amqpstorm: a persistent message published with confirms into a durable queue, then
fetched with basic.get (the issue's 2.4 MB case closed the connection)."""
import uuid

import amqpstorm

from common import args, body_of, check, done

port, size = args()
body = body_of(size)
with amqpstorm.Connection("127.0.0.1", "guest", "guest", port=port, timeout=60) as conn:
    with conn.channel() as ch:
        queue = f"amqpstorm-large-{uuid.uuid4().hex[:8]}"
        ch.queue.declare(queue, durable=True)
        ch.confirm_deliveries()
        message = amqpstorm.Message.create(ch, body, {"delivery_mode": 2})
        check(message.publish(queue), "the publish was not confirmed")
        got = ch.basic.get(queue, no_ack=True, to_dict=False, auto_decode=False)
        check(got is not None, "the confirmed message was not in the queue")
        check(got.body == body, f"body of {len(got.body)} bytes differs from the {size} sent")
        ch.queue.delete(queue)
done(f"amqpstorm {size}")
