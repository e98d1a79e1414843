"""Topology changes a second (Docs/benchmarks.md, session 11):
    python3 Tests/Load/declare_rate.py PORT COUNT TAG [CLIENTS]
Each of CLIENTS pika connections (default 1) declares COUNT fanout exchanges one after another
(named x-TAG-CLIENT-i), all at once; then one connection deletes them all, timed too."""
import sys
import threading
import time

import pika

port, count, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 1
connections = [pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port)) for _ in range(clients)]


def declare(k):
    ch = connections[k].channel()
    for i in range(count):
        ch.exchange_declare(f"x-{tag}-{k}-{i}", "fanout")


threads = [threading.Thread(target=declare, args=(k,)) for k in range(clients)]
start = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.time() - start
total = clients * count
print(f"{clients} x {count} exchange declares in {elapsed:.2f} s: {total / elapsed:.0f}/s, {elapsed / count * 1000:.2f} ms each per connection")
ch = connections[0].channel()
start = time.time()
for k in range(clients):
    for i in range(count):
        ch.exchange_delete(f"x-{tag}-{k}-{i}")
elapsed = time.time() - start
print(f"{total} exchange deletes in {elapsed:.2f} s: {total / elapsed:.0f}/s")
for c in connections:
    c.close()
