"""The same cluster driven by rabbitmq-c's command-line tools (Debian amqp-tools:
amqp-declare-queue, amqp-publish, amqp-get, amqp-consume, amqp-delete-queue), with pika
checking what they did. Queues live on different workers."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import queues_on_distinct_partitions

TOOLS = ["amqp-declare-queue", "amqp-publish", "amqp-get", "amqp-consume", "amqp-delete-queue"]


@pytest.fixture(scope="session")
def amqp_tools():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: install amqp-tools (apt-get install amqp-tools, or run Deploy/install-deps.sh)")


def url(cluster):
    # No trailing slash: in an AMQP URI "/" followed by nothing means the vhost "".
    return f"amqp://guest:guest@127.0.0.1:{cluster.port}"


def tool(cluster, name, *args, stdin=None, check=True, timeout=30):
    out = subprocess.run([name, "-u", url(cluster), *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, f"{name} {' '.join(args)} failed ({out.returncode}): {out.stderr}{out.stdout}"
    return out


def test_declare_publish_get_consume_delete_across_workers(amqp_tools, cluster):
    names = queues_on_distinct_partitions("at-core", cluster.workers, 3)
    for name in names:
        assert tool(cluster, "amqp-declare-queue", "-q", name).stdout.strip() == name
    for name in names:
        for i in range(3):
            tool(cluster, "amqp-publish", "-r", name, "-b", f"{name}:{i}", "-C", "text/plain", "-H", "origin: rabbitmq-c")
    conn = cluster.connect()
    ch = conn.channel()
    for name in names:
        assert ch.queue_declare(name, passive=True).method.message_count == 3
    # amqp-get takes the head of each queue.
    for name in names:
        assert tool(cluster, "amqp-get", "-q", name).stdout == f"{name}:0"
    # amqp-consume runs a command per message with the body on stdin, acking after it exits.
    workdir = tempfile.mkdtemp(prefix="amqp-tools-")
    try:
        handler = os.path.join(workdir, "handler.sh")
        with open(handler, "w") as f:
            f.write(f'#!/bin/sh\ncat >> "{workdir}/bodies"\necho >> "{workdir}/bodies"\n')
        os.chmod(handler, 0o755)
        for name in names[:2]:
            tool(cluster, "amqp-consume", "-q", name, "-c", "2", "-p", "1", handler)
        with open(os.path.join(workdir, "bodies")) as f:
            bodies = f.read().split()
        assert bodies == [f"{names[0]}:1", f"{names[0]}:2", f"{names[1]}:1", f"{names[1]}:2"]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for name in names[:2]:
        assert ch.queue_declare(name, passive=True).method.message_count == 0
        empty = tool(cluster, "amqp-get", "-q", name, check=False)
        assert empty.returncode != 0 and empty.stdout == ""  # get-empty
    # What amqp-publish set arrives intact at another client.
    method, props, body = ch.basic_get(names[2], auto_ack=True)
    assert body == f"{names[2]}:1".encode()
    assert props.content_type == "text/plain"
    assert props.headers == {"origin": b"rabbitmq-c"} or props.headers == {"origin": "rabbitmq-c"}
    assert tool(cluster, "amqp-delete-queue", "-q", names[2]).stdout.strip() == "1"  # message-count in delete-ok
    for name in names[:2]:
        tool(cluster, "amqp-delete-queue", "-q", name)
    for name in names:
        ch2 = conn.channel()
        with pytest.raises(Exception):
            ch2.queue_declare(name, passive=True)
    conn.close()


def test_line_buffered_publish_to_a_fanout_reaches_queues_on_every_worker_in_order(amqp_tools, cluster):
    names = queues_on_distinct_partitions("at-fan", cluster.workers, 3)
    conn = cluster.connect()
    ch = conn.channel()
    ch.exchange_declare("at-fanout", "fanout", auto_delete=True)
    for name in names:
        ch.queue_declare(name, exclusive=True)
        ch.queue_bind(name, "at-fanout")
    tool(cluster, "amqp-publish", "-e", "at-fanout", "-l", stdin="".join(f"line{i}\n" for i in range(20)))
    for name in names:
        got = []
        while True:
            method, _, body = ch.basic_get(name, auto_ack=True)
            if method is None:
                break
            got.append(body.decode())
        assert got == [f"line{i}\n" for i in range(20)], name  # amqp-publish -l keeps each line's newline
    conn.close()


def test_errors_reach_rabbitmq_c_with_rabbitmqs_codes_and_texts(amqp_tools, cluster):
    out = tool(cluster, "amqp-get", "-q", "at-surely-missing", check=False)
    assert out.returncode != 0
    assert "server channel error 404, message: NOT_FOUND - no queue 'at-surely-missing' in vhost '/'" in out.stderr
    out = tool(cluster, "amqp-publish", "-e", "at-no-such-exchange", "-r", "k", "-b", "x", check=False)
    assert out.returncode != 0
    assert "server channel error 404, message: NOT_FOUND - no exchange 'at-no-such-exchange' in vhost '/'" in out.stderr
    out = subprocess.run(["amqp-get", "-u", url(cluster) + "/no-such-vhost", "-q", "x"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "530" in out.stderr and "NOT_ALLOWED" in out.stderr


# --- rabbitmq-c as a library (librabbitmq-dev): clients/c/rmqc_check.c ------------------------

RMQC_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "c", "rmqc_check.c")
RMQC_HINT = "apt-get install gcc pkg-config librabbitmq-dev (or run Deploy/install-deps.sh)"


def build_against_rabbitmq_c(source, name):
    """Compiles a C program against Debian's rabbitmq-c into a temporary directory."""
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "librabbitmq"], capture_output=True, text=True)
    if shutil.which("gcc") is None or flags.returncode != 0:
        pytest.fail(f"cannot build against rabbitmq-c: {RMQC_HINT}")
    workdir = tempfile.mkdtemp(prefix=f"{name}-")
    binary = os.path.join(workdir, name)
    build = subprocess.run(["gcc", "-O2", "-Wall", "-pthread", "-o", binary, source, *flags.stdout.split(), "-lm"],
                           capture_output=True, text=True, timeout=120)
    if build.returncode != 0:
        pytest.fail(f"gcc {source} failed:\n{build.stderr}")
    return workdir, binary


