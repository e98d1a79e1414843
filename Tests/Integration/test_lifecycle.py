"""Connection loss, bulk traffic, and the `cluster up` process lifecycle."""
import os
import socket
import subprocess
import tempfile
import time

import pytest
from pika.exceptions import ChannelClosedByBroker

from conftest import Cluster, alive, broker_binary, children_of


def test_disconnect_deletes_exclusive_queues_and_requeues_unacked(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare("excl-gone", exclusive=True)
    ch.queue_declare("shared-work", auto_delete=False)
    ch.queue_purge("shared-work")
    for i in range(3):
        ch.basic_publish("", "shared-work", str(i).encode())
    got = []
    ch.basic_consume("shared-work", lambda c, m, p, b: got.append(b))
    while len(got) < 3:
        conn.process_data_events(time_limit=0.1)
    conn.close()  # nothing acked

    other = cluster.connect()
    ch = other.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.queue_declare("excl-gone", passive=True)
    assert info.value.reply_code == 404
    ch = other.channel()
    back = []
    for _ in range(3):
        method, _, body = ch.basic_get("shared-work", auto_ack=True)
        assert method is not None and method.redelivered
        back.append(body)
    assert back == [b"0", b"1", b"2"]
    ch.queue_delete("shared-work")
    other.close()


def test_killed_client_socket_requeues_too(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare("abrupt", auto_delete=False)
    ch.queue_purge("abrupt")
    ch.basic_publish("", "abrupt", b"a")
    method, _, _ = ch.basic_get("abrupt")
    assert method is not None
    conn._impl._transport._sock.shutdown(socket.SHUT_RDWR)  # vanish without connection.close
    time.sleep(0.5)
    other = cluster.connect()
    ch = other.channel()
    for _ in range(50):
        method, _, body = ch.basic_get("abrupt", auto_ack=True)
        if method:
            break
        time.sleep(0.1)
    assert body == b"a" and method.redelivered
    ch.queue_delete("abrupt")
    other.close()


def test_ten_thousand_messages_through_eight_queues_complete_and_in_order(cluster):
    names = [f"bulk-{i}" for i in range(8)]
    assert len({cluster.partition_of(n) for n in names}) == cluster.workers  # spread over all workers
    conn = cluster.connect()
    ch = conn.channel()
    for name in names:
        ch.queue_declare(name, auto_delete=False)
        ch.queue_purge(name)
    ch.confirm_delivery()
    for i in range(10_000):
        ch.basic_publish("", names[i % 8], str(i).encode())
    received = {name: [] for name in names}
    cons = cluster.connect()
    cch = cons.channel()
    cch.basic_qos(prefetch_count=500)
    for name in names:
        cch.basic_consume(name, lambda c, m, p, b, name=name: (received[name].append(int(b)), c.basic_ack(m.delivery_tag)))
    deadline = time.time() + 60
    while sum(map(len, received.values())) < 10_000 and time.time() < deadline:
        cons.process_data_events(time_limit=0.2)
    for k, name in enumerate(names):
        assert received[name] == list(range(k, 10_000, 8)), name
    for name in names:
        cch.queue_delete(name)
    cons.close()
    conn.close()


def test_cluster_up_with_eight_workers_runs_nine_processes_and_sigterm_leaves_none():
    c = Cluster(workers=8)
    try:
        kids = children_of(c.process.pid)
        assert len(kids) == 9, kids
        conn = c.connect()
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"hello")
        assert ch.basic_get(q, auto_ack=True)[2] == b"hello"
        conn.close()
    finally:
        c.stop()
    assert c.process.returncode == 0
    time.sleep(0.5)
    assert [k for k in kids if alive(k)] == []


def test_port_in_use_is_a_one_line_error_and_leaves_no_process():
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    runtime = tempfile.mkdtemp(prefix="broker-test-")
    proc = subprocess.Popen([broker_binary(), "cluster", "up", "--workers", "2", "--port", str(port), "--host", "127.0.0.1",
                             "--runtime-dir", runtime], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=60)
    blocker.close()
    assert proc.returncode != 0
    error_lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert error_lines == [f"error: port {port} on 127.0.0.1 is already in use"], err
    time.sleep(0.5)
    assert children_of(proc.pid) == []
    # No worker of this run is left: nothing has its runtime dir on the command line.
    leftovers = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if runtime.encode() in f.read():
                        leftovers.append(entry)
            except OSError:
                pass
    assert leftovers == []


@pytest.mark.parametrize("command", [["cluster", "up", "--workers", "1"], ["router", "--partitions", "1", "--runtime-dir", "/nonexistent"],
                                     ["worker", "--partition", "0", "--partitions", "1", "--runtime-dir", "/nonexistent"]],
                         ids=["cluster-up", "router", "worker"])
def test_an_unknown_log_level_is_an_error_at_start_up(command):
    proc = subprocess.run([broker_binary(), *command, "--log-level", "verbose"], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    # cluster up says it on stderr; a router or worker on its first line of stdout, where
    # cluster up (or the operator) reads why it did not start.
    assert ("flag --log-level: 'log_level' must be one of trace, debug, info, notice, warning, error, critical, got 'verbose'"
            in proc.stdout + proc.stderr), (proc.stdout, proc.stderr)
