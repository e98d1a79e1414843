"""The management HTTP API (issue 6), modelled on RabbitMQ's rabbitmq_management: RabbitMQ's
paths, status codes and field names, driven with urllib, with pika as the AMQP client and with
RabbitMQ's own rabbitmqadmin (vendored in clients/rabbitmqadmin) for list/declare/delete.

Against RabbitMQ (BROKER_EXTERNAL_PORT=5699 BROKER_EXTERNAL_MANAGEMENT_PORT=15699, guest plus
a `watcher` user with password `pw` and the monitoring tag) the tests that do not depend on
the broker's own options or fields run unchanged; RabbitMQ updates its statistics every 5 s,
hence the polling."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pika
import pytest

from conftest import EXTERNAL_PORT, Cluster, free_port, needs_own_broker, queues_on_distinct_partitions, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
RABBITMQADMIN = os.path.join(HERE, "clients", "rabbitmqadmin", "rabbitmqadmin")
GUEST = ("guest", "guest")


def start(extra=()):
    port = free_port()
    cluster = Cluster(workers=3, extra_args=["--enable-telemetry", "--telemetry-port", str(port), "--user",
                                             "guest:guest:administrator", "--user", "watcher:pw:monitoring", *extra])
    if EXTERNAL_PORT:
        port = int(os.environ.get("BROKER_EXTERNAL_MANAGEMENT_PORT") or pytest.skip("BROKER_EXTERNAL_MANAGEMENT_PORT not set"))
    cluster.management_port = port
    cluster.api = f"http://127.0.0.1:{port}/api"
    return cluster


@pytest.fixture(scope="module")
def mgmt():
    cluster = start()
    yield cluster
    cluster.stop()


def q(name):
    return urllib.parse.quote(name, safe="")


def call(cluster, method, path, body=None, auth=GUEST, headers=None):
    """(status, parsed JSON body or None, response headers)."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(cluster.api + path, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, text, headers = response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        status, text, headers = error.code, error.read().decode(), error.headers
    return status, (json.loads(text) if text else None), headers


def get(cluster, path, **kw):
    status, body, _ = call(cluster, "GET", path, **kw)
    assert status == 200, (path, status, body)
    return body


def forget(cluster, queues=(), exchanges=()):
    """Deletes what an earlier, interrupted run may have left (on an external broker)."""
    for name in queues:
        call(cluster, "DELETE", f"/queues/%2F/{q(name)}")
    for name in exchanges:
        call(cluster, "DELETE", f"/exchanges/%2F/{q(name)}")


def names(items):
    return {item["name"] for item in items}


def test_credentials_are_required_and_changes_need_the_administrator_tag(mgmt):
    status, body, headers = call(mgmt, "GET", "/overview", auth=None)
    assert status == 401
    assert "Basic" in headers.get("WWW-Authenticate", "")
    assert call(mgmt, "GET", "/overview", auth=("guest", "wrong"))[0] == 401
    assert call(mgmt, "GET", "/overview", auth=("nobody", "guest"))[0] == 401
    # A monitoring user reads, but the definitions (and users) are for administrators only.
    assert call(mgmt, "GET", "/queues", auth=("watcher", "pw"))[0] == 200
    assert get(mgmt, "/whoami", auth=("watcher", "pw")) == {"name": "watcher", "tags": ["monitoring"]}
    assert call(mgmt, "GET", "/definitions", auth=("watcher", "pw"))[:2] == \
        (401, {"error": "not_authorised", "reason": "Not administrator user"})
    # As RabbitMQ, a monitoring user with permissions in the vhost (watcher has .* on "/") may
    # declare and delete there; definitions, users and closing connections are for administrators.
    for method, path, body in [("POST", "/definitions", {}), ("PUT", "/vhosts/watched", None),
                               ("PUT", "/users/watched", {"password": "x"})]:
        assert call(mgmt, method, path, body, auth=("watcher", "pw"))[:2] == \
            (401, {"error": "not_authorised", "reason": "Not administrator user"}), (method, path)
    assert call(mgmt, "DELETE", "/connections/anything", auth=("watcher", "pw"))[0] == 404  # only its own
    forget(mgmt, queues=["watched"], exchanges=["watched"])
    assert call(mgmt, "PUT", "/queues/%2F/watched", {"durable": True}, auth=("watcher", "pw"))[0] == 201
    assert call(mgmt, "PUT", "/exchanges/%2F/watched", {"type": "direct"}, auth=("watcher", "pw"))[0] == 201
    assert call(mgmt, "DELETE", "/queues/%2F/watched", auth=("watcher", "pw"))[0] == 204
    assert call(mgmt, "DELETE", "/exchanges/%2F/watched", auth=("watcher", "pw"))[0] == 204


