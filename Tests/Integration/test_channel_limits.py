"""channel_max and tune-ok as RabbitMQ 3.10 enforces them (rabbit_reader): channel_max limits
how many channels are open at once, not their numbers; a tune-ok asking for no limit or more
than offered is refused with 530. Raw frames (rawamqp) where clients would refuse to send them,
aiormq for the channel number far above channel_max that its own tests use."""
import os
import struct
import subprocess
import sys

import pytest

from conftest import EXTERNAL_PORT
from rawamqp import RawConnection, shortstr

HERE = os.path.dirname(os.path.abspath(__file__))


def handshake(port, channel_max, frame_max=131072):
    """Logged in, connection.tune answered with `channel_max`/`frame_max`, not yet opened."""
    return RawConnection(port, tune=(channel_max, frame_max), open=False)


def test_connection_tune_offers_rabbitmqs_limits(cluster):
    conn = handshake(cluster.port, 2047)
    assert conn.offered[:2] == (2047, 131072)
    conn.close()


@pytest.mark.parametrize("channel_max,frame_max,text", [
    (0, 131072, "NOT_ALLOWED - negotiated channel_max = 0 (no limit) is higher than the maximum allowed value (2047)"),
    (2048, 131072, "NOT_ALLOWED - negotiated channel_max = 2048 is higher than the maximum allowed value (2047)"),
    (10, 0, "NOT_ALLOWED - negotiated frame_max = 0 is higher than the maximum allowed value (131072)"),
    (10, 131073, "NOT_ALLOWED - negotiated frame_max = 131073 is higher than the maximum allowed value (131072)"),
    (10, 4095, "NOT_ALLOWED - negotiated frame_max = 4095 is lower than the minimum allowed value (4096)"),
], ids=["channel_max-0", "channel_max-2048", "frame_max-0", "frame_max-over", "frame_max-under"])
def test_tune_ok_outside_the_offer_is_530(cluster, channel_max, frame_max, text):
    conn = handshake(cluster.port, channel_max, frame_max)
    if EXTERNAL_PORT:
        # RabbitMQ 3.10.8 logs the same text and drops the socket without connection.close;
        # later releases (rabbit_reader's tuning clause) send the 530 that we send.
        with pytest.raises((ConnectionResetError, EOFError)):
            conn.method()
    else:
        assert conn.connection_close() == (530, text, 10, 30)
    conn.close()


def test_channel_max_limits_open_channels_not_their_numbers(cluster):
    conn = handshake(cluster.port, 3)
    conn.open_connection()
    for number in (1, 500, 65535):  # numbers above channel_max are fine while fewer are open
        conn.open_channel(number)
    conn.send_method(500, 20, 40, struct.pack(">H", 200) + shortstr("") + struct.pack(">HH", 0, 0))  # channel.close
    assert conn.method()[:2] == (20, 41)
    conn.open_channel(7)  # the closed one's place is free again
    conn.send_method(8, 20, 10, shortstr(""))
    assert conn.connection_close() == (
        530, "NOT_ALLOWED - number of channels opened (3) has reached the negotiated channel_max (3)", 0, 0)
    conn.close()


def test_a_second_channel_open_is_504(cluster):
    conn = handshake(cluster.port, 10)
    conn.open_connection()
    conn.open_channel(2)
    conn.send_method(2, 20, 10, shortstr(""))
    assert conn.connection_close() == (504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10)
    conn.close()


def test_channel_open_on_channel_0_is_504(cluster):
    conn = handshake(cluster.port, 10)
    conn.open_connection()
    conn.send_method(0, 20, 10, shortstr(""))
    assert conn.connection_close() == (504, "CHANNEL_ERROR - unexpected method in connection state running", 20, 10)
    conn.close()


def test_a_method_on_a_channel_never_opened_is_504(cluster):
    conn = handshake(cluster.port, 10)
    conn.open_connection()
    conn.send_method(9, 50, 10, struct.pack(">H", 0) + shortstr("q") + b"\x00" + struct.pack(">I", 0))  # queue.declare
    code, text, failing_class, failing_method = conn.connection_close()
    assert (code, text) == (504, "CHANNEL_ERROR - expected 'channel.open'")
    conn.close()


def test_aiormq_uses_channel_65535_as_its_own_tests_do(cluster):
    """aiormq's test_bad_channel: channel 65535 opens (RabbitMQ does not compare channel numbers
    with channel_max), and a bind on it to a missing exchange is a channel error 404."""
    script = """
import asyncio, sys, uuid
import aiormq
async def main(port):
    conn = await aiormq.connect(f"amqp://guest:guest@127.0.0.1:{port}/")
    channel = await conn.channel(65535)
    try:
        await channel.queue_bind(uuid.uuid4().hex, uuid.uuid4().hex)
    except aiormq.exceptions.ChannelNotFoundEntity:
        print("ok aiormq 65535")
    other = await conn.channel()
    await other.queue_declare("", exclusive=True)
    await conn.close()
asyncio.run(main(int(sys.argv[1])))
"""
    clients = os.path.join(os.path.dirname(os.path.dirname(HERE)), ".build-pyclients", "main")
    if not os.path.isdir(clients):
        pytest.fail("aiormq is not installed: run Deploy/install-deps.sh (it fills .build-pyclients/)")
    out = subprocess.run([sys.executable, "-c", script, str(cluster.port)], env=dict(os.environ, PYTHONPATH=clients),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok aiormq 65535" in out.stdout, out.stdout + out.stderr
