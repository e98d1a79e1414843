"""The message store pages bodies to disk: a worker holding one durable queue of 1,000,000
persistent 1 KB messages (1 GB of bodies) stays under 400 MB resident while it fills, holds and
drains the queue, and every message is delivered exactly once, in order.

The queue is filled by `broker perf` (pika would take minutes) and drained by pika. Resident
memory is VmRSS from /proc/<pid>/status of the worker that owns the queue, sampled every
quarter second; RssAnon and RssFile are kept too, to tell heap from mapped segment files.
With the debug build on 2 cores this takes about 4.5 minutes (filling ~2, draining ~2.5: the
broker, not pika, is the limit); the deadlines leave room for a slower machine."""
import json
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import EXTERNAL_PORT, Cluster, broker_binary

MESSAGES = 1_000_000
SIZE = 1024
RSS_LIMIT_MB = 400
QUEUE = "perf-q-0"  # the queue `broker perf --queues 1` fills


def memory_mb(pid):
    """{VmRSS, RssAnon, RssFile} of `pid` in MB."""
    figures = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                figures[name] = int(value.split()[0]) / 1024
    return figures


class MemorySampler(threading.Thread):
    """Samples `memory_mb(pid)` every quarter second; `peak(phase)` of each figure per phase."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.phase = "idle"
        self.peaks = {}
        self.died = False
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            self.sample()
            time.sleep(0.25)

    def sample(self):
        try:
            figures = memory_mb(self.pid)
        except (FileNotFoundError, ProcessLookupError):
            self.died = True
            return
        peaks = self.peaks.setdefault(self.phase, {})
        for name, value in figures.items():
            peaks[name] = max(peaks.get(name, 0), value)

    def peak(self, phase, name="VmRSS"):
        return self.peaks.get(phase, {}).get(name, 0)

    def report(self):
        return "; ".join(f"{phase}: " + ", ".join(f"{name} {value:.0f} MB" for name, value in sorted(peaks.items()))
                         for phase, peaks in self.peaks.items())


def test_a_million_persistent_messages_keep_the_worker_under_400_mb_and_all_come_back(runtime_dir):
    if EXTERNAL_PORT:
        pytest.skip("measures the resident memory of the broker's own worker process")
    c = Cluster(2, runtime_dir=runtime_dir)
    sampler = None
    try:
        partition = c.partition_of(QUEUE)
        pid = c.worker_pid(partition)
        assert pid is not None
        sampler = MemorySampler(pid)
        sampler.sample()
        sampler.phase = "filling"
        sampler.start()
        started = time.time()
        perf_log = tempfile.TemporaryFile(mode="w+")  # a live line a second: no pipe to fill
        perf = subprocess.Popen(
            [broker_binary(), "perf", "--host", "127.0.0.1", "--port", str(c.port), "--producers", "2",
             "--consumers", "0", "--queues", "1", "--size", str(SIZE), "--persistent", "--confirm", "1000",
             "--count", str(MESSAGES), "--keep-queues", "--json", "--timeout", "270"],
            stdout=subprocess.PIPE, stderr=perf_log, text=True)
        while perf.poll() is None and sampler.peak("filling") < RSS_LIMIT_MB and time.time() < started + 300:
            time.sleep(0.25)
        if perf.poll() is None:  # over the limit already (or stuck): no need to wait for the rest
            perf.kill()
            perf.communicate()
            perf_log.seek(0)
            pytest.fail(f"worker {partition} while filling, after {time.time() - started:.0f} s: {sampler.report()}; "
                        f"perf: {perf_log.read()[-1000:]}")
        out, _ = perf.communicate()
        perf_log.seek(0)
        err = perf_log.read()
        fill_seconds = time.time() - started
        assert perf.returncode == 0, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert (result["sent"], result["confirmed"], result["nacked"]) == (MESSAGES, MESSAGES, 0), result
        sampler.phase = "holding"
        time.sleep(3)
        conn = c.connect()
        ch = conn.channel()
        assert ch.queue_declare(QUEUE, passive=True).method.message_count == MESSAGES
        assert not sampler.died and c.worker_pid(partition) == pid, "the worker died while filling"
        print(f"\nfilled {MESSAGES:,} x {SIZE} B in {fill_seconds:.0f} s; worker {partition}: {sampler.report()}")
        assert max(sampler.peak("filling"), sampler.peak("holding")) < RSS_LIMIT_MB, sampler.report()

        sampler.phase = "draining"
        started = time.time()
        received = 0
        wrong_size = 0
        out_of_sequence = 0
        per_producer = {}  # producer index -> messages received
        last_tag = acked_tag = 0
        ch.basic_qos(prefetch_count=1000)

        def on_message(channel, method, properties, body):
            nonlocal received, wrong_size, out_of_sequence, last_tag, acked_tag
            received += 1
            wrong_size += len(body) != SIZE
            # perf's stamp: send time (8 bytes), producer (2), sequence mod 2^16 (2), big-endian.
            # Each producer's messages must come in publish order, none missing or repeated.
            producer, sequence = struct.unpack_from(">HH", body, 8)
            seen = per_producer.get(producer, 0)
            out_of_sequence += sequence != seen % 65536
            per_producer[producer] = seen + 1
            last_tag = method.delivery_tag
            if received % 500 == 0:
                channel.basic_ack(last_tag, multiple=True)
                acked_tag = last_tag

        tag = ch.basic_consume(QUEUE, on_message)
        deadline = time.time() + 300
        while received < MESSAGES and time.time() < deadline:
            conn.process_data_events(time_limit=0.2)
        conn.process_data_events(time_limit=1.0)  # anything beyond a million would arrive now
        ch.basic_cancel(tag)
        if last_tag != acked_tag:
            ch.basic_ack(last_tag, multiple=True)
        drain_seconds = time.time() - started
        assert received == MESSAGES, f"{received:,} delivered of {MESSAGES:,} in {drain_seconds:.0f} s"
        assert wrong_size == 0
        assert out_of_sequence == 0 and per_producer == {0: MESSAGES // 2, 1: MESSAGES // 2}, \
            (out_of_sequence, per_producer)
        assert ch.queue_declare(QUEUE, passive=True).method.message_count == 0
        assert ch.basic_get(QUEUE)[0] is None
        conn.close()
        sampler.halt.set()
        sampler.join()
        assert not sampler.died and c.worker_pid(partition) == pid, "the worker died while draining"
        print(f"drained in {drain_seconds:.0f} s; worker {partition}: {sampler.report()}")
        assert sampler.peak("draining") < RSS_LIMIT_MB, sampler.report()
    finally:
        if sampler is not None:
            sampler.halt.set()
        c.stop()