@pytest.fixture(scope="session")
def rmqc_check():
    """rmqc_check.c compiled against Debian's rabbitmq-c."""
    workdir, binary = build_against_rabbitmq_c(RMQC_SOURCE, "rmqc_check")
    yield binary
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("count,sizes", [
    (3000, [16, 1000, 131064, 131065, 300_000]),  # small ones, both sides of frame_max, several frames
    (3, [4 << 20]),                                # the 4 MB message
], ids=["mixed", "4MB"])
def test_rabbitmq_c_consumes_with_no_ack_exactly_what_was_published(cluster, rmqc_check, count, sizes):
    out = subprocess.run([rmqc_check, str(cluster.port), str(count), *map(str, sizes)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0 and "ok rabbitmq-c" in out.stdout, out.stdout + out.stderr


# --- the independent load generator (Tests/Load/rmqc/rmqc_perf.c) ---------------------------
# Docs/benchmarks.md reports figures it measured; these runs check that what it counts is what
# the broker did, in each of its modes, so its figures can be trusted.

RMQC_PERF_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Load", "rmqc", "rmqc_perf.c")


@pytest.fixture(scope="session")
def rmqc_perf():
    workdir, binary = build_against_rabbitmq_c(RMQC_PERF_SOURCE, "rmqc_perf")
    yield binary
    shutil.rmtree(workdir, ignore_errors=True)


def run_rmqc_perf(binary, cluster, *args):
    out = subprocess.run([binary, "--port", str(cluster.port), "--json", *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", [
    ["--ack-every", "10", "--prefetch", "100"],
    ["--autoack"],
    ["--persistent", "--confirm", "50"],
], ids=["ack-every-10", "autoack", "persistent-confirms"])
def test_load_generator_counts_what_it_sent_and_received(cluster, rmqc_perf, mode):
    # At 300 msg/s per producer the consumers keep up: everything sent arrives, bar what was
    # in flight at the deadline.
    result = run_rmqc_perf(rmqc_perf, cluster, "--producers", "2", "--consumers", "2", "--queues", "2",
                           "--rate", "300", "--duration", "2", "--prefix", f"rmqc-smoke-{mode[0][2:]}-", *mode)
    assert 900 <= result["sent"] <= 1300, result
    assert result["sent"] - 20 <= result["received"] <= result["sent"], result
    assert 0 < result["latency_us"]["p50"] <= result["latency_us"]["p99"] <= result["latency_us"]["max"], result


def test_load_generator_drains_a_backlog_in_full(cluster, rmqc_perf):
    # The tool exits non-zero unless every filled message is drained.
    result = run_rmqc_perf(rmqc_perf, cluster, "--producers", "2", "--consumers", "2", "--queues", "2",
                           "--size", "1024", "--backlog", "3000", "--prefix", "rmqc-smoke-backlog-")
    assert result["received"] == 6000 and result["drain_rate"] > 0, result
