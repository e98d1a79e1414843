"""Telemetry of the whole cluster (issue 6): /metrics in Prometheus text format, parsed with
prometheus_client's own parser, with counters from the router and every worker that add up
after a pika workload; /health flipping to 503 when a worker dies and back when it returns;
and no per-message log lines at the default log level."""
import json
import os
import signal
import time
import urllib.error
import urllib.request

import pika
import pytest

from conftest import Cluster, children_of, free_port, queues_on_distinct_partitions, wait_for

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # a missing tool fails the tests, it does not skip them
    text_string_to_metric_families = None


@pytest.fixture(scope="module")
def telemetry_cluster():
    port = free_port()
    cluster = Cluster(workers=3, extra_args=["--enable-telemetry", "--telemetry-port", str(port)])
    cluster.telemetry = f"http://127.0.0.1:{port}"
    yield cluster
    cluster.stop()


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(cluster):
    """{(name, frozenset(labels)): value} of every sample, parsed by prometheus_client."""
    if text_string_to_metric_families is None:
        pytest.fail("prometheus_client is missing: pip install prometheus_client (or run Deploy/install-deps.sh)")
    status, text = fetch(cluster.telemetry + "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples, name, **labels):
    """The sum of `name` over every label set that includes `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and wanted <= set(l))


def test_counters_add_up_across_the_router_and_every_worker(telemetry_cluster):
    cluster = telemetry_cluster
    queues = queues_on_distinct_partitions("metrics", cluster.workers, 3)
    before = scrape(cluster)
    conn = cluster.connect()
    ch = conn.channel()
    for q in queues:
        ch.queue_declare(q, auto_delete=False)
        ch.queue_purge(q)
    ch.confirm_delivery()
    for q in queues:
        for i in range(100):
            ch.basic_publish("", q, b"m%d" % i)
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("", "metrics-nowhere", b"lost", mandatory=True)
    for q in queues:
        for _ in range(40):
            method, _, _ = ch.basic_get(q)
            ch.basic_ack(method.delivery_tag)
    ch.queue_declare(queues[0], passive=True)  # a round trip: the acks have reached the workers
    after = scrape(cluster)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    router = {"process": "router"}
    assert delta("broker_published_messages_total", **router) == 301
    assert delta("broker_routed_messages_total", **router) == 300
    assert delta("broker_unroutable_messages_total", **router) == 1
    assert delta("broker_returned_messages_total", **router) == 1
    assert delta("broker_confirmed_messages_total", **router) == 301
    assert delta("broker_enqueued_messages_total") == 300
    assert delta("broker_delivered_messages_total") == 120
    assert delta("broker_acked_messages_total") == 120
    ready = sum(total(after, "broker_queue_messages_ready", queue=q) for q in queues)
    unacked = sum(total(after, "broker_queue_messages_unacked", queue=q) for q in queues)
    dropped = sum(delta(name) for name in ("broker_expired_messages_total", "broker_overflowed_messages_total",
                                           "broker_discarded_messages_total"))
    # Every message published is delivered and acked, still queued, or dropped.
    assert delta("broker_enqueued_messages_total") == delta("broker_acked_messages_total") + ready + unacked + dropped
    assert (ready, unacked, dropped) == (180, 0, 0)
    # Each queue's depth is reported by the worker that owns it, and only by it.
    for q in queues:
        partition = str(cluster.partition_of(q))
        assert total(after, "broker_queue_messages_ready", queue=q, partition=partition) == 60
    for process in ["router"] + [f"worker-{i}" for i in range(cluster.workers)]:
        assert total(after, "process_resident_memory_bytes", process=process) > 1_000_000
        assert total(after, "process_open_fds", process=process) > 0
        assert total(after, "broker_event_loop_lag_seconds_count", process=process) > 0
    assert total(after, "broker_queue_wait_seconds_count") - total(before, "broker_queue_wait_seconds_count") == 120
    assert total(after, "broker_link_round_trip_seconds_count", process="router") > 0
    for q in queues:
        ch.queue_delete(q)
    conn.close()


def test_health_is_503_while_a_worker_is_down_and_200_when_it_is_back(telemetry_cluster):
    cluster = telemetry_cluster
    status, body = fetch(cluster.telemetry + "/health")
    assert status == 200, body
    processes = {p["process"]: p["status"] for p in json.loads(body)["processes"]}
    assert processes == {"router": "up", "worker-0": "up", "worker-1": "up", "worker-2": "up"}
    worker = next(pid for pid in children_of(cluster.process.pid)
                  if b"--partition\x001\x00" in open(f"/proc/{pid}/cmdline", "rb").read())
    os.kill(worker, signal.SIGKILL)
    assert wait_for(lambda: fetch(cluster.telemetry + "/health")[0] == 503, timeout=10)
    status, body = fetch(cluster.telemetry + "/health")
    if status == 503:
        down = {p["process"] for p in json.loads(body)["processes"] if p["status"] == "down"}
        assert down == {"worker-1"}
    # `cluster up` restarts the worker and the router's links reconnect.
    assert wait_for(lambda: fetch(cluster.telemetry + "/health")[0] == 200, timeout=30)


def test_the_default_log_level_writes_no_line_per_message(telemetry_cluster):
    cluster = telemetry_cluster
    lines_before = cluster.log_text().count("\n")
    conn = cluster.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(10_000):
        ch.basic_publish("", q, b"quiet")
    received = 0

    def on_message(channel, method, properties, body):
        nonlocal received
        received += 1
        channel.basic_ack(method.delivery_tag)

    ch.basic_qos(prefetch_count=500)
    ch.basic_consume(q, on_message)
    deadline = time.time() + 60
    while received < 10_000 and time.time() < deadline:
        conn.process_data_events(0.1)
    assert received == 10_000
    conn.close()
    new_lines = cluster.log_text().count("\n") - lines_before
    # Connection open/close lines only: a per-message line would make at least 10,000.
    assert new_lines < 20, cluster.log_text().splitlines()[-20:]


def test_profile_reports_cpu_per_message_and_loop_lag_per_process(telemetry_cluster):
    cluster = telemetry_cluster
    import base64
    import threading
    stop = threading.Event()

    def publish():
        conn = cluster.connect()
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        while not stop.is_set():
            for _ in range(200):
                ch.basic_publish("", q, b"profiled")
            conn.process_data_events(0)
        conn.close()

    worker = threading.Thread(target=publish)
    worker.start()
    try:
        request = urllib.request.Request(cluster.telemetry + "/api/profile?seconds=2", headers={
            "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
        with urllib.request.urlopen(request, timeout=20) as response:
            profile = json.loads(response.read())
    finally:
        stop.set()
        worker.join()
    assert profile["published"] > 0 and profile["cpu_us_per_published_message"] > 0
    processes = {p["process"]: p for p in profile["processes"]}
    assert set(processes) == {"router", "worker-0", "worker-1", "worker-2"}
    router = processes["router"]
    assert router["messages"] == profile["published"] and router["cpu_us_per_message"] > 0
    assert all(p["resident_bytes"] > 1_000_000 and p["event_loop_lag_p99_seconds"] >= 0 for p in processes.values())
    # The workers' counts lag the router's by what is still on the link when a sample is taken.
    assert sum(p["messages"] for name, p in processes.items() if name != "router") > 0


def test_store_metrics_show_writes_and_group_commits(telemetry_cluster):
    """Persistent publishes with confirms to a durable queue: the owning worker's store counts
    writes and fdatasync rounds, and each sync covers at least one confirm."""
    q = queues_on_distinct_partitions("store-metrics", 3, 1)[0]
    before = scrape(telemetry_cluster)
    conn = telemetry_cluster.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    for i in range(200):
        ch.basic_publish("", q, b"x" * 1000, pika.BasicProperties(delivery_mode=2))
    ch.queue_delete(q)
    conn.close()
    after = scrape(telemetry_cluster)
    worker = {"process": "worker-0"}
    syncs = total(after, "broker_store_syncs_total", **worker) - total(before, "broker_store_syncs_total", **worker)
    written = (total(after, "broker_store_written_bytes_total", **worker)
               - total(before, "broker_store_written_bytes_total", **worker))
    assert 1 <= syncs <= 200
    assert written >= 200 * 1000
    assert total(after, "broker_store_sync_seconds_count", **worker) >= syncs
    assert total(after, "broker_store_segments", **worker) >= 1
