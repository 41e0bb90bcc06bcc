"""Cluster mode: a Node hello-world app, 2 instances, wrk.

Variants, all started at the beginning, each on its own port (corral's four
are four apps of one daemon), and measured in turn in every run:
  corral --lb even | sticky | least-busy | shared
  PM2 cluster mode (-i 2; Node's cluster module, round robin in PM2's daemon)
  the limit: 2 copies of the app with no manager, on SO_REUSEPORT sockets set
  up by hand (limit-reuseport) or on one shared socket (limit-shared).

For each: wrk with keep-alive and with `Connection: close` (req/s, p99,
per-instance share from the app's own counters), then, for corral and PM2, a
reload and a kill -9 under a separate client that opens a new connection per
request and counts failures.
"""
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

from common import (APPS, CLK_TCK, BenchError, children, cpu_ticks, free_port, kill_marked, log,
                    system_ticks, wait_for)
from httpload import Prober, get_once, run_wrk
from managers import settle

NAME = "cluster"
TITLE = "Cluster mode: Node hello world, 2 instances"
APP = os.path.join(APPS, "hello.js")
STRATEGIES = ["even", "sticky", "least-busy", "shared"]
VARIANTS = [f"corral-{s}" for s in STRATEGIES] + ["pm2", "limit-reuseport", "limit-shared"]
INSTANCES = 2


def read_counts(d):
    out = {}
    for f in os.listdir(d):
        try:
            with open(os.path.join(d, f)) as fh:
                out[f] = int(fh.read().strip() or 0)
        except (OSError, ValueError):
            pass
    return out


def shares(before, after):
    """Per-pid share (%) of the requests served between two counter snapshots."""
    # pids that served nothing (replaced ones, whose files stay) do not count
    delta = {p: after[p] - before.get(p, 0) for p in after if after[p] > before.get(p, 0)}
    total = sum(delta.values())
    if total <= 0:
        return []
    return sorted((100.0 * v / total for v in delta.values()), reverse=True)


def share_text(sh):
    if not sh:
        return "–"
    while len(sh) < INSTANCES:
        sh = sh + [0.0]
    return "/".join(f"{x:.0f}" for x in sh)


def wait_all_answer(port, n, timeout=30):
    """Until n distinct pids answer (new connections from varied source addresses)."""
    seen = set()

    def check():
        for k in range(32):
            try:
                seen.add(get_once(port, 1.0, f"127.0.0.{1 + k % 16}"))
            except OSError:
                pass
        return len(seen) >= n and seen
    return wait_for(check, timeout, what=f"{n} instances to answer on port {port}")


class Target:
    """One variant. Every variant is started before the first measurement and
    stays up until the last, so that the runs can take turns quickly: within
    one run all variants are measured within a couple of minutes."""

    def __init__(self, ctx, variant):
        self.ctx = ctx
        self.variant = variant
        self.kind, _, self.mode = variant.partition("-")
        self.name = f"web-{self.mode}" if self.kind == "corral" else "web"
        self.port = free_port()
        self.counts = os.path.join(ctx.work, "counts", variant)
        os.makedirs(self.counts, exist_ok=True)
        self.manager = ctx.manager(self.kind) if self.kind in ("corral", "pm2") else None
        self.launcher = None

    def start(self, fresh):
        env = {"PORT": str(self.port), "BENCH_COUNT_DIR": self.counts}
        if self.manager:
            if fresh:
                self.manager.fresh()
            self.manager.start_cluster(APP, self.name, INSTANCES, env,
                                       lb=self.mode if self.kind == "corral" else None)
            self.manager.wait_online(INSTANCES, timeout=30, name=self.name)
        else:
            self.launcher = subprocess.Popen(
                [sys.executable, os.path.join(APPS, "limit.py"), self.mode, str(INSTANCES),
                 str(self.port), "--", "node", APP],
                env={**self.ctx.env, **env, "BENCH_TAG": self.ctx.limit_tag},
                stdout=subprocess.DEVNULL, start_new_session=True)
        wait_all_answer(self.port, INSTANCES)

    def parent(self):
        """The process whose children serve: the daemon or the launcher."""
        return self.manager.daemon_pid() if self.manager else self.launcher.pid

    def pids(self):
        if self.manager:
            return {p["pid"] for p in self.manager.procs() if p["name"] == self.name}
        return set(children(self.launcher.pid))

    def stop(self):
        if self.launcher:
            self.launcher.send_signal(signal.SIGTERM)
            try:
                self.launcher.wait(10)
            except subprocess.TimeoutExpired:
                pass
            kill_marked(f"BENCH_TAG={self.ctx.limit_tag}")


QUIET_PCT = 25  # others' CPU share above which a measurement is retried


