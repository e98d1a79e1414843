#!/usr/bin/env python3
"""Side-by-side benchmark: our broker vs RabbitMQ (Debian's rabbitmq-server) vs garagemq.

Starts the three brokers on loopback, each on its own free port and temp directory, runs the
same `broker perf` scenarios against each in alternation (round 1: ours, rabbitmq, garagemq;
round 2: ...), samples each broker's CPU (utime+stime of its whole process tree, from /proc)
right before and after every perf run, and writes a markdown report with the medians, the
ratios and an SVG bar chart. `--scaling 1,2,4,8` adds a table of our broker alone with each
worker count, its CPU split into router and workers. Stdlib only; run as root (apt-get, and
Debian's rabbitmq-server switches to the `rabbitmq` user).

Scenarios (`broker perf` options; --multi-ack-every changes b and e):
    a  1->1, 16 B, autoack           --producers 1 --consumers 1 --size 16 --autoack
    b  4p/4c, 1 KB, ack, prefetch    --producers 4 --consumers 4 --queues 4 --size 1024 --multi-ack-every 1 --prefetch 100
    c  20p/20c, 16 B, autoack        --producers 20 --consumers 20 --queues 20 --size 16 --autoack
    d  latency at 10,000 msg/s       --producers 1 --consumers 1 --size 16 --autoack --rate 10000
    e  persistent 1 KB + confirms    b's options + --persistent --confirm 100
    f  fanout to 8 queues            --producers 1 --consumers 8 --queues 8 --exchange-type fanout --size 16 --autoack
a, b, c, d and f are the transient ones (the --scaling set).

    Deploy/bench-compare.sh                                   # full comparison, 3 rounds x 10 s
    Deploy/bench-compare.sh --scaling 1,2,4,8                 # ... plus the scaling table
    python3 Tests/Load/compare.py --duration 2 --runs 1 --scenarios a,b --out /tmp/x.md
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Scenarios: each maps to `broker perf` options (besides --json, --uri and --duration).

@dataclass
class Scenario:
    key: str
    title: str
    args: list
    transient: bool = True
    latency: bool = False  # fixed rate: compare latency, not throughput
    chart: tuple = ()  # two short lines under the chart's bar group


def scenarios(ack_every):
    ack = ["--multi-ack-every", str(ack_every), "--prefetch", "100"]
    return [
        Scenario("a", "1→1, 16 B, autoack",
                 ["--producers", "1", "--consumers", "1", "--size", "16", "--autoack"],
                 chart=("1→1", "16 B autoack")),
        Scenario("b", "4p/4c, 1 KB, manual ack, prefetch 100",
                 ["--producers", "4", "--consumers", "4", "--queues", "4", "--size", "1024"] + ack,
                 chart=("4p/4c 1 KB", "ack, prefetch 100")),
        Scenario("c", "20p/20c, 16 B, autoack",
                 ["--producers", "20", "--consumers", "20", "--queues", "20", "--size", "16", "--autoack"],
                 chart=("20p/20c", "16 B autoack")),
        Scenario("d", "latency at a fixed 10,000 msg/s, 1→1, 16 B, autoack",
                 ["--producers", "1", "--consumers", "1", "--size", "16", "--autoack", "--rate", "10000"],
                 latency=True, chart=("10k msg/s", "latency 1→1")),
        Scenario("e", "4p/4c, persistent 1 KB, confirms (≤100 in flight per producer), manual ack",
                 ["--producers", "4", "--consumers", "4", "--queues", "4", "--size", "1024",
                  "--persistent", "--confirm", "100"] + ack, transient=False,
                 chart=("4p/4c persistent", "1 KB, confirms")),
        Scenario("f", "fanout to 8 queues: 1 producer, 8 consumers, 16 B, autoack",
                 ["--producers", "1", "--consumers", "8", "--queues", "8", "--exchange-type", "fanout",
                  "--size", "16", "--autoack"], chart=("fanout", "1→8 queues")),
        # Fill, then drain: the consumers start only when 4 x 50,000 messages are confirmed;
        # the delivered rate is the drain's (`broker perf --backlog`).
        Scenario("g", "backlog: 4 queues filled with 50,000 x 1 KB each, drained by 4 consumers acking each, prefetch 100",
                 ["--producers", "4", "--consumers", "4", "--queues", "4", "--size", "1024", "--count", "200000",
                  "--confirm", "500", "--backlog", "--multi-ack-every", "1", "--prefetch", "100"],
                 chart=("backlog drain", "1 KB, ack each")),
    ]


# ---------------------------------------------------------------------------------------------
# /proc: process trees and their CPU.

def proc_table():
    """pid -> (ppid, comm, cpu ticks (utime+stime))."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        close = stat.rfind(")")
        comm = stat[stat.find("(") + 1:close]
        rest = stat[close + 2:].split()
        # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
        table[int(name)] = (int(rest[1]), comm, int(rest[11]) + int(rest[12]))
    return table


