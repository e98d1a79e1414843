"""The large-message matrix of Docs/benchmarks.md: persistent bodies published with confirms
into a durable queue, then fetched with basic.get, by the RabbitMQ Java client
(Tests/Integration/clients/java/JavaCheck.java), against a fresh `broker cluster up` and,
with --rabbitmq-port, against a running RabbitMQ, one after the other. Reports the time of
each size, the peak RSS (VmHWM) of the router and of each worker, and the CPU the workers use
in the second after the last message was settled (idle again: close to 0).

    python3 Tests/Load/large_messages.py --broker-bin .build/release/broker --workers 3 \\
        --rabbitmq-port 5673 --runs 3 --sizes 1048576 16777216 67108864 134217728
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Integration"))
from conftest import Cluster, children_of  # noqa: E402

JARS = ["/usr/share/java/amqp-client.jar", "/usr/share/java/slf4j-api.jar"]
SOURCE = os.path.join(ROOT, "Tests", "Integration", "clients", "java", "JavaCheck.java")
TICKS = os.sysconf("SC_CLK_TCK")


def compile_client():
    classes = tempfile.mkdtemp(prefix="javacheck-")
    subprocess.run(["javac", "-d", classes, "-cp", ":".join(JARS), SOURCE], check=True)
    return ":".join(JARS + [classes])


def run_java(classpath, port, sizes):
    """{size: (publish→confirm s, get s)}"""
    out = subprocess.run(["java", "-cp", classpath, "JavaCheck", str(port), "large", *map(str, sizes)],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"JavaCheck failed on port {port}:\n{out.stdout}{out.stderr[-2000:]}")
    rows = {}
    for line in out.stdout.splitlines():
        m = re.match(r"\| (\d+) \| ([\d.]+) s \| ([\d.]+) s \|", line)
        if m:
            rows[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return rows


def medians(runs):
    """{size: (median publish→confirm, median get)} over runs of run_java."""
    if not runs:
        return {}
    return {size: tuple(statistics.median(run[size][i] for run in runs) for i in (0, 1)) for size in runs[0]}


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def role(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    if argv[1] == b"worker":
        return f"worker {argv[argv.index(b'--partition') + 1].decode()}"
    return argv[1].decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker-bin", default=os.path.join(ROOT, ".build", "release", "broker"))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rabbitmq-port", type=int)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1 << 20, 16 << 20, 64 << 20, 128 << 20])
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per broker; medians are reported")
    args = parser.parse_args()
    if shutil.which("javac") is None:
        raise SystemExit("javac missing: apt-get install openjdk-17-jdk-headless librabbitmq-client-java")
    classpath = compile_client()

    os.environ["BROKER_BIN"] = args.broker_bin
    cluster = Cluster(workers=args.workers)
    ours_runs, theirs_runs = [], []
    try:
        for _ in range(args.runs):
            ours_runs.append(run_java(classpath, cluster.port, args.sizes))
            if args.rabbitmq_port:
                theirs_runs.append(run_java(classpath, args.rabbitmq_port, args.sizes))
        pids = children_of(cluster.process.pid)
        before = {pid: cpu_seconds(pid) for pid in pids}
        time.sleep(1.0)
        idle = {role(pid): cpu_seconds(pid) - before[pid] for pid in pids}
        peaks = {role(pid): status_kb(pid, "VmHWM") / 1024 for pid in pids}
    finally:
        cluster.stop()
    ours, theirs = medians(ours_runs), medians(theirs_runs)

    print(f"medians of {args.runs} alternating runs, {args.workers} workers")
    print(f"| body | broker: publish → confirm | broker: basic.get | RabbitMQ: publish → confirm | RabbitMQ: basic.get |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        o = ours[size]
        t = theirs.get(size)
        rabbit = f"{t[0]:.3f} s | {t[1]:.3f} s" if t else "— | —"
        print(f"| {size / (1 << 20):g} MiB | {o[0]:.3f} s | {o[1]:.3f} s | {rabbit} |")
    print()
    print("peak RSS (VmHWM): " + ", ".join(f"{name} {mb:.0f} MiB" for name, mb in sorted(peaks.items())))
    print("CPU in the second after the last message was settled: "
          + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in sorted(idle.items())))


if __name__ == "__main__":
    main()