def load(t, duration, close, tries):
    """A wrk run measured while the rest of the machine is quiet enough: up to
    `tries` attempts, keeping the first with others' CPU ≤ QUIET_PCT, else the
    quietest. Every variant gets the same rule."""
    attempts = []
    for _ in range(tries):
        w = load_once(t, duration, close)
        attempts.append(w)
        if w["foreign_cpu_pct"] <= QUIET_PCT:
            break
    best = min(attempts, key=lambda w: w["foreign_cpu_pct"])
    best["attempts"] = len(attempts)
    best["discarded"] = [{"rps": w["rps"], "foreign_cpu_pct": w["foreign_cpu_pct"]}
                         for w in attempts if w is not best]
    return best


def load_once(t, duration, close):
    """One wrk run, with the instances' shares and where the CPU time went."""
    before = read_counts(t.counts)
    parent = t.parent()
    kids = children(parent)
    parent0, kids0 = cpu_ticks(parent), sum(cpu_ticks(k) for k in kids)
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = system_ticks()
    w = run_wrk(t.port, duration, close=close)
    busy1, total1 = system_ticks()
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    parent1, kids1 = cpu_ticks(parent), sum(cpu_ticks(k) for k in kids)
    wrk_s = (wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)
    ours_s = wrk_s + (parent1 - parent0 + kids1 - kids0) / CLK_TCK
    span = max(total1 - total0, 1)
    # What the rest of the machine (other users, kernel threads) took, as a
    # share of all cores: the noise indicator of this measurement.
    w["foreign_cpu_pct"] = max(0.0, 100.0 * ((busy1 - busy0) - ours_s * CLK_TCK) / span)
    w["daemon_cpu_s"] = (parent1 - parent0) / CLK_TCK if t.manager else None
    w["app_cpu_s"] = (kids1 - kids0) / CLK_TCK
    w["wrk_cpu_s"] = wrk_s
    if w["requests"]:
        w["daemon_us_per_req"] = (w["daemon_cpu_s"] * 1e6 / w["requests"]
                                  if w["daemon_cpu_s"] is not None else None)
        w["server_us_per_req"] = ((parent1 - parent0 + kids1 - kids0) / CLK_TCK
                                  * 1e6 / w["requests"])
    time.sleep(0.5)  # the app flushes its counter every 200 ms
    w["shares"] = shares(before, read_counts(t.counts))
    return w


def reload_test(t):
    """Failures seen by a new-connection-per-request client across a reload."""
    m = t.manager
    old = t.pids()
    with Prober(t.port, threads=2) as prober:
        time.sleep(0.5)
        t0 = time.monotonic()
        r = m.cli("reload", t.name, check=False, timeout=120)
        t1 = time.monotonic()
        procs = m.wait_online(INSTANCES, timeout=30, name=t.name)
        time.sleep(1.0)
    new = {p["pid"] for p in procs}
    tally = prober.tally()
    return {"failed": tally["failed"], "ok": tally["ok"], "errors": tally["errors"],
            "reload_ms": (t1 - t0) * 1000, "reload_rc": r.returncode,
            "all_replaced": not (old & new), "old": sorted(old), "new": sorted(new)}


def kill_test(t):
    m = t.manager
    procs = m.wait_online(INSTANCES, timeout=30, name=t.name)
    old = {p["pid"] for p in procs}
    victim = min(procs, key=lambda p: p["pm_id"])["pid"]
    with Prober(t.port, threads=2) as prober:
        time.sleep(0.5)
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        hit = None
        deadline = t0 + 20
        while hit is None and time.monotonic() < deadline:
            hit = prober.first_from(t0, old)
            time.sleep(0.002)
        time.sleep(0.5)
    tally = prober.tally()
    if hit is None:
        raise BenchError(f"{t.variant}: no replacement answered within 20 s of kill -9")
    return {"failed": tally["failed"], "ok": tally["ok"], "errors": tally["errors"],
            "back_ms": (hit[0] - t0) * 1000}


