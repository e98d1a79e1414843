#!/usr/bin/env python3
"""A first throughput figure with a third-party client: 1 producer and 1 consumer (separate
processes), small messages, autoack. pika itself is the bottleneck long before the broker;
`broker perf` (issue 5) is the real load generator.

    python3 Tests/Load/pika_throughput.py --port 5672 --messages 200000
"""
import argparse
import multiprocessing
import time

import pika


def produce(port, queue, count, size, ready):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    ch = conn.channel()
    body = b"x" * size
    ready.wait()
    for i in range(count):
        ch.basic_publish("", queue, body)
        if i % 1000 == 0:
            conn.process_data_events(0)
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=16)
    args = ap.parse_args()

    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", args.port))
    ch = conn.channel()
    queue = ch.queue_declare("throughput-probe", auto_delete=True).method.queue
    ch.queue_purge(queue)
    received = 0
    start = None

    def on_message(c, m, p, b):
        nonlocal received
        received += 1

    ch.basic_consume(queue, on_message, auto_ack=True)
    ready = multiprocessing.Event()
    producer = multiprocessing.Process(target=produce, args=(args.port, queue, args.messages, args.size, ready))
    producer.start()
    start = time.perf_counter()
    ready.set()
    while received < args.messages:
        conn.process_data_events(time_limit=0.1)
    elapsed = time.perf_counter() - start
    producer.join()
    conn.close()
    print(f"{args.messages} messages of {args.size} B, 1 producer -> 1 consumer, autoack: "
          f"{elapsed:.2f} s, {args.messages / elapsed:,.0f} msg/s end to end")


if __name__ == "__main__":
    main()
