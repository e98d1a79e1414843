"""Errors get the reply code and text RabbitMQ uses, on the right scope."""
import socket
import struct

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker


def test_passive_declare_of_missing_queue_is_404(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("surely-missing", passive=True)
    assert info.value.reply_code == 404
    assert info.value.reply_text == "NOT_FOUND - no queue 'surely-missing' in vhost '/'"
    assert conn.is_open  # channel error, the connection stays
    conn.close()


def test_publish_to_missing_exchange_is_404(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.basic_publish("no-such-exchange", "k", b"x")
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("", exclusive=True)  # a sync call surfaces the async close
    assert info.value.reply_code == 404
    assert info.value.reply_text == "NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'"
    conn.close()


def test_inequivalent_redeclare_is_406(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare("ineq", durable=False, auto_delete=True)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("ineq", durable=True, auto_delete=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == ("PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'ineq' in vhost '/': "
                                     "received 'true' but current is 'false'")
    ch = conn.channel()
    ch.queue_delete("ineq")
    ch.exchange_declare("ineq-x", "direct", auto_delete=True)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.exchange_declare("ineq-x", "fanout", auto_delete=True)
    assert info.value.reply_code == 406
    conn.close()


def test_unknown_delivery_tag_is_406(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.basic_ack(42)
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("", exclusive=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - unknown delivery tag 42"
    conn.close()


def test_another_connections_exclusive_queue_is_405(cluster):
    owner = cluster.connect()
    owner.channel().queue_declare("mine-only", exclusive=True)
    other = cluster.connect()
    for attempt in ("declare", "consume", "bind"):
        ch = other.channel()
        with pytest.raises(ChannelClosedByBroker) as info:
            if attempt == "declare":
                ch.queue_declare("mine-only", exclusive=True)
            elif attempt == "consume":
                ch.basic_consume("mine-only", lambda *a: None)
            else:
                ch.queue_bind("mine-only", "amq.fanout")
        assert info.value.reply_code == 405, attempt
        assert info.value.reply_text.startswith("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'mine-only'")
    owner.close()
    other.close()


def test_reserved_names_are_403(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("amq.mine")
    assert info.value.reply_code == 403
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_bind("whatever", "")  # binding to the default exchange
    assert info.value.reply_code in (403, 404)
    conn.close()


def test_bad_login_is_refused(cluster):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        cluster.connect(credentials=pika.PlainCredentials("guest", "wrong"))


# --- raw-socket clients: malformed input must not disturb others -----------------------

def raw_handshake(port):
    """Opens a socket and completes the AMQP handshake by hand; returns the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    read_frame(s)  # connection.start
    response = b"\x00guest\x00guest"
    args = struct.pack(">I", 0) + shortstr(b"PLAIN") + longstr(response) + shortstr(b"en_US")
    send_method(s, 0, 10, 11, args)
    read_frame(s)  # tune
    send_method(s, 0, 10, 31, struct.pack(">HIH", 2047, 131072, 0))
    send_method(s, 0, 10, 40, shortstr(b"/") + shortstr(b"") + b"\x00")
    read_frame(s)  # open-ok
    return s


def shortstr(b):
    return bytes([len(b)]) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def send_method(s, channel, class_id, method_id, args):
    payload = struct.pack(">HH", class_id, method_id) + args
    s.sendall(struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce")


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_frame(s):
    kind, channel, size = struct.unpack(">BHI", read_exact(s, 7))
    payload = read_exact(s, size)
    assert read_exact(s, 1) == b"\xce"
    return kind, channel, payload


def expect_connection_close(s, code):
    while True:
        kind, channel, payload = read_frame(s)
        if kind == 1 and payload[:4] == struct.pack(">HH", 10, 50):
            reply_code = struct.unpack(">H", payload[4:6])[0]
            assert reply_code == code, payload
            return payload


def test_wrong_protocol_header_gets_ours_back(cluster):
    s = socket.create_connection(("127.0.0.1", cluster.port), timeout=5)
    s.sendall(b"AMQP\x01\x01\x08\x00")
    assert read_exact(s, 8) == b"AMQP\x00\x00\x09\x01"
    assert s.recv(1) == b""  # and the socket closes
    s.close()


def test_method_on_unopened_channel_is_504(cluster):
    s = raw_handshake(cluster.port)
    send_method(s, 5, 50, 10, struct.pack(">H", 0) + shortstr(b"q") + b"\x00" + struct.pack(">I", 0))
    expect_connection_close(s, 504)
    s.close()


def test_frame_over_frame_max_is_501(cluster):
    s = raw_handshake(cluster.port)
    s.sendall(struct.pack(">BHI", 3, 1, 200_000))  # a body frame header announcing 200 KB
    expect_connection_close(s, 501)
    s.close()


def test_body_without_method_is_505(cluster):
    s = raw_handshake(cluster.port)
    send_method(s, 1, 20, 10, shortstr(b""))  # channel.open
    read_frame(s)  # open-ok
    s.sendall(struct.pack(">BHI", 3, 1, 3) + b"abc" + b"\xce")
    expect_connection_close(s, 505)
    s.close()


def test_garbage_and_bad_frames_do_not_disturb_another_client(cluster):
    good = cluster.connect()
    ch = good.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    offenders = []
    for i in range(3):
        s = socket.create_connection(("127.0.0.1", cluster.port), timeout=5)
        s.sendall(b"\xff" * 4096)  # garbage instead of a protocol header
        offenders.append(s)
    s = raw_handshake(cluster.port)
    s.sendall(b"\x01\x00\x01\xff\xff\xff\xff" + b"junk")  # absurd frame size
    offenders.append(s)
    s = raw_handshake(cluster.port)
    send_method(s, 9, 60, 40, b"\x00")  # basic.publish on an unopened channel, truncated
    offenders.append(s)
    for i in range(500):
        ch.basic_publish("", q, str(i).encode())
    got = []
    for method, _, body in ch.consume(q, auto_ack=True, inactivity_timeout=5):
        if method is None:
            break
        got.append(int(body))
        if len(got) == 500:
            break
    assert got == list(range(500))
    for s in offenders:
        s.close()
    good.close()