def run(ctx):
    duration = ctx.size(8, 2)
    tries = ctx.size(3, 1)
    variants = [v for v in VARIANTS if ctx.wants_variant(v)]
    data = {v: [] for v in variants}
    raw = []
    targets = []
    try:
        started = set()
        for v in variants:
            t = Target(ctx, v)
            targets.append(t)
            t.start(fresh=t.kind not in started)
            started.add(t.kind)
        settle(1.0)
        for i in range(ctx.runs):
            shift = i % len(targets)
            for t in targets[shift:] + targets[:shift]:
                row = {"run": i + 1, "variant": t.variant, "loadavg_1min": os.getloadavg()[0]}
                row["keepalive"] = load(t, duration, False, tries)
                row["close"] = load(t, duration, True, tries)
                if t.manager:
                    row["reload"] = reload_test(t)
                    settle(1.2)  # past min_uptime before the crash
                    row["kill"] = kill_test(t)
                    settle(1.2)
                data[t.variant].append(row)
                raw.append(row)
                log(f"cluster run {i + 1} {t.variant}: keep-alive {row['keepalive']['rps']:,.0f} "
                    f"req/s (p99 {row['keepalive']['p99_ms']} ms, "
                    f"{share_text(row['keepalive']['shares'])}), close {row['close']['rps']:,.0f} "
                    f"req/s (p99 {row['close']['p99_ms']} ms, {share_text(row['close']['shares'])}), "
                    f"others' CPU {row['close']['foreign_cpu_pct']:.0f}%"
                    + (f", reload failed {row['reload']['failed']}, kill -9 failed "
                       f"{row['kill']['failed']}" if "reload" in row else ""))
    finally:
        for t in targets:
            t.stop()
        for m in ctx.managers:
            m.shutdown()
    return build(ctx, variants, data, raw, duration)


def series(data, v, *path):
    out = []
    for row in data.get(v, []):
        x = row
        for p in path:
            x = x.get(p) if isinstance(x, dict) else None
        out.append(x)
    return out


