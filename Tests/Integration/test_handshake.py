"""Handshake details pika does not exercise: AMQPLAIN, heartbeats, socket permissions."""
import os
import socket
import stat
import struct
import time

import pytest
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker

from test_errors import longstr, read_frame, send_method, shortstr


def amqplain_response(user, password):
    """AMQPLAIN: a field table's entries without the table's length prefix."""
    out = b""
    for key, value in (("LOGIN", user), ("PASSWORD", password)):
        out += shortstr(key.encode()) + b"S" + longstr(value.encode())
    return out


def open_with(port, mechanism, response, heartbeat=0):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    kind, channel, payload = read_frame(s)  # connection.start
    assert payload[:4] == struct.pack(">HH", 10, 10)
    args = struct.pack(">I", 0) + shortstr(mechanism) + longstr(response) + shortstr(b"en_US")
    send_method(s, 0, 10, 11, args)
    kind, channel, payload = read_frame(s)
    return s, payload


def test_amqplain_login_is_accepted_and_a_wrong_password_refused(cluster):
    s, payload = open_with(cluster.port, b"AMQPLAIN", amqplain_response("guest", "guest"))
    assert payload[:4] == struct.pack(">HH", 10, 30)  # connection.tune
    s.close()
    s, payload = open_with(cluster.port, b"AMQPLAIN", amqplain_response("guest", "nope"))
    assert payload[:4] == struct.pack(">HH", 10, 50)  # connection.close
    assert struct.unpack(">H", payload[4:6])[0] == 403
    s.close()


def test_server_sends_heartbeats_and_drops_a_silent_client(cluster):
    s, payload = open_with(cluster.port, b"PLAIN", b"\x00guest\x00guest")
    assert payload[:4] == struct.pack(">HH", 10, 30)
    send_method(s, 0, 10, 31, struct.pack(">HIH", 2047, 131072, 1))  # tune-ok, heartbeat 1 s
    send_method(s, 0, 10, 40, shortstr(b"/") + shortstr(b"") + b"\x00")
    kind, _, payload = read_frame(s)
    assert payload[:4] == struct.pack(">HH", 10, 41)  # open-ok
    start = time.time()
    heartbeats = 0
    s.settimeout(10)
    try:
        while True:
            kind, channel, payload = read_frame(s)
            if kind == 8:
                heartbeats += 1
    except (ConnectionError, socket.timeout, OSError):
        pass
    elapsed = time.time() - start
    assert heartbeats >= 2, "the server sends heartbeats at half the interval"
    assert 1.5 <= elapsed <= 5, f"a client silent for two intervals is dropped (took {elapsed:.1f}s)"
    s.close()


def test_a_client_that_heartbeats_stays_connected(cluster):
    conn = cluster.connect(heartbeat=1)
    for _ in range(30):
        conn.process_data_events(time_limit=0.1)  # pika answers heartbeats here
    ch = conn.channel()
    ch.queue_declare("", exclusive=True)
    conn.close()


def test_unknown_exchange_type_is_503_connection_error(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ConnectionClosedByBroker) as info:
        ch.exchange_declare("weird", "no-such-type")
    assert info.value.reply_code == 503


def test_delete_if_unused_refuses_a_queue_with_consumers(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare("busy-q", auto_delete=False)
    ch.basic_consume("busy-q", lambda *a: None)
    other = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        other.queue_delete("busy-q", if_unused=True)
    assert info.value.reply_code == 406
    assert info.value.reply_text == "PRECONDITION_FAILED - queue 'busy-q' in vhost '/' in use"
    ch.queue_delete("busy-q")
    conn.close()


def test_worker_sockets_are_private(cluster):
    mode = stat.S_IMODE(os.stat(cluster.runtime_dir).st_mode)
    assert mode == 0o700, oct(mode)
    for i in range(cluster.workers):
        path = f"{cluster.runtime_dir}/worker-{i}.sock"
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
