"""Drains one queue with pika and reports how many messages it took and how fast, for the
store's backlog measurements (Docs/benchmarks.md):

    python3 Tests/Load/drain.py --port 5692 --queue perf-q-0                 # auto-ack
    python3 Tests/Load/drain.py --port 5692 --queue perf-q-0 --ack-every 1000 --prefetch 2000
"""
import argparse
import time

import pika


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5672)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--prefetch", type=int, default=5000)
    parser.add_argument("--ack-every", type=int, default=0, help="manual acks, multiple=true every N (0: auto-ack)")
    args = parser.parse_args()
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", args.port))
    ch = conn.channel()
    print("ready", ch.queue_declare(args.queue, passive=True).method.message_count, flush=True)
    ch.basic_qos(prefetch_count=args.prefetch)
    taken, redelivered, last, started = 0, 0, None, time.time()
    idle = 5
    for method, _, _ in ch.consume(args.queue, inactivity_timeout=idle, auto_ack=args.ack_every == 0):
        if method is None:
            break
        taken += 1
        redelivered += method.redelivered
        last = method.delivery_tag
        if args.ack_every and taken % args.ack_every == 0:
            ch.basic_ack(last, multiple=True)
            last = None
    if args.ack_every and last is not None:
        ch.basic_ack(last, multiple=True)
    ch.cancel()
    elapsed = time.time() - started - idle
    left = ch.queue_declare(args.queue, passive=True).method.message_count
    print(f"drained {taken} ({redelivered} redelivered) in {elapsed:.1f} s = {taken / max(elapsed, 1e-9):,.0f} msg/s; left {left}")
    conn.close()


if __name__ == "__main__":
    main()
