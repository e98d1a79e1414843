"""The same cluster driven by Ruby's bunny (Debian ruby-bunny). clients/ruby/bunny_check.rb
runs one scenario per invocation and exits non-zero with a "FAIL scenario: ..." message on
any deviation from RabbitMQ's behaviour; each scenario is its own test."""
import os
import shutil
import subprocess

import pytest

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


@pytest.mark.parametrize("scenario", [
    "tags",           # one channel, queues on 3 workers: tags 1..N in order; ack(multiple) of a middle tag is exact
    "confirms",       # confirms to a fanout bound to queues on 3 workers: every publish acked
    "mandatory",      # unroutable mandatory publish: basic.return 312 NO_ROUTE, still confirmed
    "errors",         # 404 NOT_FOUND text for passive declare, 406 unknown delivery tag, 404 exchange
    "topic_headers",  # topic (*, #, zero words) and headers (x-match all/any) routing
    "get_qos",        # basic.get / get-empty / message-count, reject requeue, prefetch-count limit
    "e2e_tx",         # exchange.bind/unbind across workers; tx.select/commit/rollback of publishes and acks
    "inequivalent",   # 406/403 texts of RabbitMQ 3.10 for inequivalent redeclarations; exclusive ignores durable
])
def test_ruby_bunny(ruby, cluster, scenario):
    try:
        out = subprocess.run([ruby, SCRIPT, str(cluster.port), str(cluster.workers), scenario],
                             capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"Ruby scenario {scenario} hung for 90s; output so far: {e.stdout!r} {e.stderr!r}")
    assert out.returncode == 0, f"Ruby bunny scenario {scenario} failed:\n{out.stderr}{out.stdout}"
    assert f"ok {scenario}" in out.stdout