def descendants(root, table):
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port(lo=None, hi=None):
    """A free TCP port on 127.0.0.1: any (lo is None), or one in [lo, hi)."""
    import random
    for _ in range(200):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 0 if lo is None else random.randrange(lo, hi)))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def kill_pids(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def wait_gone(pids, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return not any(pid_alive(p) for p in pids)


# ---------------------------------------------------------------------------------------------
# Brokers.

class Broker:
    name = "?"
    label = "?"

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.port = None
        self.proc = None
        self.starts = 0
        self.failed_starts = 0
        self.dir = self.workdir

    def root_pid(self):
        """The pid whose process tree is this broker (None when not running)."""
        return self.proc.pid if self.proc else None

    def kind(self, pid, comm):
        """Which part of the broker a process of its tree is (for the per-process split)."""
        return self.name

    def excluded(self, pid, comm):
        return False

    def perf_workaround(self, scenario):
        """Extra perf options this broker needs for `scenario` (and why), or ([], "")."""
        return [], ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and pid_alive(self.root_pid())

    def tree_cpu(self, table):
        """kind -> {pid: ticks} for the broker's tree."""
        root = self.root_pid()
        out = {}
        if root is None:
            return out
        for pid in descendants(root, table):
            _, comm, ticks = table[pid]
            if self.excluded(pid, comm):
                continue
            out.setdefault(self.kind(pid, comm), {})[pid] = ticks
        return out

    def ensure_running(self):
        if self.alive():
            return True
        if self.proc is not None:
            log(f"{self.label}: not running (exit {self.proc.poll()}); restarting")
            self.stop()
        if self.failed_starts >= 3:
            return False  # given up: its remaining runs are reported as failed
        try:
            self.starts += 1
            self.start()
            return True
        except Exception as e:  # noqa: BLE001 - a broker that cannot start is reported, not fatal
            self.failed_starts += 1
            log(f"{self.label}: start failed ({self.failed_starts}/3): {e}")
            self.stop()
            return False

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def wait_port(self, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited with status {self.proc.returncode} before listening (logs: {self.dir})")
            if port_open(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} not listening on port {self.port} after {timeout} s (logs: {self.dir})")

    def _terminate_tree(self, term_pids, grace):
        """SIGTERM to term_pids, then SIGKILL to the whole tree after `grace` seconds."""
        if self.proc is None:
            return
        table = proc_table()
        tree = descendants(self.proc.pid, table) if self.proc.pid in table else []
        kill_pids([p for p in term_pids if p], signal.SIGTERM)
        if not wait_gone(tree, grace):
            log(f"{self.label}: still running after {grace} s; SIGKILL")
            kill_pids(tree, signal.SIGKILL)
            wait_gone(tree, 5)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None


class Ours(Broker):
    name = "ours"
    label = "ours"

    def __init__(self, workdir, binary, workers, extra=()):
        super().__init__(workdir)
        self.binary = binary
        self.workers = workers
        self.extra = list(extra)
        self.label = f"ours ({workers} worker{'s' if workers != 1 else ''})"

    def kind(self, pid, comm):
        args = cmdline(pid)
        if len(args) > 1 and args[1] in ("router", "worker"):
            return args[1]
        return "supervisor"

    def start(self):
        self.dir = self.workdir / f"ours-w{self.workers}-{self.starts}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [str(self.binary), "cluster", "up", "--workers", str(self.workers), "--port", str(self.port),
               "--host", "127.0.0.1", "--runtime-dir", str(self.dir / "run")] + self.extra
        log(f"{self.label}: starting on port {self.port}: {shlex.join(cmd)}")
        out = open(self.dir / "stdout.log", "wb")
        err = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        err.close()
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cluster up exited with status {self.proc.returncode}: "
                                   f"{tail(self.dir / 'stderr.log')}")
            if "broker cluster up" in (self.dir / "stdout.log").read_text(errors="replace"):
                self.wait_port(10, "router")
                log(f"{self.label}: up (pid {self.proc.pid})")
                return
            time.sleep(0.2)
        raise RuntimeError(f"no 'broker cluster up' line after 90 s (logs: {self.dir})")

    def stop(self):
        if self.proc is not None:
            log(f"{self.label}: stopping")
            self._terminate_tree([self.proc.pid], 20)


class RabbitMQ(Broker):
    name = "rabbitmq"
    label = "RabbitMQ"

    def __init__(self, workdir):
        super().__init__(workdir)
        self.beam = None
        self.node = None

    def root_pid(self):
        return self.beam

    def excluded(self, pid, comm):
        return comm == "epmd"

    def alive(self):
        return self.proc is not None and self.beam is not None and pid_alive(self.beam)

    def start(self):
        if os.geteuid() != 0:
            raise RuntimeError("must run as root: Debian's rabbitmq-server switches to the rabbitmq user")
        self.dir = self.workdir / f"rabbitmq-{self.starts}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # rabbitmqctl uses RABBITMQ_DIST_PORT + 10000 ... + 10010: keep those below 65536.
        dist = free_port(20000, 40000)
        self.node = f"bench-{os.getpid()}-{self.starts}@localhost"
        conf = self.dir / "rabbitmq.conf"
        conf.write_text(f"listeners.tcp.default = {self.port}\nloopback_users = none\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        env = dict(os.environ,
                   RABBITMQ_NODE_PORT=str(self.port), RABBITMQ_NODENAME=self.node,
                   RABBITMQ_DIST_PORT=str(dist), RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
                   RABBITMQ_LOG_BASE=str(self.dir / "log"), RABBITMQ_CONFIG_FILE=str(conf),
                   RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
                   RABBITMQ_PID_FILE=str(self.dir / "pid"),
                   RABBITMQ_FEATURE_FLAGS_FILE=str(self.dir / "feature_flags"))
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.dir)], check=True)
        log(f"{self.label}: starting node {self.node} on port {self.port} (dist {dist})")
        out = open(self.dir / "stdout.log", "wb")
        self.proc = subprocess.Popen(["/usr/sbin/rabbitmq-server"], env=env, cwd=str(self.dir),
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        deadline = time.time() + 30
        while self.beam is None and time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with status {self.proc.returncode}: "
                                   f"{tail(self.dir / 'stdout.log')}")
            table = proc_table()
            for pid in descendants(self.proc.pid, table):
                if table[pid][1].startswith("beam"):
                    self.beam = pid
            time.sleep(0.2)
        if self.beam is None:
            raise RuntimeError("no beam.smp process after 30 s")
        self.wait_port(120, "rabbitmq-server")
        log(f"{self.label}: up (beam.smp pid {self.beam})")

    def stop(self):
        if self.proc is not None:
            log(f"{self.label}: stopping node {self.node}")
            # beam.smp stops gracefully (init:stop) on SIGTERM; the su/sh wrappers then exit.
            self._terminate_tree([self.beam], 60)
        self.beam = None


