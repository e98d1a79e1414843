"""The live dashboard (issue 6), loaded in headless Chromium while a pika workload runs: the
rate chart has drawn live samples, the partition chart shows every worker, the queue table
lists the workload's queues with their depths and consumers, and the connections table the
workload's connections. A screenshot is saved in the test's tmp dir; with
BROKER_DASHBOARD_SCREENSHOT=Docs/dashboard.png it is also copied there for the documentation.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
messages ended by NUL on fds 3 and 4), with the standard library only: the test loads the
page, waits in real time until it has polled enough for its charts to hold live samples,
then takes the DOM and a screenshot of that same page. (--virtual-time-budget with
--dump-dom also works, but its fast-forwarded 2 s timers make polls a few milliseconds
apart in real time, so the rates it shows are noise.)"""
import base64
import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pika  # noqa: F401 (the workload's client: a missing pika fails here, not in its thread)
import pytest

from conftest import ROOT, Cluster, free_port, needs_own_broker, queues_on_distinct_partitions, wait_for

CHROMIUM_HINT = "apt-get install chromium (or run Deploy/install-deps.sh)"


def chromium_binary():
    """Chromium, or a failure with the install hint: a missing browser never skips the test."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    pytest.fail(f"headless Chromium is needed to test the dashboard and was not found: {CHROMIUM_HINT}")


@pytest.fixture(scope="module")
def telemetry_cluster():
    needs_own_broker("--enable-telemetry", "nothing: the dashboard is the broker's own page")
    port = free_port()
    cluster = Cluster(workers=3, extra_args=["--enable-telemetry", "--telemetry-port", str(port)])
    cluster.telemetry = f"http://127.0.0.1:{port}"
    yield cluster
    cluster.stop()


class Workload:
    """Publishes to three queues on three workers (the first one four times as often, so its
    partition is the hot one) and consumes them with acks, until stopped."""

    def __init__(self, cluster, queues):
        self.cluster = cluster
        self.queues = queues
        self.stop_event = threading.Event()
        self.published = 0
        self.consumed = 0
        self.error = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            publisher = self.cluster.connect()
            consumer = self.cluster.connect()
            pch = publisher.channel()
            cch = consumer.channel()
            for q in self.queues:
                pch.queue_declare(q)
                pch.queue_purge(q)
            cch.basic_qos(prefetch_count=100)

            def on_message(ch, method, properties, body):
                ch.basic_ack(method.delivery_tag)
                self.consumed += 1

            for q in self.queues:
                cch.basic_consume(q, on_message)
            self.ready.set()
            while not self.stop_event.is_set():
                for i, q in enumerate(self.queues):
                    for _ in range(4 if i == 0 else 1):
                        pch.basic_publish("", q, b"dashboard workload message")
                        self.published += 1
                publisher.process_data_events(0)
                consumer.process_data_events(0)
                time.sleep(0.002)
            consumer.close()
            publisher.close()
        except Exception as error:  # reported by the test, not lost in the thread
            self.error = error
            self.ready.set()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(20), "the workload did not start"
        assert self.error is None, f"workload failed: {self.error!r}"
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(20)


def api(cluster, path):
    request = urllib.request.Request(cluster.telemetry + path)
    request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ValueError):
        return None


class DashboardDOM(HTMLParser):
    """What the test reads from the dumped DOM: attributes and text by element id, and the
    rows (their data-* attributes and cell texts) of each table's tbody, by table id."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, text):
        super().__init__()
        self.by_id = {}
        self.rows = {}
        self.texts = {}
        self._table = None
        self._in_body = False
        self._row = None
        self._cell = None
        self._open = []  # (tag, id or None) of the open elements
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
            self.texts[attrs["id"]] = ""
        if tag not in self.VOID:
            self._open.append((tag, attrs.get("id")))
        if tag == "table":
            self._table = attrs.get("id")
            self.rows.setdefault(self._table, [])
        elif tag == "tbody" and self._table:
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = {"attrs": attrs, "cells": []}
        elif tag == "td" and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if any(open_tag == tag for open_tag, _ in self._open):
            while self._open and self._open.pop()[0] != tag:
                pass
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        for _, element_id in self._open:
            if element_id:
                self.texts[element_id] += data


def number(text):
    """The first figure in a text as the page prints it ("42,039", "publish 1.5/s"); None for "—"."""
    match = re.search(r"-?[0-9][0-9,]*(\.[0-9]+)?", text)
    return float(match.group(0).replace(",", "")) if match else None


