"""`broker ctl` (issue 16) against a running cluster: it finds the router's operator socket
through the runtime directory (no port, user or password), lists what pika clients made,
purges, deletes, closes a connection with 320, and carries RabbitMQ definitions in and out.

fixtures/rabbitmq-3.10.8-definitions.json was written by Debian's RabbitMQ 3.10.8
(`rabbitmqctl export_definitions`) after pika declared a small topology on it: topic, fanout,
headers and direct exchanges, an exchange-to-exchange binding, queues with a dead-letter
exchange, a TTL, a length limit, lazy mode and priorities."""
import json
import os
import subprocess
import time

import pika
import pytest

from conftest import Cluster, broker_binary, ctl, needs_own_broker, unique, wait_for

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "rabbitmq-3.10.8-definitions.json")


def listed(cluster, what):
    return json.loads(ctl(cluster, f"list_{what}", "--json").stdout)


@pytest.fixture(scope="module")
def cluster():
    needs_own_broker("broker ctl", "rabbitmqctl's commands")
    c = Cluster(2)
    yield c
    c.stop()


def test_lists_show_what_clients_made_as_json_and_as_a_table(cluster):
    queue, exchange = unique("ctl-q"), unique("ctl-x")
    conn = cluster.connect()
    ch = conn.channel()
    ch.exchange_declare(exchange, "topic", durable=True)
    ch.queue_declare(queue, durable=True)
    ch.queue_bind(queue, exchange, "a.#")
    for _ in range(3):
        ch.basic_publish(exchange, "a.b", b"m")
    ch.basic_qos(prefetch_count=7)
    tag = ch.basic_consume(queue, lambda *a: None)
    conn.process_data_events(time_limit=0.3)

    queues = {q["name"]: q for q in listed(cluster, "queues")}
    assert queues[queue]["durable"] and queues[queue]["consumers"] == 1 and queues[queue]["messages"] == 3
    assert {"name": exchange, "type": "topic"}.items() <= {e["name"]: e for e in listed(cluster, "exchanges")}[exchange].items()
    assert any(b["source"] == exchange and b["destination"] == queue and b["routing_key"] == "a.#"
               for b in listed(cluster, "bindings"))
    consumers = [c for c in listed(cluster, "consumers") if c["consumer_tag"] == tag]
    assert len(consumers) == 1 and consumers[0]["queue"]["name"] == queue and consumers[0]["prefetch_count"] == 7
    assert any(c["user"] == "guest" and c["channels"] == 1 for c in listed(cluster, "connections"))
    assert any(c["consumer_count"] == 1 for c in listed(cluster, "channels"))

    table = ctl(cluster, "list_queues").stdout.splitlines()
    assert table[0].split() == ["vhost", "name", "messages", "messages_ready", "messages_unacknowledged", "consumers", "durable"]
    row = next(line.split() for line in table if queue in line.split())
    assert row == ["/", queue, "3", "0", "3", "1", "true"]
    assert tag in ctl(cluster, "list_consumers").stdout
    conn.close()


def test_purge_and_delete_a_queue_and_their_errors(cluster):
    queue = unique("ctl-purge")
    conn = cluster.connect()
    ch = conn.channel()
    ch.queue_declare(queue, durable=True)
    for _ in range(4):
        ch.basic_publish("", queue, b"m")
    assert wait_for(lambda: ch.queue_declare(queue, passive=True).method.message_count == 4, 5)
    assert ctl(cluster, "purge_queue", queue).stdout.strip() == f"purged queue '{queue}' in vhost '/'"
    assert ch.queue_declare(queue, passive=True).method.message_count == 0
    ch.basic_publish("", queue, b"m")
    refused = ctl(cluster, "delete_queue", queue, "--if-empty", ok=False)
    assert refused.returncode == 1 and "error:" in refused.stderr, (refused.stdout, refused.stderr)
    ctl(cluster, "delete_queue", queue)
    assert queue not in {q["name"] for q in listed(cluster, "queues")}
    missing = ctl(cluster, "purge_queue", unique("no-such-queue"), ok=False)
    assert missing.returncode == 1 and "404" in missing.stderr, missing.stderr
    conn.close()


def test_close_connection_sends_320_with_the_reason(cluster):
    label = unique("ctl-close")
    conn = cluster.connect(client_properties={"connection_name": label})
    mine = [c["name"] for c in listed(cluster, "connections") if c["client_properties"].get("connection_name") == label]
    assert len(mine) == 1, listed(cluster, "connections")
    ctl(cluster, "close_connection", mine[0], "maintenance window")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        deadline = time.time() + 10
        while time.time() < deadline:
            conn.process_data_events(time_limit=0.2)
    assert closed.value.reply_code == 320 and "maintenance window" in closed.value.reply_text


def definitions_of(data):
    """The exchanges, queues and bindings of a definitions document, comparable as sets."""
    exchanges = {(e["vhost"], e["name"], e["type"], e["durable"], e["auto_delete"], e.get("internal", False),
                  json.dumps(e.get("arguments", {}), sort_keys=True)) for e in data["exchanges"]}
    queues = {(q["vhost"], q["name"], q["durable"], q["auto_delete"], json.dumps(q.get("arguments", {}), sort_keys=True))
              for q in data["queues"]}
    bindings = {(b["vhost"], b["source"], b["destination"], b["destination_type"], b["routing_key"],
                 json.dumps(b.get("arguments", {}), sort_keys=True)) for b in data["bindings"]}
    return exchanges, queues, bindings


def test_rabbitmq_3_10_definitions_import_and_export_with_the_same_topology(tmp_path):
    needs_own_broker("broker ctl", "rabbitmqctl export_definitions")
    c = Cluster(2)
    try:
        with open(FIXTURE) as f:
            rabbit = json.load(f)
        assert ctl(c, "import_definitions", FIXTURE).stdout.strip() == f"imported definitions from {FIXTURE}"
        exported_file = tmp_path / "exported.json"
        ctl(c, "export_definitions", str(exported_file))
        exported = json.loads(exported_file.read_text())
        want_exchanges, want_queues, want_bindings = definitions_of(rabbit)
        got_exchanges, got_queues, got_bindings = definitions_of(exported)
        assert got_queues == want_queues
        assert got_bindings == want_bindings
        assert want_exchanges <= got_exchanges  # plus the default and amq.* exchanges RabbitMQ leaves out
        assert {e[1] for e in got_exchanges - want_exchanges} <= {"", "amq.direct", "amq.fanout", "amq.headers",
                                                                  "amq.match", "amq.topic", "amq.rabbitmq.trace"}
        # And the imported topology routes: a topic publish reaches its queue and, through the
        # exchange-to-exchange binding, the fanout's.
        conn = c.connect()
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("orders", "order.created.eu", b"m", mandatory=True)
        assert wait_for(lambda: ch.queue_declare("orders.created", passive=True).method.message_count == 1, 5)
        assert ch.queue_declare("audit.log", passive=True).method.message_count == 1
        conn.close()
        # Export to standard output is the same document.
        assert json.loads(ctl(c, "export_definitions", "-").stdout) == exported
    finally:
        c.stop()


def test_ctl_without_a_running_cluster_fails_and_says_so(tmp_path):
    result = subprocess.run([broker_binary(), "ctl", "list_queues", "--runtime-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "cannot reach the router" in result.stderr, (result.stdout, result.stderr)
