"""The cluster driven by more Python clients than pika: amqpstorm, aio-pika, aiormq, rabbitpy
and aiorabbit with large messages, txAMQP (Twisted) with AMQPLAIN, and py-amqp acknowledging
from another thread. Each script in clients/python runs in its own process with PYTHONPATH set
to the directory Deploy/install-deps.sh installed its client into (.build-pyclients/<set>):
aiorabbit needs pamqp 3 while the others need pamqp 4, so they cannot share one site-packages.
A script exits non-zero with "FAIL: ..." on any deviation and prints "ok ..." when done."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "clients", "python")
CLIENTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), ".build-pyclients")
INSTALL_HINT = "run Deploy/install-deps.sh, which installs the clients into .build-pyclients/"
MiB = 1 << 20
FRAME_MAX = 131072


def run_client(cluster, client_set, script, *args, timeout=180):
    path = os.path.join(CLIENTS, client_set)
    if not os.path.exists(os.path.join(path, ".installed")):
        pytest.fail(f"the Python clients of set '{client_set}' are not installed: {INSTALL_HINT}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([path, SCRIPTS]))
    try:
        out = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), str(cluster.port), *map(str, args)],
                             env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script} hung for {timeout}s; output so far: {e.stdout!r} {e.stderr!r}")
    assert out.returncode == 0, f"{script} {args} failed:\n{out.stdout}{out.stderr[-4000:]}"
    assert out.stdout.strip().splitlines()[-1].startswith("ok ")


# The sizes of the reports, and both sides of frame_max: pamqp-based clients
# (amqpstorm, rabbitpy, aiorabbit) cut bodies into frame_max-byte payloads, 8 bytes over the
# spec's limit, which RabbitMQ accepts and so must we.
LARGE = [
    ("amqpstorm_large.py", "main", [1, FRAME_MAX, 2_400_000, 16 * MiB]),
    ("aiopika_large.py", "main", [FRAME_MAX - 7, 22 * MiB]),
    ("aiormq_large.py", "main", [FRAME_MAX - 8, 22 * MiB]),
    ("rabbitpy_large.py", "main", [FRAME_MAX, 4 * MiB, 16 * MiB]),
    ("aiorabbit_large.py", "aiorabbit", [FRAME_MAX + 1, 4 * MiB]),
]


@pytest.mark.parametrize("script,client_set,size",
                         [(script, client_set, size) for script, client_set, sizes in LARGE for size in sizes],
                         ids=lambda v: str(v).replace(".py", ""))
def test_large_message_round_trip(cluster, script, client_set, size):
    run_client(cluster, client_set, script, size)


def test_txamqp_logs_in_with_amqplain_after_the_0_9_header(cluster):
    if not os.path.exists("/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml"):
        pytest.fail("txAMQP's spec file is missing: apt-get install amqp-specs (or run Deploy/install-deps.sh)")
    run_client(cluster, "main", "txamqp_check.py")


def test_pyamqp_acks_from_another_thread_while_consuming(cluster):
    run_client(cluster, "main", "pyamqp_thread_ack.py", 3000)