class Browser:
    """Headless Chromium on a DevTools pipe: one page, commands answered in order."""

    def __init__(self, profile, width=1280, height=900):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        command = ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}',
                   chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
                   f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"]
        self.log = open(os.path.join(profile.parent, profile.name + ".log"), "w")
        self.process = subprocess.Popen(command, pass_fds=(to_browser_r, from_browser_w),
                                        stdout=self.log, stderr=self.log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def call(self, method, session=False, timeout=30, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            while b"\0" not in self.buffer:
                left = deadline - time.time()
                readable, _, _ = select.select([self.from_browser], [], [], max(0, left))
                assert readable, f"chromium did not answer {method} within {timeout} s"
                chunk = os.read(self.from_browser, 1 << 20)
                assert chunk, f"chromium exited (rc {self.process.poll()}); see {self.log.name}"
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:  # events and other replies are not waited for
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result["result"].get("value")

    def close(self):
        try:
            if self.process.poll() is None:
                self.call("Browser.close", timeout=10)
        except (AssertionError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        self.log.close()


LIVE = """(() => {
  const rate = Number(document.getElementById('rate-chart').dataset.points || 0);
  const parts = document.getElementById('partition-chart').dataset;
  return rate >= %d && Number(parts.points || 0) === Number(parts.partitions || -1) && Number(parts.partitions) > 0;
})()"""


def test_dashboard_renders_live_data_in_headless_chromium(telemetry_cluster, tmp_path):
    cluster = telemetry_cluster
    chromium_binary()
    queues = queues_on_distinct_partitions("dashboard", cluster.workers, 3)
    url = cluster.telemetry + "/dashboard#user=guest&password=guest"
    with Workload(cluster, queues) as workload:
        # The management API sees the workload before the browser looks.
        def queues_consumed():
            listed = {q["name"]: q for q in (api(cluster, "/api/queues") or [])}
            return all(q in listed and listed[q]["consumers"] >= 1 for q in queues) and workload.consumed > 100
        assert wait_for(queues_consumed), f"workload not visible in /api/queues: {api(cluster, '/api/queues')}"

        browser = Browser(tmp_path / "chromium-profile")
        try:
            browser.call("Page.navigate", session=True, url=url)
            # A poll every 2 s: seven polls (six rate samples) take about 12 s of real time.
            live = wait_for(lambda: browser.evaluate(LIVE % 6), timeout=45)
            dom_text = browser.evaluate("document.documentElement.outerHTML")
            shot = browser.call("Page.captureScreenshot", session=True, format="png")
            screenshot = tmp_path / "dashboard.png"
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        finally:
            browser.close()
        assert workload.error is None, f"workload failed: {workload.error!r}"

    (tmp_path / "dashboard.html").write_text(dom_text)
    dom = DashboardDOM(dom_text)
    where = f"(DOM saved at {tmp_path / 'dashboard.html'}, screenshot at {screenshot})"
    assert live, f"the dashboard did not show live data within 45 s {where}"

    # Health and polling.
    assert dom.by_id["status"].get("data-state") == "ok", f"status {dom.texts.get('status')!r} {where}"

    # The rate chart drew several live samples, and the workload's publishes show as a rate.
    rate_points = int(dom.by_id["rate-chart"].get("data-points", "0"))
    assert rate_points > 1, f"rate chart has {rate_points} points {where}"
    publish_rate = number(dom.texts.get("rate-publish", ""))
    assert publish_rate is not None and publish_rate > 0, f"publish rate {dom.texts.get('rate-publish')!r} {where}"

    # Three partitions, all up, with rates computed between polls.
    chart = dom.by_id["partition-chart"]
    assert chart.get("data-partitions") == "3", f"partition chart: {chart} {where}"
    assert int(chart.get("data-points", "0")) == 3, f"partition chart: {chart} {where}"
    partitions = dom.rows["partition-table"]
    assert [row["attrs"].get("data-partition") for row in partitions] == ["0", "1", "2"], where
    assert all(row["cells"][1] == "up" for row in partitions), partitions

    # Every workload queue, with non-negative depths and its consumer.
    shown = {row["attrs"].get("data-queue"): row["cells"] for row in dom.rows["queue-table"]}
    for q in queues:
        assert q in shown, f"queue {q} missing from the queue table: {sorted(k for k in shown if k)} {where}"
        name, vhost, partition, ready, unacked, total, consumers = shown[q]
        assert vhost == "/"
        assert number(partition) == cluster.partition_of(q)
        for depth in (ready, unacked, total):
            assert number(depth) is not None and number(depth) >= 0, f"{q}: {shown[q]}"
        assert number(consumers) >= 1, f"{q}: {shown[q]}"

    # The workload's two connections.
    connections = [row for row in dom.rows["connections-table"] if row["attrs"].get("data-connection")]
    assert len(connections) >= 2, f"connections table: {dom.rows['connections-table']} {where}"
    assert all(row["cells"][1] == "guest" for row in connections)

    # The screenshot, kept for the docs.
    with open(screenshot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    assert os.path.getsize(screenshot) > 20_000, "the screenshot looks blank"
    print(f"dashboard screenshot: {screenshot}")
    copy_to = os.environ.get("BROKER_DASHBOARD_SCREENSHOT")
    if copy_to:
        shutil.copyfile(screenshot, os.path.join(ROOT, copy_to))
        print(f"copied to {copy_to}")
