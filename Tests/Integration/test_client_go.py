"""The same cluster driven by Go's amqp091-go (Debian golang-github-rabbitmq-amqp091-go-dev,
built with Debian's Go, offline). The Go program clients/go/amqpcheck runs one scenario per
invocation and exits non-zero with a "FAIL scenario: ..." message on any deviation from
RabbitMQ's behaviour; each scenario is its own test."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import EXTERNAL_PORT, Cluster, broker_binary, needs_own_broker

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "clients", "go", "amqpcheck", "main.go")
GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages put their sources
LIBRARY = os.path.join(GOPATH, "src", "github.com", "rabbitmq", "amqp091-go")
INSTALL_HINT = "apt-get install golang-go golang-github-rabbitmq-amqp091-go-dev (or run Deploy/install-deps.sh)"


@pytest.fixture(scope="session")
def amqpcheck():
    """Builds the Go client once per session, in GOPATH mode against the Debian package
    (no module proxy, no network), into a temporary directory."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"the Go toolchain is missing: {INSTALL_HINT}")
    if not os.path.isdir(LIBRARY):
        pytest.fail(f"amqp091-go sources not found at {LIBRARY}: {INSTALL_HINT}")
    workdir = tempfile.mkdtemp(prefix="amqpcheck-go-")
    binary = os.path.join(workdir, "amqpcheck")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOPROXY="off", GOFLAGS="",
               GOCACHE=os.path.join(workdir, "cache"), CGO_ENABLED="0")
    build = subprocess.run([go, "build", "-o", binary, SOURCE], env=env, cwd=workdir,
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail(f"building {SOURCE} failed ({INSTALL_HINT}):\n{build.stdout}{build.stderr}")
    yield binary
    shutil.rmtree(workdir, ignore_errors=True)


def run_scenario(binary, cluster, scenario):
    url = f"amqp://guest:guest@127.0.0.1:{cluster.port}/"
    try:
        out = subprocess.run([binary, "-url", url, "-workers", str(cluster.workers), scenario],
                             capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"Go scenario {scenario} hung for 90s; output so far: {e.stdout!r} {e.stderr!r}")
    assert out.returncode == 0, f"Go amqp091-go scenario {scenario} failed:\n{out.stderr}{out.stdout}"
    assert f"ok {scenario}" in out.stdout


# With BROKER_EXTERNAL_PORT (validation against Debian's RabbitMQ 3.10.8), as in the pika tests:
NOT_ON_RABBITMQ_310 = {
    "delayed": "RabbitMQ 3.10.8 here has no rabbitmq_delayed_message_exchange plugin (see test_delayed_exchange.py)",
}


@pytest.mark.parametrize("scenario", [
    "tags",               # one channel, queues on 3 workers: tags 1..N; ack(multiple) of a middle tag is exact
    "confirms",           # confirms to a fanout bound to queues on 3 workers: every publish acked
    "mandatory",          # unroutable mandatory publish: basic.return 312 NO_ROUTE, still confirmed
    "errors",             # 404 NOT_FOUND text for passive declare, 406 unknown delivery tag, 404 exchange
    "topic_headers",      # topic (*, #, zero words) and headers (x-match all/any) routing
    "get_qos",            # basic.get / get-empty / message-count, nack requeue, prefetch-count limit
    "e2e_tx",            # exchange.bind/unbind across workers; tx.select/commit/rollback of publishes and acks
    "inequivalent",       # 406/403 texts of RabbitMQ 3.10 for inequivalent redeclarations; exclusive ignores durable
    "priority",           # x-max-priority 10: basic.get order 9, 5, 1, then no priority
    "consumer_priority",  # x-priority 10 / 1 with prefetch 1: high first, low only while high is full
    "global_qos",         # global prefetch 3 over queues on 2 workers: 3 before any ack, never more than 3
    "reply_to",           # direct reply-to round trip between two connections, correlation id kept
    "delayed",            # x-delayed-message (direct): confirmed at once, absent at 100 ms, there by 1.5 s
    "cc_bcc",             # CC/BCC headers reach queues on 3 workers; BCC removed from every copy, CC kept
])
def test_go_amqp091(amqpcheck, cluster, scenario):
    if EXTERNAL_PORT and scenario in NOT_ON_RABBITMQ_310:
        pytest.skip(NOT_ON_RABBITMQ_310[scenario])
    run_scenario(amqpcheck, cluster, scenario)


def test_go_client_keeps_its_connection_through_a_worker_restart(amqpcheck):
    """amqp091-go publishes persistent messages with confirms to a durable queue on worker 1
    and consumes them on a second channel while `broker cluster restart-worker 1` replaces
    that worker: the connection stays open, the publishes made while the worker is away may
    be nacked, every acked one is delivered, and the consumer resumes (scenario worker-restart)."""
    needs_own_broker("cluster restart-worker", "nothing: RabbitMQ has no workers to restart")
    seconds = 8
    cluster = Cluster(2)
    go = None
    try:
        url = f"amqp://guest:guest@127.0.0.1:{cluster.port}/"
        go = subprocess.Popen([amqpcheck, "-url", url, "-workers", str(cluster.workers), "-seconds", str(seconds),
                               "worker-restart"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = go.stdout.readline()  # the Go program prints "ready" once it consumes and is about to publish
        assert first == "ready\n", f"expected 'ready' from the Go program, got {first!r}; stderr: {go.stderr.read()}"
        started = time.monotonic()
        restart = subprocess.run([broker_binary(), "cluster", "restart-worker", "1", "--runtime-dir", cluster.runtime_dir],
                                 capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        print(f"restart-worker 1 ({took:.1f} s after ready):\n{restart.stdout}{restart.stderr}")
        assert restart.returncode == 0, (f"restart-worker 1 exited with {restart.returncode}:\n{restart.stdout}"
                                         f"{restart.stderr}\nlog:\n{cluster.log_text()[-4000:]}")
        try:
            out, err = go.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            go.kill()
            out, err = go.communicate()
            pytest.fail(f"the Go program ran past 60 s; output: {first}{out}{err}\nlog:\n{cluster.log_text()[-4000:]}")
        output = first + out + err
        print(output)
        assert go.returncode == 0 and "ok worker-restart" in out, (
            f"Go amqp091-go scenario worker-restart failed ({go.returncode}):\n{output}\nlog:\n{cluster.log_text()[-4000:]}")
        # Otherwise the client would not have published through and after the restart.
        assert took < seconds, f"restart-worker took {took:.1f} s, longer than the {seconds} s of publishing"
    finally:
        if go is not None and go.poll() is None:
            go.kill()
            go.wait()
        cluster.stop()
        shutil.rmtree(cluster.runtime_dir, ignore_errors=True)


def test_amqp091_go_own_integration_suite_passes(cluster):
    """amqp091-go's own integration tests (integration_test.go and the others built with the
    `integration` tag, shipped in Debian's package), run against the cluster as its authors run
    them against RabbitMQ: 116 tests, including two concurrent Close calls, basic.recover with
    requeue=false (540), basic.get with x-message-ttl, nack multiple+requeue, and goleak's check
    that no connection is left half-closed."""
    go = shutil.which("go")
    if go is None or not os.path.isdir(LIBRARY):
        pytest.fail(f"amqp091-go and Go are needed: {INSTALL_HINT}")
    workdir = tempfile.mkdtemp(prefix="amqp091-suite-")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOPROXY="off", GOFLAGS="",
               GOCACHE=os.path.join(workdir, "cache"), CGO_ENABLED="0",
               AMQP_URL=f"amqp://guest:guest@127.0.0.1:{cluster.port}/")
    try:
        out = subprocess.run([go, "test", "-tags", "integration", "-count=1", "-timeout", "240s", "-v",
                              "github.com/rabbitmq/amqp091-go"],
                             env=env, cwd=workdir, capture_output=True, text=True, timeout=400)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [line for line in out.stdout.splitlines() if line.startswith("--- FAIL")]
    assert out.returncode == 0 and not failed, f"amqp091-go's suite failed: {failed}\n{out.stdout[-6000:]}{out.stderr[-2000:]}"
    passed = sum(1 for line in out.stdout.splitlines() if line.startswith("--- PASS"))
    assert passed >= 100, f"only {passed} tests passed:\n{out.stdout[-3000:]}"
