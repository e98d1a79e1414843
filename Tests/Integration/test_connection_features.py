"""Connection-level features: connection.update-secret (raw AMQP, pika has no call for it), the
server's advertised capabilities, and connection.blocked/unblocked on a disk alarm (pika)."""
import os
import shutil
import tempfile
import time
import uuid

from conftest import Cluster, children_of, free_port, needs_own_broker
from rawamqp import RawConnection, shortstr

GiB = 1 << 30


def test_update_secret_is_answered_with_update_secret_ok(cluster):
    conn = RawConnection(cluster.port)
    assert conn.update_secret("guest", "token refresh") == (10, 71, b"")
    conn.send_method(1, 20, 10, shortstr(""))  # channel.open still works
    assert conn.method()[:2] == (20, 11)
    conn.close()


def test_update_secret_with_a_wrong_secret_is_accepted_as_rabbitmq_does_for_internal_users(cluster):
    # RabbitMQ 3.10's internal (username/password) backend does not re-check the new secret:
    # update-secret-ok, and the connection carries on.
    conn = RawConnection(cluster.port)
    assert conn.update_secret("wrong", "token refresh") == (10, 71, b"")
    conn.send_method(1, 20, 10, shortstr(""))
    assert conn.method()[:2] == (20, 11)
    conn.close()


# --- capabilities ----------------------------------------------------------------------------

def test_server_advertises_rabbitmq_3_10_capabilities(cluster):
    conn = cluster.connect()
    capabilities = conn._impl.server_capabilities
    for name in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
                 "connection.blocked", "consumer_priorities", "authentication_failure_close",
                 "per_consumer_qos", "direct_reply_to"):
        assert capabilities.get(name) is True, name
    conn.close()


# --- connection.blocked / unblocked on a disk alarm ------------------------------------------
# RabbitMQ sends connection.blocked (reason "low on disk") to a connection only when it publishes
# while the alarm is on (a connection that published before the alarm is not blocked until it
# publishes again; one that only consumes is never blocked), stops reading from it, and sends
# connection.unblocked when the alarm clears. Validated against RabbitMQ 3.10 with
# disk_free_limit.absolute set 1 GiB below the free space of its data directory's filesystem.

