"""Operating the broker (issue 16): a graceful stop that tells every client (320
CONNECTION_FORCED, as RabbitMQ on shutdown) and loses no confirmed message; systemd
readiness (READY=1 on $NOTIFY_SOCKET only once a worker's store is recovered, STOPPING=1 on
SIGTERM); the systemd units pass `systemd-analyze verify`."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pika
import pytest

from conftest import Cluster, broker_binary, needs_own_broker, queues_on_distinct_partitions, unique

DEPLOY = os.path.join(os.path.dirname(__file__), "..", "..", "Deploy")


def closed_by_broker(conn, timeout=10.0):
    """The (code, text) of the connection.close the broker sends this connection."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn.process_data_events(time_limit=0.2)
        except pika.exceptions.ConnectionClosedByBroker as e:
            return e.reply_code, e.reply_text
    raise AssertionError("the broker did not close the connection")


def test_sigterm_closes_every_client_with_320_exits_zero_and_keeps_confirmed_messages():
    needs_own_broker("SIGTERM", "that a graceful stop closes clients with 320")
    c = Cluster(workers=2)
    queue = unique("sigterm")
    try:
        publisher = c.connect()
        ch = publisher.channel()
        ch.queue_declare(queue, durable=True)
        ch.confirm_delivery()
        for i in range(300):
            ch.basic_publish("", queue, f"m{i}".encode(), pika.BasicProperties(delivery_mode=2))
        consumer = c.connect()
        consumer.channel().basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True)
        idle = c.connect()
        started = time.time()
        c.process.send_signal(signal.SIGTERM)
        for conn in (publisher, consumer, idle):
            code, text = closed_by_broker(conn)
            assert code == 320, (code, text)
            assert text == "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
        c.process.wait(timeout=30)
        elapsed = time.time() - started
        assert c.process.returncode == 0, c.log_text()
        assert elapsed < 15, f"stopping took {elapsed:.1f} s"
        print(f"SIGTERM to exit: {elapsed:.2f} s")
    finally:
        c.stop()
    again = Cluster(workers=2, runtime_dir=c.runtime_dir)
    try:
        ch = again.connect().channel()
        assert ch.queue_declare(queue, durable=True, passive=True).method.message_count == 300
    finally:
        again.stop()
        shutil.rmtree(c.runtime_dir, ignore_errors=True)


