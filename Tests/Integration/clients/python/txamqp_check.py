"""txAMQP 0.8.2 (Twisted): logs in with AMQPLAIN (its default) after sending the 0-9 protocol
header that its 0-9-1 spec file implies, then declares, publishes and gets a message (the
issue's client was disconnected before connection.open-ok)."""
import sys

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import ClientCreator
import txamqp.spec
from txamqp.client import TwistedDelegate
from txamqp.content import Content
from txamqp.protocol import AMQClient

from common import args

SPEC = "/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml"
port, _ = args()
result = {}


@defer.inlineCallbacks
def main():
    spec = txamqp.spec.load(SPEC)
    conn = yield ClientCreator(reactor, AMQClient, delegate=TwistedDelegate(), vhost="/",
                               spec=spec).connectTCP("127.0.0.1", port)
    yield conn.authenticate("guest", "guest")  # mechanism AMQPLAIN
    ch = yield conn.channel(1)
    yield ch.channel_open()
    yield ch.queue_declare(queue="txamqp-check", auto_delete=True)
    ch.basic_publish(exchange="", routing_key="txamqp-check", content=Content("hello from txAMQP"))
    for _ in range(100):
        reply = yield ch.basic_get(queue="txamqp-check", no_ack=True)
        if reply.method.name in ("get_ok", "get-ok"):
            result["body"] = reply.content.body
            break
        yield task.deferLater(reactor, 0.05, lambda: None)
    yield ch.channel_close()
    channel0 = yield conn.channel(0)
    yield channel0.connection_close()


def run():
    d = main()
    d.addErrback(lambda failure: result.setdefault("error", failure.getErrorMessage()))
    d.addBoth(lambda _: reactor.stop())


reactor.callWhenRunning(run)
reactor.callLater(30, lambda: (result.setdefault("error", "timed out after 30 s"), reactor.stop()))
reactor.run()
if result.get("body") not in ("hello from txAMQP", b"hello from txAMQP"):
    print(f"FAIL: {result}")
    sys.exit(1)
print("ok txamqp")