def free_bytes_of(path):
    """Free space as df's "Available" (what RabbitMQ's disk monitor uses), not counting root's reserve."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def watched_connections(broker):
    """A publisher and a consumer connection, and the blocked/unblocked events each receives."""
    publisher, consumer = broker.connect(), broker.connect()
    events, consumer_events = [], []
    publisher.add_on_connection_blocked_callback(lambda c, frame: events.append(("blocked", frame.method.reason)))
    publisher.add_on_connection_unblocked_callback(lambda c, frame: events.append(("unblocked",)))
    consumer.add_on_connection_blocked_callback(lambda c, frame: consumer_events.append("blocked"))
    return publisher, consumer, events, consumer_events


def assert_disk_alarm_blocks_publishers_and_clears(broker, fill_dir, fill_bytes):
    q = f"disk-alarm-{uuid.uuid4().hex[:8]}"
    publisher, consumer, events, consumer_events = watched_connections(broker)
    ch = publisher.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"before")
    assert ch.queue_declare(q, passive=True).method.message_count == 1
    published = 1
    fill = os.path.join(fill_dir, f"fill-{uuid.uuid4().hex[:8]}")
    try:
        with open(fill, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, fill_bytes)
        deadline = time.time() + 15
        while time.time() < deadline and not events:
            ch.basic_publish("", q, b"during")
            published += 1
            publisher.process_data_events(time_limit=0.1)
        assert events == [("blocked", "low on disk")]
        # A connection that only consumes is not blocked and can still drain the queue.
        consumer_ch = consumer.channel()
        assert consumer_ch.basic_get(q, auto_ack=True)[2] == b"before"
        consumer.process_data_events(time_limit=0.2)
        assert consumer_events == []
    finally:
        os.remove(fill)
    deadline = time.time() + 15
    while time.time() < deadline and len(events) < 2:
        publisher.process_data_events(time_limit=0.1)
    assert events == [("blocked", "low on disk"), ("unblocked",)]
    ch.basic_publish("", q, b"after")
    published += 1
    assert ch.queue_declare(q, passive=True).method.message_count == published - 1  # all but "before"
    ch.queue_delete(q)
    publisher.close()
    consumer.close()


def test_disk_alarm_blocks_publishing_connections_and_unblocks_them_when_space_returns():
    needs_own_broker("--data-dir/--disk-free-limit", "disk_free_limit.absolute = free space - 1 GiB")
    data_dir = tempfile.mkdtemp(prefix="broker-disk-")
    broker = Cluster(workers=3, extra_args=["--data-dir", data_dir,
                                            "--disk-free-limit", str(free_bytes_of(data_dir) - GiB)])
    try:
        assert_disk_alarm_blocks_publishers_and_clears(broker, data_dir, 2 * GiB)
    finally:
        broker.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# --- connection.blocked / unblocked on the memory alarm ---------------------------------------
# RabbitMQ blocks publishers with reason "low on memory" above vm_memory_high_watermark. Ours
# compares the resident memory of the router and every worker together with
# --memory-high-watermark (bytes above 1); a transient queue is not paged out, so filling one
# raises the memory, and purging it lowers it again.

def cluster_rss(broker):
    total = 0
    for pid in children_of(broker.process.pid):
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except FileNotFoundError:
            pass
    return total


def alarms_check(port):
    """GET /api/health/checks/alarms as guest: (HTTP status, JSON body)."""
    import base64
    import json
    import urllib.error
    import urllib.request
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/health/checks/alarms",
                                     headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_memory_alarm_blocks_publishers_and_unblocks_them_when_memory_is_freed():
    needs_own_broker("--memory-high-watermark", "vm_memory_high_watermark.absolute")
    probe = Cluster(workers=2)
    try:
        baseline = cluster_rss(probe)
    finally:
        probe.stop()
    limit = baseline + 120 * 1024 * 1024
    telemetry = free_port()
    broker = Cluster(workers=2, extra_args=["--memory-high-watermark", str(limit), "--enable-telemetry",
                                            "--telemetry-port", str(telemetry)])
    try:
        assert alarms_check(telemetry) == (200, {"status": "ok"})
        q = f"memory-alarm-{uuid.uuid4().hex[:8]}"
        publisher, consumer, events, consumer_events = watched_connections(broker)
        ch = publisher.channel()
        ch.queue_declare(q)
        body = os.urandom(64 * 1024)
        deadline = time.time() + 60
        while time.time() < deadline and not events:
            # Small bursts: a blocked connection is not read, and pika waits until it can
            # write, so what it sends after the block must fit in the socket buffers.
            for _ in range(16):
                ch.basic_publish("", q, body)
            publisher.process_data_events(time_limit=0.05)
        assert events == [("blocked", "low on memory")], f"rss {cluster_rss(broker)} limit {limit}"
        assert "memory alarm set" in broker.log_text()
        # The management API's alarm check fails while it is in force, as RabbitMQ's does.
        status, body = alarms_check(telemetry)
        assert (status, body["status"], body["reason"]) == (503, "failed", "There are alarms in effect in the cluster")
        assert [alarm["resource"] for alarm in body["alarms"]] == ["memory"]
        # Consumers are not blocked: purging the queue from another connection frees the memory.
        consumer_ch = consumer.channel()
        consumer_ch.queue_purge(q)
        deadline = time.time() + 30
        while time.time() < deadline and len(events) < 2:
            publisher.process_data_events(time_limit=0.2)
        assert events == [("blocked", "low on memory"), ("unblocked",)], f"rss {cluster_rss(broker)} limit {limit}"
        assert consumer_events == []
        assert alarms_check(telemetry) == (200, {"status": "ok"})
        # Publishes sent while blocked waited in the socket; they and a new one now arrive.
        ch.basic_publish("", q, b"after")
        ch.queue_declare(q, passive=True)
        last = None
        while (got := consumer_ch.basic_get(q, auto_ack=True))[0] is not None:
            last = got[2]
        assert last == b"after"
        publisher.close()
        consumer.close()
    finally:
        broker.stop()