def test_ready_reaches_notify_socket_only_once_the_worker_has_recovered_its_store():
    needs_own_broker("NOTIFY_SOCKET", "systemd readiness of a worker")
    c = Cluster(workers=1)
    queue = unique("recovered")
    try:
        ch = c.connect().channel()
        ch.queue_declare(queue, durable=True)
        body = b"x" * 1024
        for _ in range(20000):
            ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
        assert ch.queue_declare(queue, durable=True, passive=True).method.message_count == 20000
    finally:
        c.stop()
    runtime = c.runtime_dir
    notify_path = os.path.join(tempfile.mkdtemp(prefix="notify-"), "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(60)
    log_path = os.path.join(runtime, "worker.log")
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    with open(log_path, "w") as log:
        worker = subprocess.Popen([broker_binary(), "worker", "--partition", "0", "--partitions", "1",
                                   "--runtime-dir", runtime, "--data-dir", os.path.join(runtime, "data"),
                                   "--log-level", "info"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        ready = notify.recv(4096)
        with open(log_path) as f:
            log_at_ready = f.read()
        assert ready.split(b"\n")[0] == b"READY=1", ready
        recovered = [line for line in log_at_ready.splitlines() if "message store ready" in line]
        assert recovered and "messages=20000" in recovered[0], log_at_ready
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(os.path.join(runtime, "worker-0.sock"))  # it serves when it says so
        probe.close()
        worker.send_signal(signal.SIGTERM)
        assert notify.recv(4096) == b"STOPPING=1"
        assert worker.wait(timeout=20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        notify.close()
        shutil.rmtree(runtime, ignore_errors=True)


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is needed to check the units: apt-get install systemd")
    units = []
    for name in ("broker-router.service", "broker-worker@.service", "broker.target"):
        with open(os.path.join(DEPLOY, name)) as f:
            text = f.read()
        # The units start /usr/local/bin/broker; verify checks that the binary exists, so point
        # it at the one under test.
        text = text.replace("/usr/local/bin/broker", os.path.abspath(broker_binary()))
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    result = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    for name in ("broker-router.service", "broker-worker@.service"):
        with open(os.path.join(DEPLOY, name)) as f:
            assert "Type=notify" in f.read(), name


def broker(*args, timeout=60):
    return subprocess.run([broker_binary(), *args], capture_output=True, text=True, timeout=timeout)


def test_cluster_status_and_down_work_from_another_terminal():
    needs_own_broker("cluster status", "the broker's own cluster commands")
    c = Cluster(workers=2)
    try:
        status = broker("cluster", "status", "--runtime-dir", c.runtime_dir)
        assert status.returncode == 0, status.stdout + status.stderr
        out = status.stdout
        assert f"AMQP port {c.port}" in out and "router" in out and "worker 0" in out and "worker 1" in out, out
        assert "2 workers up" in out, out
        down = broker("cluster", "down", "--runtime-dir", c.runtime_dir)
        assert down.returncode == 0, down.stdout + down.stderr
        assert c.process.wait(timeout=30) == 0
        after = broker("cluster", "status", "--runtime-dir", c.runtime_dir)
        assert after.returncode != 0 and "no cluster is running" in after.stdout, after.stdout
    finally:
        c.stop()
        shutil.rmtree(c.runtime_dir, ignore_errors=True)


def serves_again(c, timeout=20.0):
    """Waits until a queue on every partition can be declared (the router relinked)."""
    deadline = time.time() + timeout
    while True:
        try:
            with pika.BlockingConnection(c.params()) as conn:
                ch = conn.channel()
                for q in queues_on_distinct_partitions("again", c.workers, c.workers):
                    ch.queue_declare(q, auto_delete=True)
                return
        except pika.exceptions.AMQPError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_a_crashing_worker_is_restarted_with_back_off_and_the_cluster_gives_up_after_repeated_crashes():
    needs_own_broker("--max-restarts", "cluster up's supervision")
    c = Cluster(workers=2, extra_args=["--max-restarts", "2"])
    try:
        for attempt in range(2):
            pid = c.worker_pid(0)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            deadline = time.time() + 30
            while time.time() < deadline and (c.worker_pid(0) in (None, pid)):
                time.sleep(0.05)
            assert c.worker_pid(0) not in (None, pid), c.log_text()
            serves_again(c)
        log = c.log_text()
        assert "broker: worker 0 killed by signal 9; restarting in 0.5 s" in log, log
        assert "broker: worker 0 killed by signal 9; restarting in 1.0 s" in log, log
        os.kill(c.worker_pid(0), signal.SIGKILL)
        assert c.process.wait(timeout=30) != 0
        assert "it ended 3 times within 60 s: giving up and stopping the cluster" in c.log_text(), c.log_text()
    finally:
        c.stop()
        shutil.rmtree(c.runtime_dir, ignore_errors=True)


def test_install_script_lays_out_in_a_scratch_root_exactly_the_files_the_units_expect(tmp_path):
    for tool in ("systemctl", "systemd-sysusers", "systemd-tmpfiles"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to check the install script: apt-get install systemd")
    root = tmp_path / "root"
    result = subprocess.run([os.path.join(DEPLOY, "install.sh"), "--root", str(root), "--workers", "3",
                             "--binary", broker_binary()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    binary = root / "usr/local/bin/broker"
    assert binary.is_file() and os.access(binary, os.X_OK)
    units = root / "etc/systemd/system"
    wants = sorted(p.name for p in (units / "broker.target.wants").iterdir())
    assert wants == ["broker-router.service", "broker-worker@0.service", "broker-worker@1.service",
                     "broker-worker@2.service"], wants
    env = (root / "etc/broker/broker.env").read_text()
    assert "BROKER_PARTITIONS=3" in env and "BROKER_CONFIG=/etc/broker/broker.json" in env, env
    config = root / "etc/broker/broker.json"
    assert (config.stat().st_mode & 0o777) == 0o640
    check = subprocess.run([broker_binary(), "config", "check", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    # What the units name must be what the script installed.
    for unit in ("broker-router.service", "broker-worker@.service"):
        text = (units / unit).read_text()
        assert "ExecStart=/usr/local/bin/broker " in text and "EnvironmentFile=/etc/broker/broker.env" in text
        assert "ExecReload=/usr/bin/kill -HUP $MAINPID" in text
        assert "User=broker" in text and "RuntimeDirectory=broker" in text and "StateDirectory=broker" in text
    # The user and the socket directory, made the way systemd makes them at boot.
    subprocess.run(["systemd-sysusers", f"--root={root}"], check=True, capture_output=True, timeout=60)
    assert any(line.startswith("broker:") for line in (root / "etc/passwd").read_text().splitlines())
    subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create"], check=True, capture_output=True, timeout=60)
    run = root / "run/broker"
    assert run.is_dir() and (run.stat().st_mode & 0o777) == 0o700
    # Installing again keeps the operator's broker.env.
    (root / "etc/broker/broker.env").write_text(env.replace("BROKER_PORT=5672", "BROKER_PORT=5673"))
    again = subprocess.run([os.path.join(DEPLOY, "install.sh"), "--root", str(root), "--workers", "3",
                            "--binary", broker_binary()], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "BROKER_PORT=5673" in (root / "etc/broker/broker.env").read_text()


def test_the_watchdog_is_pinged_while_the_event_loop_runs():
    needs_own_broker("WATCHDOG_USEC", "systemd's watchdog")
    runtime = tempfile.mkdtemp(prefix="broker-watchdog-")
    notify_path = os.path.join(runtime, "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000")
    worker = subprocess.Popen([broker_binary(), "worker", "--partition", "0", "--partitions", "1",
                               "--runtime-dir", runtime, "--log-level", "warning"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert notify.recv(4096).startswith(b"READY=1")
        started = time.time()
        pings = 0
        while pings < 3:
            assert notify.recv(4096) == b"WATCHDOG=1"
            pings += 1
        # Half the interval apart: three pings in about 0.6 s, well within 3 s.
        assert time.time() - started < 3
        worker.send_signal(signal.SIGSTOP)  # a stopped process pings no more
        notify.settimeout(1.0)
        with pytest.raises(socket.timeout):
            while True:
                notify.recv(4096)
        worker.send_signal(signal.SIGCONT)
        notify.settimeout(5)
        assert notify.recv(4096) in (b"WATCHDOG=1", b"STOPPING=1")
    finally:
        worker.send_signal(signal.SIGCONT)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
        notify.close()
        shutil.rmtree(runtime, ignore_errors=True)
