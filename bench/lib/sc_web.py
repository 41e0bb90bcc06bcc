"""corral web (issue 14): what the HTTP server costs with 100 apps × 2
instances. PM2 has no server of its own: next to it, PM2 with pm2-metrics
(npm; a maintained fork of pm2-prometheus-exporter, installed into
bench/pm2 when the scenario runs), an extra process that asks PM2's daemon
for its list at each scrape; its /metrics latency and the memory of that
process. (pm2-prom-module, named in the issue, is not on the registry.)

In each run, on a fresh daemon with the apps online:

  RSS ..................... the daemon's VmRSS before `web start`, and after
                            the scrapes below (the server on, used)
  /metrics, cold .......... one scrape a second (as Prometheus at 1 s), each
                            sampling every instance: time to the last byte
  /metrics, warm .......... back-to-back scrapes (figures sampled < 1 s ago)
  daemon CPU .............. over a window with a scrape every second and a
                            dashboard's event stream open, less the same
                            window idle (web on, nobody asking)
"""
import http.client
import os
import socket
import subprocess
import threading
import time

import ecosystem
from common import PM2_PREFIX, BenchError, cpu_seconds, free_port, record, rss_kb, wait_for
from managers import settle

EXPORTER = os.path.join(PM2_PREFIX, "node_modules", "pm2-metrics", "exporter.js")
EXPORTER_PORT = 9209    # pm2-metrics' own, outside a module's config

NAME = "web"
TITLE = "corral web: /metrics latency, daemon memory and CPU with the server on"


def scrape(port):
    """Milliseconds to fetch /metrics on a new connection; its size."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise BenchError(f"/metrics answered {r.status}")
    return (time.monotonic() - t0) * 1000, len(body)


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


class Stream:
    """An open /api/v1/events?logs=1 (what the dashboard holds), read and
    discarded by a thread."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(b"GET /api/v1/events?logs=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.t = threading.Thread(target=self.drain, daemon=True)
        self.t.start()

    def drain(self):
        try:
            while self.s.recv(65536):
                pass
        except OSError:
            pass

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()
        self.t.join(5)


def one_run(ctx, m, eco, n, window_s, scrapes):
    dpid = m.fresh()
    m.start_file(eco)
    m.wait_online(n, timeout=300)
    settle(3.0)
    # corral serves from its daemon: no exporter process, none of its memory.
    row = {"rss_off_mb": rss_kb(dpid) / 1024, "exporter_rss_mb": 0.0}
    port = free_port()
    m.cli("web", "start", "--listen", f"127.0.0.1:{port}")
    settle(1.0)
    cold, size = [], 0
    for _ in range(scrapes):
        time.sleep(1.05)        # every figure older than the sampler's second
        ms, size = scrape(port)
        cold.append(ms)
    warm = [scrape(port)[0] for _ in range(scrapes)]
    row["metrics_cold_ms"] = median(cold)
    row["metrics_warm_ms"] = median(warm)
    row["metrics_kb"] = size / 1024
    settle(2.0)
    row["rss_on_mb"] = rss_kb(dpid) / 1024
    c0, t0 = cpu_seconds(dpid), time.monotonic()
    time.sleep(window_s)
    idle = (cpu_seconds(dpid) - c0) / (time.monotonic() - t0) * window_s
    stream = Stream(port)
    try:
        c0, t0 = cpu_seconds(dpid), time.monotonic()
        while time.monotonic() - t0 < window_s:
            scrape(port)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0) % 1.0))
        busy = (cpu_seconds(dpid) - c0) / (time.monotonic() - t0) * window_s
    finally:
        stream.close()
    row["cpu_idle_ms"] = idle * 1000
    row["cpu_scraped_ms"] = busy * 1000
    row["rss_after_mb"] = rss_kb(dpid) / 1024
    m.cli("web", "stop")
    m.delete_all()
    m.shutdown()
    return row