def build(ctx, variants, data, raw, duration):
    has_pm2 = "pm2" in data
    limits = [v for v in variants if v.startswith("limit")]

    def limit_best(kind):
        """Per run, the better of the two hand-made setups."""
        per_run = [series(data, v, kind, "rps") for v in limits]
        return [max(x for x in col if x is not None) for col in zip(*per_run)] if per_run else []

    metrics = []
    for s in STRATEGIES:
        v = f"corral-{s}"
        if v not in data:
            continue
        vals = {"corral": series(data, v, "close", "rps")}
        target = []
        if has_pm2:
            vals["pm2"] = series(data, "pm2", "close", "rps")
            target.append({"op": ">=", "factor": 2.5, "ref": "pm2"})
        if limits:
            vals["limit"] = limit_best("close")
            target.append({"op": ">=", "factor": 0.9, "ref": "limit"})
        metrics.append({"label": f"`Connection: close` req/s, lb={s}", "unit": "req/s",
                        "values": vals, "target": target})
    for s in STRATEGIES:
        v = f"corral-{s}"
        if v not in data:
            continue
        vals = {"corral": series(data, v, "keepalive", "rps")}
        target = []
        if has_pm2:
            vals["pm2"] = series(data, "pm2", "keepalive", "rps")
            target.append({"op": ">=", "factor": 1, "ref": "pm2"})
        if limits:
            vals["limit"] = limit_best("keepalive")
        metrics.append({"label": f"keep-alive req/s, lb={s}", "unit": "req/s", "values": vals,
                        "target": target})
    for s in STRATEGIES:
        v = f"corral-{s}"
        if v not in data:
            continue
        vals = {"corral": series(data, v, "reload", "failed")}
        if has_pm2:
            vals["pm2"] = series(data, "pm2", "reload", "failed")
        metrics.append({"label": f"failed requests during reload, lb={s}", "unit": "count",
                        "values": vals, "target": [{"op": "==", "value": 0, "stat": "max"}]})
    for s in STRATEGIES:
        v = f"corral-{s}"
        if v not in data:
            continue
        vals = {"corral": series(data, v, "kill", "failed")}
        if has_pm2:
            vals["pm2"] = series(data, "pm2", "kill", "failed")
        metrics.append({"label": f"failed requests during kill -9, lb={s}", "unit": "count",
                        "values": vals})
    # CPU per request is far less sensitive to other load than req/s.
    for s in STRATEGIES:
        v = f"corral-{s}"
        if v not in data:
            continue
        vals = {"corral": series(data, v, "close", "server_us_per_req")}
        if has_pm2:
            vals["pm2"] = series(data, "pm2", "close", "server_us_per_req")
        if limits:
            vals["limit"] = [min(x for x in col if x is not None) for col in
                             zip(*[series(data, lv, "close", "server_us_per_req")
                                   for lv in limits])]
        metrics.append({"label": f"server CPU per `Connection: close` request, lb={s}",
                        "unit": "µs", "values": vals})

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    def f0(x):
        return "–" if x is None else f"{x:,.0f}".replace(",", " ")

    def f1(x):
        return "–" if x is None else f"{x:.1f}"

    def share_med(v, kind):
        rows = [r[kind]["shares"] for r in data[v] if r.get(kind, {}).get("shares")]
        if not rows:
            return "–"
        cols = []
        for k in range(INSTANCES):
            cols.append(statistics.median((r + [0.0] * INSTANCES)[k] for r in rows))
        return "/".join(f"{c:.0f}" for c in cols)

    def t_managed(v):
        return not v.startswith("limit")

    detail = []
    for v in variants:
        detail.append([v, f0(med(series(data, v, "keepalive", "rps"))),
                       f1(med(series(data, v, "keepalive", "p99_ms"))),
                       share_med(v, "keepalive"),
                       f0(med(series(data, v, "close", "rps"))),
                       f1(med(series(data, v, "close", "p99_ms"))),
                       share_med(v, "close"),
                       f0(med(series(data, v, "reload", "failed"))) if data[v] and "reload" in data[v][0] else "n/a",
                       f0(med(series(data, v, "reload", "reload_ms"))) if data[v] and "reload" in data[v][0] else "n/a",
                       f0(med(series(data, v, "kill", "failed"))) if data[v] and "kill" in data[v][0] else "n/a",
                       f0(med(series(data, v, "kill", "back_ms"))) if data[v] and "kill" in data[v][0] else "n/a",
                       f1(med(series(data, v, "close", "daemon_us_per_req"))) if t_managed(v) else "n/a",
                       f1(med(series(data, v, "close", "server_us_per_req"))),
                       f0(med(series(data, v, "close", "foreign_cpu_pct")))])
    tables = [{"title": "Every variant (medians over the runs)",
               "header": ["variant", "keep-alive req/s", "p99 ms", "share %", "close req/s",
                          "p99 ms", "share %", "reload: failed", "reload ms", "kill -9: failed",
                          "kill -9: back after ms", "daemon µs/req (close)",
                          "server µs/req (close)", "others' CPU %"],
               "rows": detail}]

    # Paired comparison of the candidate defaults: ratios within the same run.
    cands = [f"corral-{s}" for s in ("even", "least-busy", "shared") if f"corral-{s}" in data]
    if len(cands) > 1:
        rows = []
        for kind in ("close", "keepalive"):
            best = max(cands, key=lambda v: med(series(data, v, kind, "rps")) or 0)
            for v in cands:
                ratios = [a / b for a, b in zip(series(data, v, kind, "rps"),
                                                  series(data, best, kind, "rps")) if a and b]
                rows.append([kind.replace("keepalive", "keep-alive"), v.split("-", 1)[1],
                             f0(med(series(data, v, kind, "rps"))),
                             f"{med(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})"
                             if ratios else "–",
                             "best" if v == best else ""])
        tables.append({"title": "Choosing the default strategy",
                       "text": ("Each strategy divided by the one with the highest median, "
                                "run by run (paired, so load that hits a whole run cancels "
                                "out): median ratio (min–max); above 1 in a run means it beat "
                                "that one there. "
                                "`sticky` is left out: it hashes the client address, and wrk "
                                "connects from one address only, so one instance gets all "
                                "the load."),
                       "header": ["load", "lb", "median req/s", "÷ best, same run", ""],
                       "rows": rows})
    notes = [
        "The load generator (wrk, 2 threads, 64 connections) runs on the same 2 cores as the "
        "app, so absolute numbers are low and noisy; compare ratios within a run.",
        "`limit` in the main table is, per run, the better of limit-reuseport and limit-shared.",
        "CPU per request, during the `Connection: close` run: daemon = the manager's daemon "
        "alone (PM2's accepts every connection itself), server = daemon + instances (+ the "
        "limit's launcher), i.e. what serving one request costs. Less sensitive to other load "
        "than req/s.",
        f"Others' CPU: the share of both cores used during a wrk run by processes outside the "
        f"benchmark (other users of the machine). A run with more than {QUIET_PCT} % is "
        f"repeated (up to {ctx.size(3, 1)} tries) and the quietest try is kept, for every "
        "variant alike; the raw JSON keeps the discarded tries.",
        "Share: the requests each instance served during the wrk run, from the app's own "
        "counters, largest first.",
        "Reload/kill -9: a separate client (2 threads, a new connection per request, from "
        "127.0.0.1–16) runs from 0.5 s before until 1 s after the reload (0.5 s after the "
        "replacement first answered, for kill -9); failed = connection refused/reset, timeouts "
        "(2 s) and non-200 answers. Requests in flight inside the killed process are lost for "
        "every manager.",
    ]
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"bench/apps/hello.js (Node's hello world, answering with its pid) as "
                 f"{INSTANCES} instances on one port. wrk -t2 -c64 -d{duration}s, once with "
                 f"keep-alive and once with `Connection: close` (a new TCP connection per "
                 f"request). corral runs each lb strategy; PM2 runs its cluster mode; the limit "
                 f"is the same app with no manager on sockets set up by hand."),
        "params": {"instances": INSTANCES, "wrk": f"-t2 -c64 -d{duration}s --latency",
                   "variants": ", ".join(variants)},
        "metrics": metrics, "tables": tables, "notes": notes, "raw": raw,
    }
