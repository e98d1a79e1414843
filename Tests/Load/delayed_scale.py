#!/usr/bin/env python3
"""How the x-delayed-message exchange holds up with a large backlog of pending messages
(RabbitMQ's plugin is known to degrade badly at this size): publishes --pending messages
with a long delay through one delayed exchange, then --probes messages with a short delay,
and reports the publish rate, the worker processes' resident memory, and how late the
short-delay probes arrive while the backlog is pending.

    python3 Tests/Load/delayed_scale.py --port 5672 --runtime-dir DIR --pending 1000000 --delay-ms 90000 --drain
"""
import argparse
import os
import time

import pika


def worker_rss_mb(runtime_dir):
    """Resident memory of the `broker worker` processes of the cluster using `runtime_dir`, in MB."""
    result = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            if b"worker" not in args or runtime_dir.encode() not in args:
                continue
            partition = args[args.index(b"--partition") + 1].decode()
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            result[partition] = round(rss / 1024)
        except (OSError, ValueError, StopIteration, IndexError):
            pass
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--pending", type=int, default=1_000_000)
    ap.add_argument("--delay-ms", type=int, default=600_000, help="delay of the backlog")
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--probe-delay-ms", type=int, default=1000)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--runtime-dir", required=True, help="the cluster's --runtime-dir, to find its workers")
    ap.add_argument("--drain", action="store_true", help="wait for the backlog to fall due and consume all of it")
    args = ap.parse_args()

    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", args.port))
    ch = conn.channel()
    ch.exchange_declare("delayed-scale", "x-delayed-message", auto_delete=True,
                        arguments={"x-delayed-type": "direct"})
    backlog = ch.queue_declare("delayed-scale-backlog", auto_delete=True).method.queue
    probes = ch.queue_declare("delayed-scale-probes", auto_delete=True).method.queue
    ch.queue_bind(backlog, "delayed-scale", "backlog")
    ch.queue_bind(probes, "delayed-scale", "probe")
    print(f"worker RSS before: {worker_rss_mb(args.runtime_dir)} MB")

    body = b"x" * args.size
    held = pika.BasicProperties(headers={"x-delay": args.delay_ms})
    start = time.time()
    for i in range(args.pending):
        ch.basic_publish("delayed-scale", "backlog", body, held)
        if i % 5000 == 0:
            conn.process_data_events(0)
    ch.confirm_delivery()  # a confirmed publish after the backlog: everything before it has arrived
    ch.basic_publish("delayed-scale", "backlog", body, held)
    elapsed = time.time() - start
    print(f"published {args.pending} delayed messages in {elapsed:.1f} s: {args.pending / elapsed:,.0f} msg/s")
    print(f"worker RSS with the backlog pending: {worker_rss_mb(args.runtime_dir)} MB")

    lateness = []
    sent_at = {}
    for i in range(args.probes):
        sent_at[str(i)] = time.time()
        ch.basic_publish("delayed-scale", "probe", str(i).encode(),
                         pika.BasicProperties(headers={"x-delay": args.probe_delay_ms}))
    deadline = time.time() + args.probe_delay_ms / 1000 + 30
    while len(lateness) < args.probes and time.time() < deadline:
        method, _, body = ch.basic_get(probes, auto_ack=True)
        if method is None:
            time.sleep(0.005)
            continue
        lateness.append((time.time() - sent_at[body.decode()]) * 1000 - args.probe_delay_ms)
    lateness.sort()
    if len(lateness) < args.probes:
        print(f"only {len(lateness)} of {args.probes} probes arrived")
    else:
        print(f"probe lateness ms: p50 {lateness[len(lateness) // 2]:.0f}, p99 {lateness[int(len(lateness) * 0.99)]:.0f}, "
              f"max {lateness[-1]:.0f} (none early: {min(lateness) >= -5})")
    if args.drain:
        due = start + args.delay_ms / 1000
        received = 0
        first = last = None

        def on_message(channel, method, properties, body):
            nonlocal received, first, last
            received += 1
            last = time.time()
            first = first or last

        ch.basic_consume(backlog, on_message, auto_ack=True)
        total = args.pending + 1
        while received < total and time.time() < due + 600:
            conn.process_data_events(1)
        print(f"backlog: {received} of {total} delivered; first {first - due:.1f} s after the first was due, "
              f"all within {last - first:.1f} s ({received / max(last - first, 0.001):,.0f} msg/s)")
        print(f"worker RSS after the drain: {worker_rss_mb(args.runtime_dir)} MB")
    conn.close()


if __name__ == "__main__":
    main()