def pm2_run(ctx, m, eco, n, scrapes):
    """PM2 and pm2-metrics: the same apps, the same scrapes."""
    dpid = m.fresh()
    m.start_file(eco)
    m.wait_online(n, timeout=300)
    m.cli("start", EXPORTER, "--name", "exporter")
    procs = wait_for(lambda: [p for p in m.procs() if p["name"] == "exporter" and p["pid"]],
                     60, what="pm2-metrics")
    epid = procs[0]["pid"]
    wait_for(lambda: scrape(EXPORTER_PORT), 60, interval=0.2, what="pm2-metrics to answer")
    settle(2.0)
    cold = []
    for _ in range(scrapes):
        time.sleep(1.05)
        cold.append(scrape(EXPORTER_PORT)[0])
    warm = [scrape(EXPORTER_PORT)[0] for _ in range(scrapes)]
    row = {"metrics_cold_ms": median(cold), "metrics_warm_ms": median(warm),
           "metrics_kb": scrape(EXPORTER_PORT)[1] / 1024, "rss_on_mb": rss_kb(dpid) / 1024,
           "exporter_rss_mb": rss_kb(epid) / 1024}
    m.delete_all()
    m.shutdown()
    return row


def run(ctx):
    m = ctx.manager("corral")
    pm2 = ctx.manager("pm2")
    if pm2 and not os.path.exists(EXPORTER):
        r = subprocess.run(["npm", "install", "--prefix", PM2_PREFIX, "--no-audit", "--no-fund",
                            "--loglevel=error", "pm2-metrics@1.0.47"], check=False)
        if r.returncode != 0:
            pm2 = None
    apps = ctx.size(100, 10)
    n = apps * 2
    window_s = ctx.size(30, 5)
    scrapes = ctx.size(15, 3)
    eco = ecosystem.write(os.path.join(ctx.work, "eco-web.json"), [
        {"name": f"s{i}", "script": "/bin/sleep", "args": "86400", "interpreter": "none",
         "instances": 2, "exec_mode": "fork"} for i in range(apps)])
    keys = ["rss_off_mb", "rss_on_mb", "rss_after_mb", "metrics_cold_ms", "metrics_warm_ms",
            "metrics_kb", "cpu_idle_ms", "cpu_scraped_ms", "exporter_rss_mb"]
    vals = {k: {} for k in keys}
    raw = []
    for i in range(ctx.runs):
        for mm in ctx.order(i):
            if mm is m:
                row = one_run(ctx, m, eco, n, window_s, scrapes)
            elif mm is pm2:
                row = pm2_run(ctx, pm2, eco, n, scrapes)
            else:
                continue
            record(vals, raw, mm.name, row, run=i + 1)
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"{apps} `sleep` apps × 2 instances ({n} processes). The daemon's VmRSS "
                 f"before `corral web start` and after {2 * scrapes} scrapes; /metrics "
                 f"fetched on a new connection, time to the last byte: 'cold' one a second "
                 f"(every instance's process tree read in /proc, as under Prometheus "
                 f"scraping every second), 'warm' back to back (figures under a second "
                 f"old); the daemon's CPU time over {window_s} s with a scrape every "
                 f"second and an open event stream (a dashboard: a sample of every "
                 f"instance every 2 s), next to {window_s} s with the server on and idle. "
                 f"PM2 has no HTTP server of its own: PM2's column is pm2-metrics 1.0.47 "
                 f"(npm), started under PM2 as one more process, scraped the same way; "
                 f"its RSS row is PM2's daemon, and the exporter's own memory is a row of "
                 f"its own."),
        "params": {"apps": apps, "instances": n, "window": f"{window_s} s",
                   "scrapes": scrapes},
        "metrics": [
            {"label": "/metrics, cold (every instance sampled)", "unit": "ms",
             "values": vals["metrics_cold_ms"], "target": [{"op": "<=", "value": 5.0}]},
            {"label": "/metrics, warm", "unit": "ms", "values": vals["metrics_warm_ms"]},
            {"label": "/metrics size", "unit": "KB", "values": vals["metrics_kb"]},
            {"label": "the exporter process's RSS (PM2: pm2-metrics; corral: none, 0)",
             "unit": "MB", "values": vals["exporter_rss_mb"]},
            {"label": "daemon RSS, web off", "unit": "MB", "values": vals["rss_off_mb"]},
            {"label": "daemon RSS, web on after scrapes", "unit": "MB",
             "values": vals["rss_on_mb"], "target": [{"op": "<=", "value": 5.0}]},
            {"label": "daemon RSS after the scraped window", "unit": "MB",
             "values": vals["rss_after_mb"]},
            {"label": f"daemon CPU, {window_s} s, web on, idle", "unit": "ms",
             "values": vals["cpu_idle_ms"]},
            {"label": f"daemon CPU, {window_s} s, scraped every second + a dashboard stream",
             "unit": "ms", "values": vals["cpu_scraped_ms"]},
        ],
        "raw": raw,
    }
