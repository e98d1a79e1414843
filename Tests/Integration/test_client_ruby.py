"""The same cluster driven by Ruby's bunny (Debian ruby-bunny). clients/ruby/bunny_check.rb
runs one scenario per invocation and exits non-zero with a "FAIL scenario: ..." message on
any deviation from RabbitMQ's behaviour; each scenario is its own test."""
import os
import shutil
import subprocess

import pytest

from conftest import EXTERNAL_PORT

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "clients", "ruby", "bunny_check.rb")
INSTALL_HINT = "install ruby-bunny: apt-get install ruby ruby-bunny (or run Deploy/install-deps.sh)"


@pytest.fixture(scope="session")
def ruby():
    ruby = shutil.which("ruby")
    if ruby is None:
        pytest.fail(f"ruby is missing: {INSTALL_HINT}")
    probe = subprocess.run([ruby, "-e", "require 'bunny'; puts Bunny::VERSION"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.fail(f"`require 'bunny'` failed: {INSTALL_HINT}\n{probe.stderr}")
    return ruby


# With BROKER_EXTERNAL_PORT (validation against Debian's RabbitMQ 3.10.8), as in the pika tests:
NOT_ON_RABBITMQ_310 = {
    "consumer_timeout": "RabbitMQ 3.10 ignores x-consumer-timeout (3.12+); see test_priorities_consumers.py",
    "delayed_topic": "RabbitMQ 3.10.8 here has no rabbitmq_delayed_message_exchange plugin (see test_delayed_exchange.py)",
}


@pytest.mark.parametrize("scenario", [
    "tags",              # one channel, queues on 3 workers: tags 1..N in order; ack(multiple) of a middle tag is exact
    "confirms",          # confirms to a fanout bound to queues on 3 workers: every publish acked
    "mandatory",         # unroutable mandatory publish: basic.return 312 NO_ROUTE, still confirmed
    "errors",            # 404 NOT_FOUND text for passive declare, 406 unknown delivery tag, 404 exchange
    "topic_headers",     # topic (*, #, zero words) and headers (x-match all/any) routing
    "get_qos",           # basic.get / get-empty / message-count, reject requeue, prefetch-count limit
    "e2e_tx",           # exchange.bind/unbind across workers; tx.select/commit/rollback of publishes and acks
    "inequivalent",      # 406/403 texts of RabbitMQ 3.10 for inequivalent redeclarations; exclusive ignores durable
    "single_active",     # x-single-active-consumer: only the first consumer; on its channel close the next, redelivered
    "consumer_timeout",  # x-consumer-timeout 500: a consumer that never acks gets 406 channel close; message redelivered
    "delayed_topic",     # x-delayed-message (topic): x-delay 200 routed by topic rules after >= 200 ms, x-delay -200
])
def test_ruby_bunny(ruby, cluster, scenario):
    if EXTERNAL_PORT and scenario in NOT_ON_RABBITMQ_310:
        pytest.skip(NOT_ON_RABBITMQ_310[scenario])
    try:
        out = subprocess.run([ruby, SCRIPT, str(cluster.port), str(cluster.workers), scenario],
                             capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"Ruby scenario {scenario} hung for 90s; output so far: {e.stdout!r} {e.stderr!r}")
    assert out.returncode == 0, f"Ruby bunny scenario {scenario} failed:\n{out.stderr}{out.stdout}"
    assert f"ok {scenario}" in out.stdout