def test_queues_are_declared_listed_purged_and_deleted_on_their_own_workers(mgmt):
    queues = queues_on_distinct_partitions("mgmt-queue", 3, 3)
    forget(mgmt, queues)
    for name in queues:
        status, body, _ = call(mgmt, "PUT", f"/queues/%2F/{q(name)}",
                               {"durable": True, "auto_delete": False, "arguments": {"x-max-length": 100, "x-note": "hi"}})
        assert (status, body) == (201, None)
        # Declaring it again the same way is fine; differently is RabbitMQ's 400.
        assert call(mgmt, "PUT", f"/queues/%2F/{q(name)}", {"durable": "true", "arguments": {"x-max-length": 100, "x-note": "hi"}})[0] == 204
    status, body, _ = call(mgmt, "PUT", f"/queues/%2F/{q(queues[0])}", {"durable": False, "arguments": {"x-max-length": 100, "x-note": "hi"}})
    assert (status, body) == (400, {"error": "bad_request",
                                    "reason": f"inequivalent arg 'durable' for queue '{queues[0]}' in vhost '/': received 'false' but current is 'true'"})
    assert call(mgmt, "PUT", "/queues/%2F/amq.reserved", {})[0] == 401
    assert call(mgmt, "PUT", "/queues/no-such-vhost/x", {})[:2] == (404, {"error": "not_found", "reason": "vhost_not_found"})

    def listed_queues():
        return {item["name"]: item for item in get(mgmt, "/queues") if item["name"] in queues}
    # RabbitMQ adds a queue's figures with its first statistics event.
    assert wait_for(lambda: set(listed_queues()) == set(queues) and all("state" in x for x in listed_queues().values()))
    listed = listed_queues()
    assert listed == {item["name"]: item for item in get(mgmt, "/queues/%2F") if item["name"] in queues}
    for name in queues:
        item = listed[name]
        assert {k: item[k] for k in ("vhost", "durable", "auto_delete", "exclusive", "arguments", "state", "type")} == {
            "vhost": "/", "durable": True, "auto_delete": False, "exclusive": False,
            "arguments": {"x-max-length": 100, "x-note": "hi"}, "state": "running", "type": "classic"}
        if not EXTERNAL_PORT:
            assert item["partition"] == mgmt.partition_of(name)

    # A queue declared through the API is a queue like any other for pika.
    conn = mgmt.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    for i, name in enumerate(queues):
        for n in range(i + 1):
            ch.basic_publish("", name, b"via-api-%d" % n)
    assert ch.basic_get(queues[2], auto_ack=True)[2] == b"via-api-0"
    expected = {queues[0]: 1, queues[1]: 2, queues[2]: 2}
    assert wait_for(lambda: all(get(mgmt, f"/queues/%2F/{q(n)}").get("messages") == m for n, m in expected.items()))
    shown = get(mgmt, f"/queues/%2F/{q(queues[1])}")
    assert (shown["messages_ready"], shown["messages_unacknowledged"], shown["consumers"]) == (2, 0, 0)
    assert call(mgmt, "GET", "/queues/%2F/mgmt-no-such-queue")[:2] == (404, {"error": "Object Not Found", "reason": "Not Found"})

    # if-empty refuses a queue with messages (RabbitMQ's text); purge empties it.
    status, body, _ = call(mgmt, "DELETE", f"/queues/%2F/{q(queues[1])}?if-empty=true")
    assert (status, body) == (400, {"error": "bad_request", "reason": f"queue '{queues[1]}' in vhost '/' not empty"})
    assert call(mgmt, "DELETE", f"/queues/%2F/{q(queues[1])}/contents")[0] == 204
    assert wait_for(lambda: get(mgmt, f"/queues/%2F/{q(queues[1])}").get("messages") == 0)
    for name in queues:
        assert call(mgmt, "DELETE", f"/queues/%2F/{q(name)}")[0] == 204
        assert call(mgmt, "GET", f"/queues/%2F/{q(name)}")[0] == 404
        assert call(mgmt, "DELETE", f"/queues/%2F/{q(name)}")[0] == 404
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        ch.queue_declare(queues[0], passive=True)
    assert closed.value.reply_code == 404
    conn.close()