class GarageMQ(Broker):
    name = "garagemq"
    label = "garagemq"

    def perf_workaround(self, scenario):
        # garagemq never answers exchange.delete, so perf's teardown would time out and the
        # run fail after its measurement; keep perf-x (and the queues) instead.
        if "--exchange-type" in scenario.args:
            return ["--keep-queues"], ("garagemq never answers `exchange.delete`, so its runs of this scenario "
                                       "use `--keep-queues` (perf-x and the queues stay; the next run's "
                                       "declare + purge reuses them)")
        return [], ""

    def start(self):
        self.dir = self.workdir / f"garagemq-{self.starts}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        admin = free_port()
        config = self.dir / "config.yaml"
        config.write_text(garagemq_config(self.port, admin, self.dir / "db"))
        cmd = ["/usr/bin/garagemq", "--config", str(config)]
        log(f"{self.label}: starting on port {self.port} (admin {admin})")
        out = open(self.dir / "stdout.log", "wb")
        self.proc = subprocess.Popen(cmd, cwd=str(self.dir), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.wait_port(60, "garagemq")
        log(f"{self.label}: up (pid {self.proc.pid})")

    def stop(self):
        if self.proc is not None:
            log(f"{self.label}: stopping")
            self._terminate_tree([self.proc.pid], 15)


GARAGEMQ_DEFAULT_CONFIG = """proto: amqp-rabbit
users:
  - username: guest
    password: 084e0343a0486ff05530df6c705c8bb4 # guest md5
tcp:
  ip: 127.0.0.1
  port: 5672
  nodelay: false
  readBufSize: 196608
  writeBufSize: 196608
admin:
  ip: 127.0.0.1
  port: 15672
queue:
  shardSize: 8192
  maxMessagesInRam: 131072
db:
  defaultPath: /var/lib/garagemq/db
  engine: badger
vhost:
  defaultPath: /
security:
  passwordCheck: md5
connection:
  channelsMax: 4096
  frameMaxSize: 65536
"""


def garagemq_config(port, admin_port, db_path):
    """/etc/garagemq/config.yaml with our ports, db path and nodelay (line-wise, no yaml module)."""
    try:
        text = Path("/etc/garagemq/config.yaml").read_text()
    except OSError:
        text = GARAGEMQ_DEFAULT_CONFIG
    replace = {("tcp", "port"): str(port), ("tcp", "ip"): "127.0.0.1", ("tcp", "nodelay"): "true",
               ("admin", "port"): str(admin_port), ("admin", "ip"): "127.0.0.1",
               ("db", "defaultPath"): str(db_path)}
    section, out = None, []
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            section = m.group(1)
        else:
            m = re.match(r"^(\s+)(\w+):\s*(\S.*)?$", line)
            if m and (section, m.group(2)) in replace:
                line = f"{m.group(1)}{m.group(2)}: {replace[(section, m.group(2))]}"
        out.append(line)
    return "\n".join(out) + "\n"


def tail(path, n=400):
    try:
        return Path(path).read_text(errors="replace")[-n:].strip().replace("\n", " | ")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# One perf run against one broker.

@dataclass
class RunResult:
    broker: str
    scenario: str
    round: int
    ok: bool
    error: str = ""
    perf: dict = field(default_factory=dict)
    cpu_by_kind: dict = field(default_factory=dict)  # kind -> CPU seconds
    wall: float = 0.0
    workers: int = 0
    # Steady state: from perf's first live line (t=1s) to its last, so without set-up, the
    # first second and teardown. Messages are summed from the live lines' per-second rates.
    steady_cpu_by_kind: dict = field(default_factory=dict)
    steady_messages: float = 0.0
    steady_seconds: float = 0.0

    @property
    def messages(self):
        return self.perf.get("received") or self.perf.get("sent") or 0

    def steady_us_per_msg(self, kind=None):
        if not self.steady_messages or not self.steady_cpu_by_kind:
            return None
        cpu = sum(self.steady_cpu_by_kind.values()) if kind is None else self.steady_cpu_by_kind.get(kind, 0.0)
        return cpu * 1e6 / self.steady_messages

    @property
    def cpu(self):
        return sum(self.cpu_by_kind.values())

    def us_per_msg(self, kind=None):
        cpu = self.cpu if kind is None else self.cpu_by_kind.get(kind, 0.0)
        return cpu * 1e6 / self.messages if self.messages else None

    @staticmethod
    def from_json(d):
        st = d.get("steady") or {}
        return RunResult(d["broker"], d["scenario"], d["round"], d["ok"], d["error"], d["perf"],
                         d["cpu_seconds_by_kind"], d["wall_seconds"], d["workers"],
                         st.get("cpu_seconds_by_kind") or {}, st.get("messages") or 0.0, st.get("seconds") or 0.0)

    def to_json(self):
        return {"broker": self.broker, "scenario": self.scenario, "round": self.round, "ok": self.ok,
                "error": self.error, "perf": self.perf, "cpu_seconds_by_kind": self.cpu_by_kind,
                "wall_seconds": self.wall, "workers": self.workers,
                "steady": {"cpu_seconds_by_kind": self.steady_cpu_by_kind, "messages": self.steady_messages,
                           "seconds": self.steady_seconds}}


def cpu_delta(before, after):
    out = {}
    for kind, pids in after.items():
        prev = before.get(kind, {})
        ticks = sum(t - prev.get(pid, 0) for pid, t in pids.items())
        out[kind] = ticks / CLK_TCK
    return out


def run_perf(args, broker, scenario, rnd, workdir):
    result = RunResult(broker.name, scenario.key, rnd, ok=False,
                       workers=getattr(broker, "workers", 0))
    if not broker.ensure_running():
        result.error = "broker did not start"
        return result
    cmd = [str(args.binary), "perf", "--json", "--uri", f"amqp://guest:guest@127.0.0.1:{broker.port}/",
           "--duration", f"{args.duration:g}"] + scenario.args + broker.perf_workaround(scenario)[0]
    errfile = Path(workdir) / f"perf-{broker.name}-{getattr(broker, 'workers', 0)}-{scenario.key}-{rnd}.err"
    before = broker.tree_cpu(proc_table())
    t0 = time.time()
    proc = None
    ticks = []  # (arrival time, sent/s, received/s, broker CPU snapshot) per live line
    err = open(errfile, "wb")

    def read_live(stream):
        for raw in iter(stream.readline, b""):
            err.write(raw)
            m = LIVE_LINE.search(raw.decode(errors="replace"))
            if m:
                ticks.append((time.time(), float(m.group(2).replace(",", "")),
                              float(m.group(3).replace(",", "")), broker.tree_cpu(proc_table())))

    reader = stdout_reader = None
    stdout = []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        reader = threading.Thread(target=read_live, args=(proc.stderr,), daemon=True)
        reader.start()
        stdout_reader = threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True)
        stdout_reader.start()  # the JSON object, at the end
        try:
            proc.wait(timeout=args.duration + 90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            result.error = f"perf did not finish within {args.duration + 90:.0f} s"
            return result
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    finally:
        result.wall = time.time() - t0
        result.cpu_by_kind = cpu_delta(before, broker.tree_cpu(proc_table()))
        for thread in (reader, stdout_reader):
            if thread is not None:
                thread.join(timeout=5)
        err.close()
        if len(ticks) >= 2:
            first, last = ticks[0], ticks[-1]
            result.steady_cpu_by_kind = cpu_delta(first[3], last[3])
            result.steady_seconds = last[0] - first[0]
            # Delivered (or, with no consumer, published) in each second after the first line.
            col = 2 if any(t[2] for t in ticks[1:]) else 1
            result.steady_messages = sum(b[col] * (b[0] - a[0]) for a, b in zip(ticks, ticks[1:]))
    if proc.returncode != 0:
        last = [l for l in errfile.read_text(errors="replace").replace("\r", "\n").splitlines() if l.strip()]
        result.error = f"perf exit {proc.returncode}: {last[-1] if last else ''}"[:200]
    else:
        try:
            out = b"".join(stdout)
            result.perf = json.loads(out.decode().strip().splitlines()[-1])
            result.ok = True
        except (ValueError, IndexError):
            result.error = f"no JSON from perf: {b''.join(stdout)[-200:]!r}"
    if not broker.alive():
        result.ok = False
        result.error = (result.error + "; " if result.error else "") + "broker process died"
    return result


LIVE_LINE = re.compile(r"t=(\d+)s sent ([\d,]+) msg/s\s+received ([\d,]+) msg/s")


def describe(r):
    if not r.ok:
        return f"FAILED: {r.error}"
    p = r.perf
    lat = p.get("latency_us") or {}
    us = r.us_per_msg()
    return (f"sent {p['send_rate']:,.0f}/s, delivered {p['receive_rate']:,.0f}/s, p50 {fmt_us(lat.get('p50'))} "
            f"p99 {fmt_us(lat.get('p99'))}, broker {r.cpu:.2f} CPU-s = {fmt_num(us, 2)} µs/msg "
            f"(steady {fmt_num(r.steady_us_per_msg(), 2)}), perf {p.get('cpu_us_per_msg', 0):.2f} µs/msg")


# ---------------------------------------------------------------------------------------------
# Aggregation and formatting.

def fmt_us(us):
    if us is None:
        return "–"
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 1_000_000:
        return f"{us / 1000:.3g} ms"
    return f"{us / 1e6:.3g} s"


def fmt_num(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def fmt_rate(x):
    return "–" if x is None else f"{x:,.0f}"


def short_rate(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.0f}k"
    return f"{x:.0f}"


@dataclass
class Summary:
    ok_runs: int
    runs: int
    sent_rate: float = None
    recv_rate: float = None
    p50: float = None
    p99: float = None
    p999: float = None
    us_per_msg: float = None
    steady_us: float = None
    cores: float = None
    perf_us: float = None
    by_kind: dict = field(default_factory=dict)  # kind -> median µs/msg (steady state where known)
    by_kind_steady: bool = True  # False: some run had no steady window, whole-run figures used

    errors: list = field(default_factory=list)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results, kinds=()):
    ok = [r for r in results if r.ok]
    s = Summary(len(ok), len(results), errors=[r.error for r in results if not r.ok])
    if not ok:
        return s
    lat = [r.perf.get("latency_us") or {} for r in ok]
    s.sent_rate = med([r.perf.get("send_rate") for r in ok])
    s.recv_rate = med([r.perf.get("receive_rate") for r in ok])
    s.p50 = med([l.get("p50") for l in lat])
    s.p99 = med([l.get("p99") for l in lat])
    s.p999 = med([l.get("p999") for l in lat])
    s.us_per_msg = med([r.us_per_msg() for r in ok])
    s.steady_us = med([r.steady_us_per_msg() for r in ok])
    s.cores = med([r.cpu / r.wall if r.wall else None for r in ok])
    s.perf_us = med([r.perf.get("cpu_us_per_msg") for r in ok])
    s.by_kind_steady = all(r.steady_us_per_msg() is not None for r in ok)
    for k in kinds:
        s.by_kind[k] = med([r.steady_us_per_msg(k) if s.by_kind_steady else r.us_per_msg(k) for r in ok])
    return s


def ratio(mine, theirs):
    if mine is None or theirs is None or mine == 0 or theirs == 0:
        return None
    return mine / theirs


def fmt_ratio(r):
    if r >= 100:
        return f"{r:,.0f}"
    if r >= 10:
        return f"{r:.1f}"
    if r >= 0.01:
        return f"{r:.2f}"
    return f"{r:.2g}"


def ratio_cell(scenario, s, other):
    """This broker vs another, as 'msg/s ×a · CPU/msg ×b' (latency scenario: 'p99 ×a')."""
    if other is None or s.ok_runs == 0 or other.ok_runs == 0:
        return "–"
    parts = []
    if scenario.latency:
        r = ratio(s.p99, other.p99)
        parts.append(f"p99 ×{fmt_ratio(r)}" if r else "p99 –")
    else:
        r = ratio(s.recv_rate, other.recv_rate)
        parts.append(f"msg/s **×{fmt_ratio(r)}**" if r else "msg/s –")
    both_steady = s.steady_us is not None and other.steady_us is not None
    c = ratio(s.steady_us, other.steady_us) if both_steady else ratio(s.us_per_msg, other.us_per_msg)
    parts.append(f"CPU/msg ×{fmt_ratio(c)}" if c else "CPU/msg –")
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------
# Report.

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info(args):
    cpu_model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    commit = sh(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    if sh(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "Sources", "Package.swift"]):
        commit += " (+ uncommitted changes in Sources/)"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model,
        "ram": mem,
        "kernel": os.uname().release,
        "rabbitmq-server": sh(["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"]),
        "erlang": sh(["dpkg-query", "-W", "-f=${Version}", "erlang-base"]),
        "garagemq": sh(["dpkg-query", "-W", "-f=${Version}", "garagemq"]),
        "commit": commit,
        "binary": f"{args.binary} (built {time.strftime('%Y-%m-%d %H:%M', time.localtime(args.binary.stat().st_mtime))})"
                  if args.binary.exists() else str(args.binary),
        "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
    }


