"""Fixtures that start a real broker cluster (router + workers as processes) on a free
port with a temporary runtime directory, for tests driven by third-party AMQP clients.

With BROKER_EXTERNAL_PORT set, no broker is started: every Cluster points at an already running
broker on 127.0.0.1:$BROKER_EXTERNAL_PORT (guest/guest), e.g. RabbitMQ, to validate the tests
against it. Tests that need our own command-line options call `needs_own_broker` to skip there."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def broker_binary():
    path = os.environ.get("BROKER_BIN", os.path.join(ROOT, ".build", "debug", "broker"))
    if not os.path.exists(path):
        pytest.fail(f"broker binary not found at {path}: run `swift build` first (or set BROKER_BIN)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def partition_of(queue: str, partitions: int, vhost: str = "/") -> int:
    """Invariant 1 of the design, computed independently of the broker's code."""
    return fnv1a64(vhost.encode() + b"\0" + queue.encode()) % partitions


def queues_on_distinct_partitions(prefix: str, partitions: int, count: int):
    """Names `prefix-N`, one per partition 0..count-1."""
    found = {}
    i = 0
    while len(found) < count:
        name = f"{prefix}-{i}"
        p = partition_of(name, partitions)
        if p < count and p not in found:
            found[p] = name
        i += 1
    return [found[p] for p in range(count)]


def queue_on_partition(prefix: str, partition: int, partitions: int) -> str:
    """The first name `prefix-N` that lands on `partition`."""
    i = 0
    while partition_of(f"{prefix}-{i}", partitions) != partition:
        i += 1
    return f"{prefix}-{i}"


def stop_process(process):
    """SIGTERM, then SIGKILL if it has not exited within 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def children_of(pid: int):
    """PIDs whose parent is `pid` (from /proc)."""
    result = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                result.append(int(entry))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return result


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False


EXTERNAL_PORT = os.environ.get("BROKER_EXTERNAL_PORT")


def needs_own_broker(option: str, validated: str):
    """Skips the calling test only when running against an external broker."""
    if EXTERNAL_PORT:
        pytest.skip(f"needs broker-specific option {option}; validated against RabbitMQ with {validated}")


class ExternalBroker:
    """An already running broker; `workers` only feeds the partition-name helpers."""

    def __init__(self, workers: int, extra_args=()):
        self.workers = workers
        self.port = int(EXTERNAL_PORT)

    def log_text(self):
        return ""

    def params(self, **kw):
        import pika
        return pika.ConnectionParameters(host="127.0.0.1", port=self.port, **kw)

    def connect(self, **kw):
        import pika
        return pika.BlockingConnection(self.params(**kw))

    def partition_of(self, queue: str) -> int:
        return partition_of(queue, self.workers)

    def stop(self):
        pass


class Cluster:
    """`broker cluster up` on a free port. `runtime_dir` reuses a directory an earlier cluster ran
    in (and so, by default, its data directory `<runtime-dir>/data`); without it a new temporary
    directory is made. `stop()` never deletes the runtime directory, so a later cluster of the
    same test can start on it."""

    def __new__(cls, workers: int, extra_args=(), runtime_dir=None):
        if EXTERNAL_PORT:
            return ExternalBroker(workers, extra_args)
        return super().__new__(cls)

    def __init__(self, workers: int, extra_args=(), runtime_dir=None):
        self.workers = workers
        self.port = free_port()
        self.runtime_dir = runtime_dir or tempfile.mkdtemp(prefix="broker-test-")
        self.log = tempfile.NamedTemporaryFile(prefix="broker-log-", suffix=".txt", delete=False)
        args = [broker_binary(), "cluster", "up", "--workers", str(workers), "--port", str(self.port),
                "--host", "127.0.0.1", "--runtime-dir", self.runtime_dir, "--event-loops", "2", *extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.time() + 60
        line = ""
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("broker cluster up") or not line:
                break
        if not line.startswith("broker cluster up"):
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"cluster did not start: {line!r}; log: {self.log_text()}")

    def log_text(self):
        with open(self.log.name) as f:
            return f.read()

    def params(self, **kw):
        import pika
        return pika.ConnectionParameters(host="127.0.0.1", port=self.port, **kw)

    def connect(self, **kw):
        import pika
        return pika.BlockingConnection(self.params(**kw))

    def partition_of(self, queue: str) -> int:
        return partition_of(queue, self.workers)

    def _child(self, role: str, *args: str):
        """The pid of the running child of `cluster up` whose command line is `broker <role> …`
        with `args` next to each other in it, or None."""
        wanted = b"\0".join(a.encode() for a in args) + b"\0"
        for pid in children_of(self.process.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read()
            except OSError:
                continue
            fields = argv.split(b"\0")
            if len(fields) > 1 and fields[1] == role.encode() and wanted in argv and alive(pid):
                return pid
        return None

    def worker_pid(self, partition: int):
        """The pid of worker `partition` (None while `cluster up` is restarting it)."""
        return self._child("worker", "--partition", str(partition))

    def router_pid(self):
        """The pid of the router (None while `cluster up` is restarting it)."""
        return self._child("router")

    def kill_all(self, timeout=20.0):
        """A power cut: every process of the cluster is frozen (SIGSTOP, so that none notices
        another's death, restarts a child, or exits cleanly), then kill -9'd; returns when all
        are gone. The runtime and data directories stay for a later cluster."""
        parent = self.process.pid
        if self.process.poll() is not None:
            raise RuntimeError(f"cluster up already exited with {self.process.returncode}")
        os.kill(parent, signal.SIGSTOP)
        victims = []
        pending = children_of(parent)
        while pending:  # freeze children (and any children of theirs) before killing anyone
            pid = pending.pop()
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            victims.append(pid)
            pending.extend(children_of(pid))
        for pid in victims + [parent]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=timeout)
        deadline = time.time() + timeout
        while any(alive(pid) for pid in victims) and time.time() < deadline:
            time.sleep(0.05)
        left = [pid for pid in victims if alive(pid)]
        if left:
            raise RuntimeError(f"processes {left} survived kill -9")

    def stop(self):
        stop_process(self.process)


# --- small pika helpers shared by the test files ----------------------------------------------

def ctl(cluster, *args, ok=True):
    """`broker ctl ARGS` against the cluster's runtime directory; by default it must succeed."""
    result = subprocess.run([broker_binary(), "ctl", *args, "--runtime-dir", cluster.runtime_dir],
                            capture_output=True, text=True, timeout=30)
    if ok:
        assert result.returncode == 0, f"broker ctl {' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def unique(prefix):
    """A name no other test uses."""
    import uuid
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def get_all_messages(ch, queue):
    """Every message waiting in `queue` as (method, properties, body), taken with auto-ack."""
    got = []
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return got
        got.append((method, props, body))


def get_all(ch, queue):
    """The bodies of every message waiting in `queue`, taken with auto-ack."""
    return [body for _, _, body in get_all_messages(ch, queue)]


def wait_for(predicate, timeout=20.0):
    """Whether `predicate()` became true within `timeout` seconds (polled every 0.2 s, and
    once more at the deadline)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def wait_get(ch, queue, timeout=5.0):
    """The next message of `queue` (auto-ack) within `timeout`, or (None, None, None)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is not None:
            return method, props, body
        time.sleep(0.01)
    return None, None, None


@pytest.fixture
def runtime_dir():
    """A fresh runtime directory for the clusters of one test, which start one after another on
    the same data (`Cluster(n, runtime_dir=runtime_dir)`); removed, data and all, after the test."""
    path = tempfile.mkdtemp(prefix="broker-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster():
    c = Cluster(workers=3)
    yield c
    c.stop()
