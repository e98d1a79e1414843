"""Security (issue 17), first part: guest may log in only from this host, as with RabbitMQ's
default `loopback_users`; the refusal tells the client no more than RabbitMQ does, and the
log says why."""
import socket
import subprocess
import time

import pika
import pytest

from conftest import Cluster, needs_own_broker, wait_for

REFUSED = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."


def non_loopback_address():
    """An IPv4 address of this host that is not 127.x (the client then connects from it)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for address in out:
        try:
            socket.inet_aton(address)
        except OSError:
            continue
        if not address.startswith("127."):
            return address
    pytest.fail("this test needs a non-loopback IPv4 address on this host (e.g. `ip addr add 192.0.2.99/32 dev lo`)")


def login(port, host, user, password):
    params = pika.ConnectionParameters(host=host, port=port, credentials=pika.PlainCredentials(user, password),
                                       connection_attempts=1)
    pika.BlockingConnection(params).close()


def test_guest_logs_in_only_from_this_host_other_users_from_anywhere():
    needs_own_broker("--host 0.0.0.0", "RabbitMQ's loopback_users")
    address = non_loopback_address()
    c = Cluster(1, extra_args=["--host", "0.0.0.0", "--user", "guest:guest:administrator", "--user", "app:secret"])
    try:
        login(c.port, "127.0.0.1", "guest", "guest")
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as refused:
            login(c.port, address, "guest", "guest")
        assert REFUSED in str(refused.value)
        login(c.port, address, "app", "secret")
        assert wait_for(lambda: "user 'guest' can only connect via localhost" in c.log_text(), 5), c.log_text()[-2000:]
        # A failed login is logged with the user and the reason, never the password tried.
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            login(c.port, address, "app", "Tr0ub4dor-guess")
        assert wait_for(lambda: "reason=wrong user name or password" in c.log_text(), 5)
        assert "Tr0ub4dor-guess" not in c.log_text()
    finally:
        c.stop()


def test_loopback_users_none_lets_guest_in_from_anywhere():
    needs_own_broker("--loopback-user none", "RabbitMQ's loopback_users = none")
    address = non_loopback_address()
    c = Cluster(1, extra_args=["--host", "0.0.0.0", "--loopback-user", "none"])
    try:
        login(c.port, address, "guest", "guest")
    finally:
        c.stop()


def test_a_body_of_exactly_the_maximum_size_passes_and_one_byte_more_closes_the_channel_with_406():
    needs_own_broker("--max-message-size", "RabbitMQ's max_message_size")
    limit = 1 << 20
    c = Cluster(2, extra_args=["--max-message-size", str(limit)])
    try:
        conn = c.connect()
        ch = conn.channel()
        queue = ch.queue_declare("", exclusive=True).method.queue
        ch.confirm_delivery()
        body = bytes(range(256)) * (limit // 256)
        ch.basic_publish("", queue, body)
        method, _, got = ch.basic_get(queue, auto_ack=True)
        assert got == body
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            ch.basic_publish("", queue, body + b"!")
        assert closed.value.reply_code == 406
        assert closed.value.reply_text == f"PRECONDITION_FAILED - message size {limit + 1} is larger than configured max size {limit}"
        assert conn.is_open  # a channel error, not a connection error
        conn.channel().queue_declare(queue, passive=True)
        conn.close()
    finally:
        c.stop()


def test_the_maximum_message_size_is_checked_at_start_up(tmp_path):
    from conftest import broker_binary
    result = subprocess.run([broker_binary(), "cluster", "up", "--workers", "1", "--runtime-dir", str(tmp_path),
                             "--max-message-size", str(300 << 20)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"'max_message_size' must be an integer from 1 to {255 << 20}, got '{300 << 20}'" in result.stderr, result.stderr


PEER_PROBE = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    data = s.recv(65536)
except OSError:  # reset or broken pipe: closed by the worker
    data = b""
print("closed" if data == b"" else "served")
"""