BROKER_NAMES = {"ours": "ours", "rabbitmq": "RabbitMQ", "garagemq": "garagemq"}
BROKER_COLORS = {"ours": "#5f3dc4", "rabbitmq": "#f76707", "garagemq": "#1c7ed6"}


def render_svg(scen_list, brokers, summaries, path):
    """Grouped bar chart of delivered msg/s: one group per scenario, one bar per broker
    (the fixed-rate latency scenario also shows each broker's p99 inside its bar)."""
    vmax = 1.08 * max([summaries[(b, s.key)].recv_rate or 0 for b in brokers for s in scen_list] + [1])
    mag = 10 ** (len(str(int(vmax))) - 1)
    top = next(m * mag for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * mag >= vmax)
    bar_w, gap, group_gap = 30, 4, 40
    group_w = len(brokers) * (bar_w + gap) - gap
    left, right, top_pad, bottom, plot_h = 70, 20, 50, 90, 320
    width = max(620, left + right + len(scen_list) * (group_w + group_gap))
    height = top_pad + plot_h + bottom
    base = top_pad + plot_h
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{left}" y="22" font-size="14" font-weight="bold">Delivered msg/s per scenario</text>',
         f'<text x="{left}" y="38" fill="#555">median of the runs; higher is better; same host, loopback</text>']
    for i in range(6):
        y = base - plot_h * i / 5
        o.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        o.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{short_rate(top * i / 5)}</text>')
    for gi, s in enumerate(scen_list):
        gx = left + group_gap / 2 + gi * (group_w + group_gap)
        for bi, b in enumerate(brokers):
            sm = summaries[(b, s.key)]
            x = gx + bi * (bar_w + gap)
            cx = x + bar_w / 2
            if sm.recv_rate is None:
                o.append(f'<text x="{cx:.1f}" y="{base - 4}" fill="#c00" '
                         f'transform="rotate(-90 {cx:.1f} {base - 4})">failed</text>')
                continue
            h = plot_h * sm.recv_rate / top
            y = base - h
            o.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="{BROKER_COLORS.get(b, "#888")}">'
                     f'<title>{BROKER_NAMES.get(b, b)} ({s.key}): {sm.recv_rate:,.0f} msg/s</title></rect>')
            o.append(f'<text x="{cx:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">'
                     f'{short_rate(sm.recv_rate)}</text>')
            if s.latency and sm.p99 is not None:  # the figure that matters here, above the bar
                ty = y - 16
                o.append(f'<text x="{cx + 3:.1f}" y="{ty:.1f}" font-size="10" '
                         f'transform="rotate(-90 {cx + 3:.1f} {ty:.1f})">p99 {esc(fmt_us(sm.p99))}</text>')
        lines = s.chart or (s.title,)
        for li, text in enumerate(lines):
            label = (f"({s.key}) " if li == 0 else "") + text
            o.append(f'<text x="{gx + group_w / 2:.1f}" y="{base + 16 + 13 * li}" text-anchor="middle">{esc(label)}</text>')
    o.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#333"/>')
    ly = base + 58
    for bi, b in enumerate(brokers):
        x = left + bi * 120
        o.append(f'<rect x="{x}" y="{ly}" width="12" height="12" fill="{BROKER_COLORS.get(b, "#888")}"/>')
        o.append(f'<text x="{x + 18}" y="{ly + 10}">{esc(BROKER_NAMES.get(b, b))}</text>')
    o.append("</svg>")
    path.write_text("\n".join(o) + "\n")


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def perf_cmd_text(s, duration):
    return shlex.join(["broker", "perf", "--json", "--uri", "amqp://guest:guest@127.0.0.1:PORT/",
                       "--duration", f"{duration:g}"] + s.args)