def test_deleting_a_queue_with_a_consumer_honours_if_unused_and_cancels_the_consumer(mgmt):
    name = "mgmt-consumed"
    forget(mgmt, [name])
    assert call(mgmt, "PUT", f"/queues/%2F/{name}", {"durable": False})[0] == 201
    conn = mgmt.connect()
    ch = conn.channel()
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    ch.basic_consume(name, lambda *a: None, consumer_tag="mgmt-doomed")
    assert wait_for(lambda: get(mgmt, f"/queues/%2F/{name}").get("consumers") == 1)
    status, body, _ = call(mgmt, "DELETE", f"/queues/%2F/{name}?if-unused=true")
    assert (status, body) == (400, {"error": "bad_request", "reason": f"queue '{name}' in vhost '/' in use"})
    assert call(mgmt, "DELETE", f"/queues/%2F/{name}")[0] == 204
    deadline = time.time() + 10
    while not cancelled and time.time() < deadline:
        conn.process_data_events(0.1)
    assert cancelled == ["mgmt-doomed"]
    conn.close()


def test_exchanges_and_bindings_are_declared_used_and_deleted(mgmt):
    qa, qb = queues_on_distinct_partitions("mgmt-bound", 3, 2)
    forget(mgmt, [qa, qb], ["mgmt.topic", "mgmt.fan"])
    for name in (qa, qb):
        assert call(mgmt, "PUT", f"/queues/%2F/{q(name)}", {"durable": True})[0] == 201
    assert call(mgmt, "PUT", "/exchanges/%2F/mgmt.topic", {"type": "topic", "durable": True, "auto_delete": False,
                                                           "internal": False, "arguments": {}})[0] == 201
    assert call(mgmt, "PUT", "/exchanges/%2F/mgmt.topic", {"type": "topic", "durable": True})[0] == 204
    status, body, _ = call(mgmt, "PUT", "/exchanges/%2F/mgmt.topic", {"type": "fanout", "durable": True})
    assert (status, body) == (400, {"error": "bad_request", "reason":
                                    "inequivalent arg 'type' for exchange 'mgmt.topic' in vhost '/': received 'fanout' but current is 'topic'"})
    assert call(mgmt, "PUT", "/exchanges/%2F/mgmt.fan", {"type": "fanout", "durable": "false"})[0] == 201
    assert call(mgmt, "PUT", "/exchanges/%2F/mgmt.bad", {"type": "nonsense"})[:2] == \
        (400, {"error": "bad_request", "reason": "unknown exchange type 'nonsense'"})
    assert call(mgmt, "PUT", "/exchanges/%2F/amq.mine", {"type": "direct"})[0] == 401
    assert call(mgmt, "DELETE", "/exchanges/%2F/amq.direct")[0] == 401
    assert get(mgmt, "/exchanges/%2F/mgmt.topic") == {
        **get(mgmt, "/exchanges/%2F/mgmt.topic"), "name": "mgmt.topic", "vhost": "/", "type": "topic",
        "durable": True, "auto_delete": False, "internal": False, "arguments": {}}
    exchanges = get(mgmt, "/exchanges")
    assert {"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "mgmt.topic", "mgmt.fan"} <= names(exchanges)
    assert get(mgmt, "/exchanges/%2F/amq.default")["name"] == ""

    status, body, headers = call(mgmt, "POST", f"/bindings/%2F/e/mgmt.topic/q/{q(qa)}", {"routing_key": "a.#", "arguments": {}})
    assert status == 201 and headers["Location"] == f"{qa}/a.%2523"  # the properties_key, escaped again, as RabbitMQ
    assert call(mgmt, "POST", "/bindings/%2F/e/mgmt.topic/e/mgmt.fan", {"routing_key": "b.*"})[0] == 201
    assert call(mgmt, "POST", f"/bindings/%2F/e/mgmt.fan/q/{q(qb)}", {"routing_key": "", "arguments": {"x-any": "x"}})[0] == 201
    assert call(mgmt, "POST", "/bindings/%2F/e/mgmt.topic/q/mgmt-no-such-queue", {"routing_key": "x"})[:2] == \
        (404, {"error": "not_found", "reason": "no queue 'mgmt-no-such-queue' in vhost '/'"})
    assert call(mgmt, "POST", "/bindings/%2F/e/mgmt.nowhere/q/" + q(qa), {"routing_key": "x"})[:2] == \
        (404, {"error": "not_found", "reason": "no exchange 'mgmt.nowhere' in vhost '/'"})
    assert call(mgmt, "POST", "/bindings/%2F/e/amq.default/q/" + q(qa), {"routing_key": "x"})[0] == 401

    bindings = get(mgmt, "/bindings")
    assert bindings == get(mgmt, "/bindings/%2F")
    mine = [b for b in bindings if b["destination"] in (qa, qb, "mgmt.fan")]
    assert {"source": "", "vhost": "/", "destination": qa, "destination_type": "queue", "routing_key": qa,
            "arguments": {}, "properties_key": qa} in mine  # RabbitMQ's implicit default-exchange binding
    assert {"source": "mgmt.topic", "vhost": "/", "destination": qa, "destination_type": "queue", "routing_key": "a.#",
            "arguments": {}, "properties_key": "a.%23"} in mine
    assert {"source": "mgmt.topic", "vhost": "/", "destination": "mgmt.fan", "destination_type": "exchange",
            "routing_key": "b.*", "arguments": {}, "properties_key": "b.%2A"} in mine
    with_args = next(b for b in mine if b["source"] == "mgmt.fan")
    assert with_args["arguments"] == {"x-any": "x"} and with_args["properties_key"].startswith("~")
    assert [b["source"] for b in get(mgmt, f"/queues/%2F/{q(qa)}/bindings")] == ["", "mgmt.topic"]
    assert len(get(mgmt, f"/bindings/%2F/e/mgmt.topic/q/{q(qa)}")) == 1
    assert get(mgmt, f"/bindings/%2F/e/mgmt.topic/q/{q(qa)}/{q('a.%23')}")["routing_key"] == "a.#"
    assert {b["destination"] for b in get(mgmt, "/exchanges/%2F/mgmt.topic/bindings/source")} == {qa, "mgmt.fan"}
    assert [b["source"] for b in get(mgmt, "/exchanges/%2F/mgmt.fan/bindings/destination")] == ["mgmt.topic"]

    # The API's objects route pika's publishes: a.# to qa, b.* through mgmt.fan to qb.
    conn = mgmt.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("mgmt.topic", "a.1", b"to-a")
    ch.basic_publish("mgmt.topic", "b.1", b"to-b")
    assert ch.basic_get(qa, auto_ack=True)[2] == b"to-a"
    assert ch.basic_get(qb, auto_ack=True)[2] == b"to-b"

    # Deleting by properties_key, as rabbitmqadmin does.
    key = with_args["properties_key"]
    assert call(mgmt, "DELETE", f"/bindings/%2F/e/mgmt.fan/q/{q(qb)}/{q(key)}")[0] == 204
    assert call(mgmt, "DELETE", f"/bindings/%2F/e/mgmt.fan/q/{q(qb)}/{q(key)}")[0] == 404
    assert call(mgmt, "DELETE", f"/bindings/%2F/e/mgmt.topic/q/{q(qa)}/{q('a.%23')}")[0] == 204
    ch.basic_publish("mgmt.topic", "a.2", b"dropped")
    ch.basic_publish("mgmt.topic", "b.2", b"dropped")
    assert ch.basic_get(qa)[0] is None and ch.basic_get(qb)[0] is None
    assert call(mgmt, "DELETE", "/exchanges/%2F/mgmt.topic?if-unused=true")[:2] == \
        (400, {"error": "bad_request", "reason": "exchange 'mgmt.topic' in vhost '/' in use"})
    for exchange in ("mgmt.topic", "mgmt.fan"):
        assert call(mgmt, "DELETE", f"/exchanges/%2F/{exchange}")[0] == 204
        assert call(mgmt, "GET", f"/exchanges/%2F/{exchange}")[0] == 404
    for name in (qa, qb):
        assert call(mgmt, "DELETE", f"/queues/%2F/{q(name)}")[0] == 204
    conn.close()


def test_overview_counts_add_up_after_a_pika_workload(mgmt):
    queues = queues_on_distinct_partitions("mgmt-overview", 3, 3)
    forget(mgmt, queues)
    conn = mgmt.connect()
    ch = conn.channel()
    for name in queues:
        ch.queue_declare(name)
    if EXTERNAL_PORT:
        time.sleep(11)  # RabbitMQ's statistics of the earlier tests settle (emitted every 5 s)
    before = get(mgmt, "/overview")
    ch.confirm_delivery()
    published, got = 30, 7
    for i in range(published):
        ch.basic_publish("", queues[i % 3], b"overview-%d" % i)
    for i in range(got):
        method, _, _ = ch.basic_get(queues[i % 3])
        ch.basic_ack(method.delivery_tag)
    ch.queue_declare(queues[0], passive=True)  # a round trip: the acks have reached the workers

    def delta(after, section, field):
        return after[section].get(field, 0) - before[section].get(field, 0)

    def deltas():
        after = get(mgmt, "/overview")
        return (delta(after, "message_stats", "publish"), delta(after, "message_stats", "confirm"),
                delta(after, "message_stats", "deliver_get"), delta(after, "message_stats", "ack"),
                delta(after, "queue_totals", "messages"))
    assert wait_for(lambda: deltas() == (published, published, got, got, published - got), timeout=30), deltas()
    after = get(mgmt, "/overview")
    assert after["queue_totals"]["messages_ready"] == after["queue_totals"]["messages"]
    assert after["object_totals"]["queues"] == len(get(mgmt, "/queues"))
    assert after["object_totals"]["exchanges"] == len(get(mgmt, "/exchanges"))
    assert after["object_totals"]["connections"] >= 1 and after["object_totals"]["channels"] >= 1
    assert after["rabbitmq_version"].startswith("3.") and after["management_version"]
    assert {"publish_details", "deliver_get_details", "ack_details", "confirm_details"} <= set(after["message_stats"])
    for name in queues:
        assert get(mgmt, f"/queues/%2F/{q(name)}")["messages"] == published // 3 - (got // 3 + (1 if queues.index(name) < got % 3 else 0))
    if not EXTERNAL_PORT:
        assert after["product_name"] == "broker"
        assert {(l["protocol"], l["port"]) for l in after["listeners"]} == {("amqp", mgmt.port), ("http", mgmt.management_port)}
        # Rates are messages per second between two samples at least a second apart.
        get(mgmt, "/overview")
        for i in range(50):
            ch.basic_publish("", queues[0], b"rate")
        time.sleep(1.2)
        rates = get(mgmt, "/overview")["message_stats"]
        assert 10 < rates["publish_details"]["rate"] <= 50 / 1.2 + 1
        nodes = get(mgmt, "/nodes")
        assert len(nodes) == 1 and nodes[0]["running"] and nodes[0]["type"] == "disc"
        assert nodes[0]["partitions"] == []
        assert [w["partition"] for w in nodes[0]["workers"]] == [0, 1, 2]
        assert nodes[0]["mem_used"] == nodes[0]["router"]["mem_used"] + sum(w["mem_used"] for w in nodes[0]["workers"])
    for name in queues:
        ch.queue_delete(name)
    conn.close()


def test_connections_channels_and_consumers_show_a_live_consumer_and_a_connection_can_be_closed(mgmt):
    name = "mgmt-consumer-queue"
    forget(mgmt, [name])
    conn = mgmt.connect(client_properties={"connection_name": "mgmt-test-connection"})
    ch = conn.channel()
    ch.queue_declare(name, auto_delete=False)
    ch.basic_qos(prefetch_count=5)
    ch.basic_consume(name, lambda *a: None, consumer_tag="mgmt-ctag", arguments={"x-priority": 2})
    ch.confirm_delivery()
    for i in range(3):
        ch.basic_publish("", name, b"held-%d" % i)
    conn.process_data_events(0.5)
    local_port = conn._impl._transport._sock.getsockname()[1]

    def ours():
        return [c for c in get(mgmt, "/connections")
                if c.get("client_properties", {}).get("connection_name") == "mgmt-test-connection"]
    assert wait_for(lambda: len(ours()) == 1 and ours()[0].get("channels") == 1)
    c = ours()[0]
    assert c["name"] == f"127.0.0.1:{local_port} -> 127.0.0.1:{mgmt.port}"
    assert {k: c[k] for k in ("user", "vhost", "state", "protocol", "peer_host", "peer_port", "host", "port", "channels")} == {
        "user": "guest", "vhost": "/", "state": "running", "protocol": "AMQP 0-9-1", "peer_host": "127.0.0.1",
        "peer_port": local_port, "host": "127.0.0.1", "port": mgmt.port, "channels": 1}
    assert c["client_properties"]["product"] == "Pika Python Client Library"
    assert c["client_properties"]["capabilities"]["publisher_confirms"] is True
    assert abs(c["connected_at"] / 1000 - time.time()) < 120
    assert get(mgmt, f"/connections/{q(c['name'])}")["name"] == c["name"]

    channel_name = f"{c['name']} (1)"

    def our_channel():
        return next((x for x in get(mgmt, "/channels") if x["name"] == channel_name), None)
    assert wait_for(lambda: our_channel() is not None and our_channel()["messages_unacknowledged"] == 3)
    channel = our_channel()
    assert {k: channel[k] for k in ("number", "user", "vhost", "consumer_count", "messages_unacknowledged",
                                    "prefetch_count", "global_prefetch_count", "confirm", "transactional")} == {
        "number": 1, "user": "guest", "vhost": "/", "consumer_count": 1, "messages_unacknowledged": 3,
        "prefetch_count": 5, "global_prefetch_count": 0, "confirm": True, "transactional": False}
    assert channel["connection_details"] == {"name": c["name"], "peer_host": "127.0.0.1", "peer_port": local_port}

    consumers = [x for x in get(mgmt, "/consumers") if x["consumer_tag"] == "mgmt-ctag"]
    assert consumers == [x for x in get(mgmt, "/consumers/%2F") if x["consumer_tag"] == "mgmt-ctag"]
    assert len(consumers) == 1
    consumer = consumers[0]
    assert {k: consumer[k] for k in ("queue", "ack_required", "prefetch_count", "exclusive", "arguments")} == {
        "queue": {"name": name, "vhost": "/"}, "ack_required": True, "prefetch_count": 5, "exclusive": False,
        "arguments": {"x-priority": 2}}
    assert {k: consumer["channel_details"][k] for k in ("name", "number", "connection_name", "peer_port", "user")} == {
        "name": channel_name, "number": 1, "connection_name": c["name"], "peer_port": local_port, "user": "guest"}
    assert [x["consumer_tag"] for x in get(mgmt, f"/queues/%2F/{name}")["consumer_details"]] == ["mgmt-ctag"]

    # Closing it through the API: the client sees 320 with RabbitMQ's text.
    assert call(mgmt, "DELETE", f"/connections/{q(c['name'])}")[0] == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        deadline = time.time() + 10
        while time.time() < deadline:
            conn.process_data_events(0.2)
    assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - Closed via management plugin")
    assert wait_for(lambda: ours() == [])
    assert call(mgmt, "DELETE", f"/connections/{q(c['name'])}")[0] == 404
    assert wait_for(lambda: get(mgmt, f"/queues/%2F/{name}").get("messages_ready") == 3)
    assert call(mgmt, "DELETE", f"/queues/%2F/{name}")[0] == 204


def test_definitions_exported_from_one_cluster_recreate_its_topology_in_a_fresh_one(mgmt):
    needs_own_broker("a second, fresh cluster", "the same export/import between two RabbitMQ nodes")
    qa, qb = queues_on_distinct_partitions("mgmt-defs", 3, 2)
    assert call(mgmt, "PUT", f"/queues/%2F/{q(qa)}", {"durable": True, "arguments": {"x-max-length": 9, "x-message-ttl": 60000}})[0] == 201
    assert call(mgmt, "PUT", f"/queues/%2F/{q(qb)}", {"durable": True, "auto_delete": False})[0] == 201
    assert call(mgmt, "PUT", "/exchanges/%2F/mgmt.defs", {"type": "direct", "durable": True})[0] == 201
    assert call(mgmt, "PUT", "/exchanges/%2F/mgmt.defs.alt", {"type": "fanout", "durable": True,
                                                              "arguments": {"alternate-exchange": "amq.fanout"}})[0] == 201
    assert call(mgmt, "POST", f"/bindings/%2F/e/mgmt.defs/q/{q(qa)}", {"routing_key": "ka"})[0] == 201
    assert call(mgmt, "POST", "/bindings/%2F/e/mgmt.defs/e/mgmt.defs.alt", {"routing_key": "kb"})[0] == 201
    assert call(mgmt, "POST", f"/bindings/%2F/e/mgmt.defs.alt/q/{q(qb)}", {"routing_key": "", "arguments": {"x": 1}})[0] == 201
    conn = mgmt.connect()
    conn.channel().queue_declare("", exclusive=True)  # exclusive queues are not exported
    exported = get(mgmt, "/definitions")
    conn.close()
    assert exported["rabbitmq_version"] and exported["vhosts"] == [{"name": "/"}]
    assert {"guest", "watcher"} == names(exported["users"])
    assert not [x for x in exported["queues"] if x["name"].startswith("amq.gen-")]
    assert not [x for x in exported["exchanges"] if x["name"] == "" or x["name"].startswith("amq.")]
    mine = {
        "queues": sorted((x for x in exported["queues"] if x["name"] in (qa, qb)), key=lambda x: x["name"]),
        "exchanges": sorted((x for x in exported["exchanges"] if x["name"].startswith("mgmt.defs")), key=lambda x: x["name"]),
        "bindings": sorted((x for x in exported["bindings"] if x["source"].startswith("mgmt.defs")), key=json.dumps),
    }
    assert len(mine["queues"]) == 2 and len(mine["exchanges"]) == 2 and len(mine["bindings"]) == 3
    assert next(x for x in mine["queues"] if x["name"] == qa)["arguments"] == {"x-max-length": 9, "x-message-ttl": 60000}

    fresh = start()
    try:
        assert call(fresh, "POST", "/definitions", exported)[0] == 204
        imported = get(fresh, "/definitions")
        assert {
            "queues": sorted((x for x in imported["queues"] if x["name"] in (qa, qb)), key=lambda x: x["name"]),
            "exchanges": sorted((x for x in imported["exchanges"] if x["name"].startswith("mgmt.defs")), key=lambda x: x["name"]),
            "bindings": sorted((x for x in imported["bindings"] if x["source"].startswith("mgmt.defs")), key=json.dumps),
        } == mine
        # Importing again changes nothing (existing objects are kept, as RabbitMQ does).
        assert call(fresh, "POST", "/definitions", exported)[0] == 204
        assert get(fresh, "/definitions")["queues"] == imported["queues"]
        # The imported topology routes: ka → qa; kb → mgmt.defs.alt → qb.
        conn = fresh.connect()
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("mgmt.defs", "ka", b"imported-a")
        ch.basic_publish("mgmt.defs", "kb", b"imported-b")
        assert ch.basic_get(qa, auto_ack=True)[2] == b"imported-a"
        assert ch.basic_get(qb, auto_ack=True)[2] == b"imported-b"
        conn.close()
        assert call(fresh, "POST", "/definitions", {"queues": [{"name": "x", "vhost": "/elsewhere"}]})[0] == 400
        assert call(fresh, "POST", "/definitions", b"not json")[0] == 400
    finally:
        fresh.stop()
    for name in (qa, qb):
        call(mgmt, "DELETE", f"/queues/%2F/{q(name)}")
    for name in ("mgmt.defs", "mgmt.defs.alt"):
        call(mgmt, "DELETE", f"/exchanges/%2F/{name}")


def rabbitmqadmin(cluster, *args, user=GUEST):
    result = subprocess.run([sys.executable, RABBITMQADMIN, "-H", "127.0.0.1", "-P", str(cluster.management_port),
                             "-u", user[0], "-p", user[1], *args], capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def admin_json(cluster, *args):
    code, out = rabbitmqadmin(cluster, "-f", "raw_json", *args)
    assert code == 0, out
    return json.loads(out)


def test_rabbitmqadmin_lists_declares_and_deletes(mgmt):
    """The calls of RabbitMQ's own CLI (rabbitmqadmin 3.10.8), each checked through the API."""
    queue = "mgmt-admin-queue"
    forget(mgmt, [queue], ["mgmt.admin"])
    commands = [
        ("declare", "queue", f"name={queue}", "durable=true", 'arguments={"x-max-length": 50}'),
        ("declare", "exchange", "name=mgmt.admin", "type=direct"),
        ("declare", "binding", "source=mgmt.admin", f"destination={queue}", "routing_key=rk"),
        ("declare", "binding", "source=mgmt.admin", "destination_type=exchange", "destination=amq.fanout", "routing_key=e2e"),
    ]
    for command in commands:
        code, out = rabbitmqadmin(mgmt, *command)
        assert code == 0 and "declared" in out, (command, out)
    listed = {x["name"]: x for x in admin_json(mgmt, "list", "queues")}
    assert listed[queue]["durable"] is True and listed[queue]["arguments"] == {"x-max-length": 50}
    assert "mgmt.admin" in names(admin_json(mgmt, "list", "exchanges"))
    bindings = [(b["source"], b["destination"], b["routing_key"]) for b in admin_json(mgmt, "list", "bindings")]
    assert ("mgmt.admin", queue, "rk") in bindings and ("mgmt.admin", "amq.fanout", "e2e") in bindings and ("", queue, queue) in bindings
    code, out = rabbitmqadmin(mgmt, "list", "queues", "name", "messages")
    assert code == 0 and queue in out
    code, out = rabbitmqadmin(mgmt, "show", "overview")
    assert code == 0 and "3.10.8" in out

    # Publishing to it with pika, then purge through rabbitmqadmin.
    conn = mgmt.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("mgmt.admin", "rk", b"via-binding")
    assert wait_for(lambda: get(mgmt, f"/queues/%2F/{queue}").get("messages") == 1)
    for kind in ("connections", "channels", "consumers", "nodes", "vhosts", "users", "permissions"):
        code, out = rabbitmqadmin(mgmt, "list", kind)
        assert code == 0, (kind, out)
    code, out = rabbitmqadmin(mgmt, "purge", "queue", f"name={queue}")
    assert code == 0 and "purged" in out, out
    assert wait_for(lambda: get(mgmt, f"/queues/%2F/{queue}").get("messages") == 0)

    # A refused declare: rabbitmqadmin prints RabbitMQ's reason and fails.
    code, out = rabbitmqadmin(mgmt, "declare", "queue", f"name={queue}", "durable=false")
    assert code != 0 and f"inequivalent arg 'durable' for queue '{queue}'" in out
    if not EXTERNAL_PORT:
        # A monitoring user may declare where its permissions allow (watcher has .* on "/").
        code, out = rabbitmqadmin(mgmt, "declare", "queue", "name=mgmt-watched", user=("watcher", "pw"))
        assert code == 0, out
        code, out = rabbitmqadmin(mgmt, "delete", "queue", "name=mgmt-watched", user=("watcher", "pw"))
        assert code == 0, out

    # Export, delete, import: the queue, exchange and binding come back.
    path = os.path.join(tempfile.gettempdir(), f"mgmt-defs-{os.getpid()}.json")
    code, out = rabbitmqadmin(mgmt, "export", path)
    assert code == 0, out
    for command in [("delete", "binding", "source=mgmt.admin", "destination_type=queue", f"destination={queue}", "properties_key=rk"),
                    ("delete", "binding", "source=mgmt.admin", "destination_type=exchange", "destination=amq.fanout",
                     "properties_key=e2e")]:
        code, out = rabbitmqadmin(mgmt, *command)
        assert code == 0 and "deleted" in out, (command, out)
    assert not [b for b in admin_json(mgmt, "list", "bindings") if b["source"] == "mgmt.admin"]
    for command in [("delete", "queue", f"name={queue}"), ("delete", "exchange", "name=mgmt.admin")]:
        code, out = rabbitmqadmin(mgmt, *command)
        assert code == 0 and "deleted" in out, (command, out)
    assert queue not in names(admin_json(mgmt, "list", "queues"))
    assert "mgmt.admin" not in names(admin_json(mgmt, "list", "exchanges"))
    code, out = rabbitmqadmin(mgmt, "import", path)
    assert code == 0, out
    os.unlink(path)
    assert queue in names(admin_json(mgmt, "list", "queues"))
    assert ("mgmt.admin", queue, "rk") in [(b["source"], b["destination"], b["routing_key"])
                                           for b in admin_json(mgmt, "list", "bindings")]

    # close connection: the pika connection is closed with 320.
    local_port = conn._impl._transport._sock.getsockname()[1]
    name = next(c["name"] for c in admin_json(mgmt, "list", "connections") if c.get("peer_port") == local_port)
    code, out = rabbitmqadmin(mgmt, "close", "connection", f"name={name}")
    assert code == 0 and "closed" in out, out
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        deadline = time.time() + 10
        while time.time() < deadline:
            conn.process_data_events(0.2)
    assert closed.value.reply_code == 320
    rabbitmqadmin(mgmt, "delete", "queue", f"name={queue}")
    rabbitmqadmin(mgmt, "delete", "exchange", "name=mgmt.admin")