def test_a_worker_links_only_with_processes_of_the_brokers_own_user():
    """Defence in depth: even with the runtime directory and a worker's socket opened to
    everyone, a process of another user is disconnected at once (SO_PEERCRED)."""
    needs_own_broker("worker sockets", "the link's peer check")
    import os
    import sys
    if os.getuid() != 0:
        pytest.fail("this test runs a probe as the user nobody: run the tests as root")
    c = Cluster(1)
    try:
        socket_path = os.path.join(c.runtime_dir, "worker-0.sock")
        os.chmod(c.runtime_dir, 0o777)
        os.chmod(socket_path, 0o666)
        own = subprocess.run([sys.executable, "-c", PEER_PROBE, socket_path], capture_output=True, text=True, timeout=30)
        assert own.stdout.strip() == "served", own.stdout + own.stderr
        # The system's Python: the user nobody cannot read a Python installed under /root.
        other = subprocess.run(["/usr/bin/python3", "-c", PEER_PROBE, socket_path], capture_output=True, text=True,
                               timeout=30, user=65534, group=65534)
        assert other.stdout.strip() == "closed", other.stdout + other.stderr
        assert wait_for(lambda: "refused a link connection from another user" in c.log_text(), 5)
        assert "uid=65534" in c.log_text()
        conn = c.connect()  # the router's own links are unaffected
        conn.channel().queue_declare("", exclusive=True)
        conn.close()
    finally:
        c.stop()


def test_the_telemetry_endpoint_listens_on_loopback_unless_configured():
    needs_own_broker("--enable-telemetry", "nothing: the endpoint's address is the broker's own setting")
    import urllib.request
    from conftest import free_port
    address = non_loopback_address()
    for extra, reachable_from_outside in (([], False), (["--telemetry-host", "0.0.0.0"], True)):
        port = free_port()
        c = Cluster(1, extra_args=["--host", "0.0.0.0", "--enable-telemetry", "--telemetry-port", str(port), *extra])
        try:
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).status == 200
            try:
                urllib.request.urlopen(f"http://{address}:{port}/health", timeout=10)
                reached = True
            except OSError:
                reached = False
            assert reached == reachable_from_outside, (extra, reached)
        finally:
            c.stop()


def test_a_failed_login_is_answered_only_after_a_second():
    needs_own_broker("the failed-login delay", "nothing: RabbitMQ answers at once")
    c = Cluster(1)
    try:
        started = time.time()
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            login(c.port, "127.0.0.1", "guest", "not-the-password")
        assert time.time() - started >= 1.0
        started = time.time()
        login(c.port, "127.0.0.1", "guest", "guest")
        assert time.time() - started < 1.0  # a good login is not slowed
    finally:
        c.stop()


def test_connections_beyond_connection_max_are_closed_at_once_and_others_keep_working():
    needs_own_broker("--connection-max", "RabbitMQ's connection_max")
    c = Cluster(1, extra_args=["--connection-max", "3"])
    try:
        kept = [c.connect() for _ in range(3)]
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            c.connect(connection_attempts=1)
        assert wait_for(lambda: "connection_max (3) reached" in c.log_text(), 5)
        for conn in kept:
            conn.channel().queue_declare("", exclusive=True)
        kept.pop().close()
        assert wait_for(lambda: _connects(c), 5)  # room again once one closes
        for conn in kept:
            conn.close()
    finally:
        c.stop()


def _connects(cluster):
    try:
        cluster.connect(connection_attempts=1).close()
        return True
    except pika.exceptions.AMQPConnectionError:
        return False


def test_guest_may_not_use_the_management_api_from_another_host():
    needs_own_broker("--enable-telemetry", "RabbitMQ's loopback_users on the management API")
    import base64
    import json
    import urllib.error
    import urllib.request
    from conftest import free_port
    address = non_loopback_address()
    port = free_port()
    c = Cluster(1, extra_args=["--enable-telemetry", "--telemetry-port", str(port), "--telemetry-host", "0.0.0.0"])
    try:
        def get(host):
            request = urllib.request.Request(f"http://{host}:{port}/api/whoami")
            request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
            return urllib.request.urlopen(request, timeout=10)
        assert json.load(get("127.0.0.1"))["name"] == "guest"
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(address)
        assert refused.value.code == 401
        assert json.load(refused.value) == {"error": "not_authorised", "reason": "User can only log in via localhost"}
    finally:
        c.stop()