def write_report(args, info, command, scen_list, brokers, results, scaling, started, ended, live_brokers=()):
    md = []
    md.append("# Side-by-side benchmark: broker vs RabbitMQ vs garagemq\n")
    md.append(f"Generated by `Tests/Load/compare.py` from {started} to {ended}. Every figure is the "
              f"median of {args.runs} alternating round(s) of {args.duration:g} s per scenario and broker "
              "(round 1: " + ", ".join(brokers) + "; round 2: the same order; ...). All brokers, "
              "the load generator (`broker perf`) and anything else on the host share the same cores.\n")
    md.append("## Machine\n")
    md.append(f"- `nproc` = {info['nproc']}, CPU: {info['cpu']}, RAM {info['ram']}, kernel {info['kernel']}")
    md.append(f"- rabbitmq-server {info['rabbitmq-server']} (Erlang {info['erlang']}), garagemq {info['garagemq']}")
    md.append(f"- ours: commit {info['commit']}, binary {info['binary']}")
    md.append(f"- load average when the run started: {info['loadavg']}\n")
    md.append("## Command\n")
    md.append("```sh\n" + command + "\n```\n")
    md.append("Broker CPU = utime+stime from `/proc/<pid>/stat` summed over the broker's process tree "
              "(RabbitMQ: beam.smp and its children, epmd excluded; garagemq: its process; ours: "
              "`cluster up`, the router and the workers), sampled right before and right after each "
              "perf run, so it includes connection set-up, queue declaration and deletion. CPU per message "
              "divides by the messages delivered to consumers (published, for a run that delivered none). "
              "CPU-seconds per million messages and µs per message are the same number. *Steady state*: "
              "the broker's CPU between perf's first live line (t=1s) and its last, divided by the messages "
              "delivered in those seconds (summed from the live lines' rates), so without set-up, the first "
              "second, and the teardown (deleting queues that hold a backlog can take many CPU-seconds); it "
              "needs `--duration` ≥ 3. *cores* = broker "
              "CPU seconds / wall seconds of the perf run. *perf µs/msg* is the load generator's own CPU "
              "per message as `broker perf` reports it.\n")
    if brokers:
        md.append("Set-up: each broker on 127.0.0.1 on its own free port and temp directory, all of them up "
                  "for the whole run. RabbitMQ: a private node (`rabbitmq-server` with RABBITMQ_NODENAME, "
                  "RABBITMQ_NODE_PORT, ... in the temp directory), no plugins, default settings. garagemq: "
                  "`/etc/garagemq/config.yaml` with its own ports, db path and `nodelay: true`. Ours: "
                  f"`broker cluster up --workers {args.workers} --host 127.0.0.1`.\n")
        md.append("Ratios are this broker / the other: msg/s (delivered) higher is better; CPU/msg "
                  "(steady state when both have it, else whole run) and p99 (latency scenario) lower is better.\n")

    md.append("## Scenarios\n")
    md.append("| id | scenario | `broker perf` options |")
    md.append("| --- | --- | --- |")
    for s in scen_list:
        md.append(f"| {s.key} | {s.title} | `{shlex.join(s.args)}` |")
    md.append("")
    md.append(f"Each run: `{perf_cmd_text(scen_list[0], args.duration).replace(shlex.join(scen_list[0].args), '<options>')}`.\n")

    if brokers:
        svg_rel = os.path.relpath(args.svg, args.out.parent)
        md.append("## Results\n")
        md.append(f"![Delivered msg/s per scenario and broker]({svg_rel})\n")
        summaries = {(b, s.key): summarize([r for r in results if r.broker == b and r.scenario == s.key])
                     for b in brokers for s in scen_list}
        for s in scen_list:
            md.append(f"### ({s.key}) {s.title}\n")
            md.append("| broker | published msg/s | delivered msg/s | latency p50 / p99 / p99.9 | "
                      "broker CPU s per 1M msg (= µs/msg), whole run | µs/msg, steady state | broker cores | "
                      "perf µs/msg | vs RabbitMQ | vs garagemq |")
            md.append("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |")
            for b in brokers:
                sm = summaries[(b, s.key)]
                name = "**ours**" if b == "ours" else BROKER_NAMES.get(b, b)
                if sm.ok_runs == 0:
                    why = "; ".join(sorted(set(e for e in sm.errors if e)))[:160]
                    md.append(f"| {name} | failed | failed | – | – | – | – | – | – | – |"
                              + (f" <!-- {why} -->" if why else ""))
                    continue
                if sm.ok_runs < sm.runs:
                    name += f" ({sm.ok_runs}/{sm.runs} runs ok)"
                rab = summaries.get(("rabbitmq", s.key)) if b != "rabbitmq" else None
                gar = summaries.get(("garagemq", s.key)) if b != "garagemq" else None
                md.append(f"| {name} | {fmt_rate(sm.sent_rate)} | {fmt_rate(sm.recv_rate)} | "
                          f"{fmt_us(sm.p50)} / {fmt_us(sm.p99)} / {fmt_us(sm.p999)} | {fmt_num(sm.us_per_msg, 2)} | "
                          f"{fmt_num(sm.steady_us, 2)} | "
                          f"{fmt_num(sm.cores, 2)} | {fmt_num(sm.perf_us, 2)} | "
                          f"{ratio_cell(s, sm, rab) if rab else '–'} | {ratio_cell(s, sm, gar) if gar else '–'} |")
            if "--confirm" in s.args:
                conf = []
                for b in brokers:
                    runs = [r for r in results if r.broker == b and r.scenario == s.key and r.ok]
                    if runs:
                        conf.append(f"{BROKER_NAMES.get(b, b)} {fmt_num(med([r.perf.get('confirmed') for r in runs]))} "
                                    f"of {fmt_num(med([r.perf.get('sent') for r in runs]))}")
                if conf:
                    md.append("\nConfirmed of published (medians): " + "; ".join(conf) + ".")
            for b in live_brokers:
                why = b.perf_workaround(s)[1]
                if why:
                    md.append(f"\nNote: {why}.")
            failed = [(b, e) for b in brokers for e in summaries[(b, s.key)].errors if e]
            if failed:
                md.append("")
                for b, e in failed:
                    md.append(f"- {b}: {e}")
            md.append("")
        render_svg(scen_list, brokers, summaries, args.svg)

    if scaling:
        md.append("## Scaling: ours with 1…N workers\n")
        md.append(f"Transient scenarios against our broker alone, `--workers` {', '.join(map(str, args.scaling))}; "
                  f"each worker count is a fresh `cluster up`, rounds alternate over the worker counts. "
                  "CPU per message (µs, per delivered message, steady state; † = whole run because the run was "
                  "too short for a steady window) split by process kind: the router "
                  "(`broker router`), all workers together (`broker worker`), and the `cluster up` "
                  f"supervisor. On this host: {info['nproc']} cores shared by the router, the workers "
                  "and the load generator.\n")
        md.append("| scenario | workers | published msg/s | delivered msg/s | vs 1st | p99 | router µs/msg | "
                  "workers µs/msg | supervisor µs/msg | total µs/msg | router share |")
        md.append("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        kinds = ("router", "worker", "supervisor")
        for s in [s for s in scen_list if s.transient]:
            base = None
            for w in args.scaling:
                sm = summarize([r for r in scaling if r.scenario == s.key and r.workers == w], kinds)
                if sm.ok_runs == 0:
                    md.append(f"| ({s.key}) | {w} | failed | failed | – | – | – | – | – | – | – |")
                    continue
                if base is None:
                    base = sm.recv_rate
                router, workers_, sup = (sm.by_kind.get(k) for k in kinds)
                total_us = sum(v for v in (router, workers_, sup) if v is not None)
                share = router / total_us if router is not None and total_us else None
                mark = "" if sm.by_kind_steady else " †"
                md.append(f"| ({s.key}) | {w} | {fmt_rate(sm.sent_rate)} | {fmt_rate(sm.recv_rate)} | "
                          f"×{sm.recv_rate / base:.2f} | {fmt_us(sm.p99)} | {fmt_num(router, 2)} | "
                          f"{fmt_num(workers_, 2)} | {fmt_num(sup, 2)} | {fmt_num(total_us, 2)}{mark} | "
                          f"{'–' if share is None else f'{share * 100:.0f}%'} |")
        md.append("")

    md.append("## Raw runs\n")
    md.append("<details><summary>Every run (click to expand)</summary>\n")
    md.append("| round | broker | scenario | ok | sent | received | seconds | sent msg/s | delivered msg/s | "
              "p50 / p99 / p99.9 / max | confirmed | broker CPU s (by process kind) | µs/msg | steady: s, msgs, CPU s, µs/msg "
              "| perf CPU s | error |")
    md.append("| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | --- | ---: | --- |")
    for r in results + scaling:
        p = r.perf
        lat = p.get("latency_us") or {}
        bname = r.broker + (f" w={r.workers}" if r.broker == "ours" else "")
        kinds_txt = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.cpu_by_kind.items()))
        steady = (f"{r.steady_seconds:.1f}, {r.steady_messages:,.0f}, {sum(r.steady_cpu_by_kind.values()):.2f}, "
                  f"{fmt_num(r.steady_us_per_msg(), 2)}" if r.steady_messages else "–")
        md.append(f"| {r.round} | {bname} | {r.scenario} | {'yes' if r.ok else '**no**'} | {fmt_num(p.get('sent'))} | "
                  f"{fmt_num(p.get('received'))} | {p.get('seconds', '–')} | {fmt_rate(p.get('send_rate'))} | "
                  f"{fmt_rate(p.get('receive_rate'))} | {fmt_us(lat.get('p50'))} / {fmt_us(lat.get('p99'))} / "
                  f"{fmt_us(lat.get('p999'))} / {fmt_us(lat.get('max'))} | {fmt_num(p.get('confirmed'))} | "
                  f"{r.cpu:.2f} ({kinds_txt}) | {fmt_num(r.us_per_msg(), 2)} | {steady} | {p.get('cpu_seconds', '–')} | "
                  f"{esc(r.error)} |")
    md.append("\n</details>\n")

    md.append("## Limits of this comparison\n")
    md.append("- `broker perf` has no warm-up option, so the first seconds of every run (connection set-up, "
              "queue creation, cold caches, Erlang's JIT and RabbitMQ's credit flow ramping up) are part of the "
              "msg/s and latency figures (longer `--duration` dilutes them); only the steady-state CPU column "
              "leaves out the first second.")
    md.append(f"- CPU times come in clock ticks of {1000 // CLK_TCK} ms per process; short runs and idle brokers "
              "are coarse.")
    md.append("- Throughput is measured while publishing: messages still queued when publishing stops are not "
              "counted as delivered (and are deleted with the queue). A broker that accepts publishes faster "
              "than it delivers shows published ≫ delivered and a latency that grows with the run.")
    md.append("")
    args.out.write_text("\n".join(md))


