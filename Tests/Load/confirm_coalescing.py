"""How many basic.ack frames a burst of publishes in confirm mode gets back (issue 19: RabbitMQ
3.10 coalesces 10,000 into about 1,200 with multiple=true). One raw connection sends N
publishes in one write, then counts the acks until the last sequence number is confirmed.

    python3 Tests/Load/confirm_coalescing.py [--broker-bin .build/release/broker] [--count 10000]
"""
import argparse
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Integration"))
from rawamqp import RawConnection, shortstr  # noqa: E402


def frame(frame_type, channel, payload):
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker-bin", default=os.path.join(ROOT, ".build", "release", "broker"))
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args()
    os.environ["BROKER_BIN"] = args.broker_bin
    from conftest import Cluster
    cluster = Cluster(2)
    try:
        raw = RawConnection(cluster.port)
        raw.open_channel(1)
        raw.send_method(1, 50, 10, struct.pack(">H", 0) + shortstr("confirm-burst") + b"\x00" + struct.pack(">I", 0))
        assert raw.method()[:2] == (50, 11)  # queue.declare-ok
        raw.send_method(1, 85, 10, b"\x00")
        assert raw.method()[:2] == (85, 11)  # confirm.select-ok
        publish = (frame(1, 1, struct.pack(">HHH", 60, 40, 0) + shortstr("") + shortstr("confirm-burst") + b"\x00")
                   + frame(2, 1, struct.pack(">HHQH", 60, 0, 16, 0)) + frame(3, 1, b"x" * 16))
        raw.sock.sendall(publish * args.count)
        raw.sock.settimeout(30)
        acks = multiple = highest = 0
        while highest < args.count:
            class_id, method_id, arguments = raw.method()
            if (class_id, method_id) == (60, 80):  # basic.ack
                tag, = struct.unpack(">Q", arguments[:8])
                acks += 1
                multiple += arguments[8] & 1
                highest = max(highest, tag)
        print(f"{args.count} publishes in one burst: {acks} basic.ack frames, {multiple} with multiple=true")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