# ---------------------------------------------------------------------------------------------
# Set-up: packages and our binary.

def installed(pkg):
    return "install ok installed" in sh(["dpkg-query", "-W", "-f=${Status}", pkg])


def process_start_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def boot_ticks_now():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) * CLK_TCK


def install_packages():
    missing = [p for p in ("rabbitmq-server", "garagemq") if not installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"error: {', '.join(missing)} missing and not root: apt-get install {' '.join(missing)}")
    log(f"installing {' '.join(missing)} (apt-get)")
    since = boot_ticks_now()
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq"] + missing, check=True, env=env)
    # The packages' own services may have started (RabbitMQ on 5672): stop them, and kill any
    # beam.smp / epmd / garagemq that appeared during the install.
    for svc in missing:
        subprocess.run(["service", svc, "stop"], capture_output=True)
    time.sleep(1)
    table = proc_table()
    for pid, (_, comm, _) in table.items():
        st = process_start_ticks(pid)
        if st is not None and st >= since and (comm.startswith("beam") or comm in ("epmd", "garagemq")):
            log(f"stopping {comm} (pid {pid}) started by the package install")
            kill_pids([pid], signal.SIGTERM)


def ensure_binary(args):
    sources = [p for p in (REPO / "Sources").rglob("*") if p.is_file()] + [REPO / "Package.swift"]
    newest = max(p.stat().st_mtime for p in sources)
    if args.binary.exists() and args.binary.stat().st_mtime >= newest:
        return
    state = "missing" if not args.binary.exists() else "older than the sources"
    if args.no_build:
        if not args.binary.exists():
            raise SystemExit(f"error: {args.binary} is missing (and --no-build)")
        log(f"warning: {args.binary} is {state}; using it anyway (--no-build)")
        return
    log(f"{args.binary} is {state}: swift build -c release --product broker (a few minutes)")
    # The same build as Deploy/cluster-up.sh: without run-time exclusivity checks.
    subprocess.run(["swift", "build", "-c", "release", "--product", "broker", "-Xswiftc", "-enforce-exclusivity=unchecked"],
                   cwd=str(REPO), check=True)


# ---------------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10, help="seconds per perf run (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="alternating rounds; medians are reported (default 3)")
    ap.add_argument("--scenarios", default="a,b,c,d,e,f,g", help="which scenarios (default a,b,c,d,e,f,g)")
    ap.add_argument("--brokers", default="ours,rabbitmq,garagemq",
                    help="which brokers, in round order (default ours,rabbitmq,garagemq)")
    ap.add_argument("--workers", type=int, default=os.cpu_count(),
                    help="workers of our cluster in the comparison (default: nproc)")
    ap.add_argument("--scaling", default="",
                    help="comma-separated worker counts, e.g. 1,2,4,8: also run the transient scenarios "
                         "against ours alone with each")
    ap.add_argument("--scaling-only", action="store_true", help="skip the three-broker comparison")
    ap.add_argument("--multi-ack-every", type=int, default=1,
                    help="manual-ack scenarios (b, e): one ack per N deliveries (default 1 = every message)")
    ap.add_argument("--out", type=Path, default=REPO / "Docs" / "benchmarks-compare.md", help="markdown report")
    ap.add_argument("--svg", type=Path, default=None, help="bar chart (default: --out with .svg)")
    ap.add_argument("--raw-json", type=Path, default=None, help="also write every run as JSON here")
    ap.add_argument("--binary", type=Path, default=REPO / ".build" / "release" / "broker")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install missing packages")
    ap.add_argument("--no-build", action="store_true", help="do not build the release binary")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the brokers' temp directory (logs, data)")
    ap.add_argument("--render-only", type=Path, default=None, metavar="RAW_JSON",
                    help="run nothing: rewrite the report from a --raw-json file (same --scenarios, --brokers, "
                         "--scaling, --runs and --duration as that run)")
    args = ap.parse_args(argv)
    args.out = args.out.resolve()
    args.svg = (args.svg or args.out.with_suffix(".svg")).resolve()
    args.scaling = [int(x) for x in args.scaling.split(",") if x.strip()]
    args.brokers = [] if args.scaling_only else [b.strip() for b in args.brokers.split(",") if b.strip()]
    for b in args.brokers:
        if b not in ("ours", "rabbitmq", "garagemq"):
            ap.error(f"unknown broker {b!r}")
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    known = {s.key: s for s in scenarios(args.multi_ack_every)}
    for k in keys:
        if k not in known:
            ap.error(f"unknown scenario {k!r} (known: {', '.join(known)})")
    args.scenario_list = [known[k] for k in keys]
    if args.runs < 1 or args.duration <= 0:
        ap.error("--runs and --duration must be positive")
    if not args.brokers and not args.scaling:
        ap.error("nothing to do (--scaling-only without --scaling)")
    return args


class Interrupted(Exception):
    pass


def main(argv):
    args = parse_args(argv)
    prefix = os.environ.get("BENCH_COMPARE_PREFIX") or "python3 Tests/Load/compare.py"
    command = " ".join([prefix] + [shlex.quote(a) for a in argv])

    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    if args.render_only:
        raw = json.loads(args.render_only.read_text())
        results, scaling_runs = ([RunResult.from_json(d) for d in raw[k]] for k in ("compare", "scaling"))
        write_report(args, raw["machine"], raw["command"], args.scenario_list, args.brokers, results,
                     scaling_runs, raw["started"], raw["ended"],
                     [GarageMQ(Path("/nonexistent"))] if "garagemq" in args.brokers else [])
        log(f"report re-rendered: {args.out}")
        return

    if not args.no_install:
        install_packages()
    ensure_binary(args)
    info = machine_info(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")

    workdir = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    os.chmod(workdir, 0o755)  # the rabbitmq user must reach its subdirectory
    epmd_before = any(c == "epmd" for _, c, _ in proc_table().values())
    live = []
    results, scaling = [], []
    failures = False
    try:
        # --- the three-broker comparison -------------------------------------------------------
        if args.brokers:
            factory = {"ours": lambda: Ours(workdir, args.binary, args.workers),
                       "rabbitmq": lambda: RabbitMQ(workdir), "garagemq": lambda: GarageMQ(workdir)}
            brokers = [factory[b]() for b in args.brokers]
            live.extend(brokers)
            for b in brokers:
                b.ensure_running()
            total = args.runs * len(args.scenario_list) * len(brokers)
            n = 0
            for rnd in range(1, args.runs + 1):
                for s in args.scenario_list:
                    for b in brokers:
                        n += 1
                        log(f"[{n}/{total}] round {rnd}, ({s.key}) {s.title} -> {b.label} ...")
                        r = run_perf(args, b, s, rnd, workdir)
                        failures |= not r.ok
                        results.append(r)
                        log(f"[{n}/{total}]   {b.label}: {describe(r)}")
            for b in brokers:
                b.stop()

        # --- scaling: ours alone, each worker count --------------------------------------------
        if args.scaling:
            trans = [s for s in args.scenario_list if s.transient]
            total = args.runs * len(args.scaling) * len(trans)
            n = 0
            for rnd in range(1, args.runs + 1):
                for w in args.scaling:
                    ours = Ours(workdir, args.binary, w)
                    live.append(ours)
                    ours.ensure_running()
                    for s in trans:
                        n += 1
                        log(f"[scaling {n}/{total}] round {rnd}, ({s.key}) -> {ours.label} ...")
                        r = run_perf(args, ours, s, rnd, workdir)
                        failures |= not r.ok
                        scaling.append(r)
                        log(f"[scaling {n}/{total}]   {describe(r)}; by kind: "
                            + ", ".join(f"{k} {fmt_num(r.steady_us_per_msg(k), 2)}" for k in ("router", "worker", "supervisor"))
                            + " µs/msg steady")
                    ours.stop()
    except Interrupted as e:
        log(f"interrupted ({e}); stopping the brokers")
        failures = True
        raise SystemExit(130)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for b in live:
            try:
                b.stop()
            except Exception as e:  # noqa: BLE001
                log(f"{b.label}: stop failed: {e}")
        if not epmd_before and any(c == "epmd" for _, c, _ in proc_table().values()):
            subprocess.run(["epmd", "-kill"], capture_output=True)  # refuses while nodes are registered
        if args.keep_tmp or failures:
            log(f"brokers' logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if results or scaling:
            ended = time.strftime("%Y-%m-%d %H:%M:%S %Z")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            write_report(args, info, command, args.scenario_list, args.brokers, results, scaling, started, ended,
                         [b for b in live if not isinstance(b, Ours)])
            log(f"report: {args.out}" + (f", chart: {args.svg}" if args.brokers else ""))
            if args.raw_json:
                args.raw_json.write_text(json.dumps({
                    "command": command, "machine": info, "started": started, "ended": ended,
                    "compare": [r.to_json() for r in results], "scaling": [r.to_json() for r in scaling]}, indent=1))
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    main(sys.argv[1:])
