"""corral at scale (issue 12): a thousand apps, and a cluster of 256 instances.

Part one, side by side: corral, PM2 and the limit (bench/apps/spawnlimit.c:
posix_spawn of the same 1000 processes, each in its own session, then
SIGTERM to each group and reap) with 1000 `/bin/sleep` apps started from
one ecosystem file. In each run, for each manager in turn, on a fresh
daemon:

  start the file .......... until the CLI returns (and until jlist shows all online)
  list, jlist ............. median of a few, the apps online
  RSS ..................... the daemon's VmRSS after 5 s idle
  idle CPU ................ the daemon's CPU seconds over 60 idle seconds
  save, stop all .......... until the CLI returns (and until no app is alive)
  restart all ............. (brings them back for the next step; reported)
  delete all .............. until the CLI returns (and until no app is alive)
  resurrect ............... from the save, until the CLI returns

Part two, corral only: a cluster app of 256 instances of bench/apps/
quickhttp.c (a C server that binds its port itself, through corral's
broker) under a client that opens a new connection per request; a reload of
all 256, then `scale 8` and `scale 256`, counting failed requests; the
times of those and of `list`. PM2 cannot run it: its cluster mode is Node's
cluster module, and 256 fork-mode copies of a server that binds its own port
collide on it.
"""
import json
import os
import subprocess
import time

import ecosystem
from common import (APPS, BenchError, alive, children, cpu_seconds, free_port, log, record,
                    rss_kb, wait_for)
from httpload import Prober, get_once
from managers import settle

NAME = "scale"
TITLE = "corral at scale: 1000 apps, and 256 cluster instances"
LIMIT_SRC = os.path.join(APPS, "spawnlimit.c")
QUICK_SRC = os.path.join(APPS, "quickhttp.c")
TIMED_LISTS = 5


def build(ctx, src, name):
    out = os.path.join(ctx.work, name)
    r = subprocess.run(["cc", "-O2", "-o", out, src], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"cc {src}: {r.stderr.strip()[-400:]}")
    return out


def timed(fn):
    t0 = time.monotonic()
    fn()
    return (time.monotonic() - t0) * 1000


def none_alive(pids):
    return not any(alive(p) for p in pids)


def limit_run(ctx, exe, n):
    """One run of the limit: start and stop times in ms."""
    r = subprocess.run([exe, str(n), "/bin/sleep", "86400"], capture_output=True, text=True,
                       env={**ctx.env, "BENCH_TAG": ctx.limit_tag}, timeout=300)
    if r.returncode != 0:
        raise BenchError(f"spawnlimit: {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def one_manager(ctx, m, eco, n, idle_s, row):
    dpid = m.fresh()
    settle(1.0)
    row["start"] = timed(lambda: m.start_file(eco))
    t_cli = time.monotonic()
    procs = m.wait_online(n, timeout=300)
    row["start_online"] = row["start"] + (time.monotonic() - t_cli) * 1000
    pids = [p["pid"] for p in procs]
    settle(2.0)
    row["list"] = sorted(timed(lambda: m.cli("list")) for _ in range(TIMED_LISTS))[TIMED_LISTS // 2]
    row["jlist"] = sorted(timed(lambda: m.cli("jlist")) for _ in range(TIMED_LISTS))[TIMED_LISTS // 2]
    settle(5.0)
    row["rss_mb"] = rss_kb(dpid) / 1024
    c0 = cpu_seconds(dpid)
    time.sleep(idle_s)
    row["idle_cpu_s"] = cpu_seconds(dpid) - c0
    m.cli("save", *(["--force"] if m.name == "corral" else []))
    t0 = time.monotonic()
    m.cli("stop", "all")
    row["stop"] = (time.monotonic() - t0) * 1000
    wait_for(lambda: none_alive(pids), 120, interval=0.002, what=f"{m.name}'s apps to stop")
    row["stop_gone"] = (time.monotonic() - t0) * 1000
    row["restart"] = timed(lambda: m.cli("restart", "all"))
    pids = [p["pid"] for p in m.wait_online(n, timeout=300)]
    settle(2.0)
    t0 = time.monotonic()
    m.delete_all()
    row["delete"] = (time.monotonic() - t0) * 1000
    wait_for(lambda: none_alive(pids), 120, interval=0.002, what=f"{m.name}'s apps to go")
    row["delete_gone"] = (time.monotonic() - t0) * 1000
    settle(1.0)
    row["resurrect"] = timed(lambda: m.cli("resurrect"))
    m.wait_online(n, timeout=300)
    m.delete_all()
    wait_for(lambda: not children(dpid), 120, interval=0.01, what=f"{m.name}'s apps to go")
    m.shutdown()


def thousand(ctx, raw):
    n = ctx.size(1000, 50)
    idle_s = ctx.size(60, 5)
    eco = ecosystem.sleepers(os.path.join(ctx.work, "eco-1000.json"), n)
    limit = build(ctx, LIMIT_SRC, "spawnlimit")
    keys = ["start", "start_online", "list", "jlist", "rss_mb", "idle_cpu_s", "stop",
            "stop_gone", "restart", "delete", "delete_gone", "resurrect"]
    vals = {k: {} for k in keys}
    for i in range(ctx.runs):
        for m in ctx.order(i):
            row = {}
            one_manager(ctx, m, eco, n, idle_s, row)
            record(vals, raw, m.name, row, part="1000 apps", run=i + 1)
            log(f"scale run {i + 1} {m.name}: start {row['start']:.0f} ms, stop "
                f"{row['stop']:.0f} ms, delete {row['delete']:.0f} ms, resurrect "
                f"{row['resurrect']:.0f} ms, RSS {row['rss_mb']:.1f} MB, idle CPU "
                f"{row['idle_cpu_s']:.2f} s")
        lim = limit_run(ctx, limit, n)
        for k, v in (("start", lim["start_ms"]), ("resurrect", lim["start_ms"]),
                     ("stop", lim["stop_ms"]), ("delete", lim["stop_ms"])):
            vals[k].setdefault("limit", []).append(v)
        raw.append({"part": "1000 apps", "run": i + 1, "manager": "limit", **lim})
        log(f"scale run {i + 1} limit: start {lim['start_ms']:.0f} ms, stop {lim['stop_ms']:.0f} ms")
    both = [{"op": "<=", "factor": 1 / 10, "ref": "pm2"}, {"op": "<=", "factor": 3, "ref": "limit"}]
    tenth = [{"op": "<=", "factor": 1 / 10, "ref": "pm2"}]
    metrics = [
        {"label": f"start {n} apps: CLI returns", "unit": "ms", "values": vals["start"],
         "target": both},
        {"label": "start: all online (jlist)", "unit": "ms", "values": vals["start_online"]},
        {"label": f"list ({n} apps)", "unit": "ms", "values": vals["list"], "target": tenth},
        {"label": f"jlist ({n} apps)", "unit": "ms", "values": vals["jlist"], "target": tenth},
        {"label": "stop all: CLI returns", "unit": "ms", "values": vals["stop"], "target": both},
        {"label": "stop all: every app gone", "unit": "ms", "values": vals["stop_gone"]},
        {"label": "restart all (stopped → online)", "unit": "ms", "values": vals["restart"]},
        {"label": "delete all: CLI returns", "unit": "ms", "values": vals["delete"],
         "target": both},
        {"label": "delete all: every app gone", "unit": "ms", "values": vals["delete_gone"]},
        {"label": f"resurrect {n} apps: CLI returns", "unit": "ms", "values": vals["resurrect"],
         "target": both},
        {"label": f"daemon RSS, idle, {n} apps", "unit": "MB", "values": vals["rss_mb"],
         "target": [{"op": "<=", "factor": 1 / 20, "ref": "pm2"}]},
        {"label": f"daemon CPU over {idle_s} idle s, {n} apps", "unit": "s",
         "values": vals["idle_cpu_s"], "target": tenth},
    ]
    return n, idle_s, metrics


def cluster(ctx, raw):
    corral = ctx.manager("corral")
    n = ctx.size(256, 16)
    small = max(2, n // 32)
    quick = build(ctx, QUICK_SRC, "quickhttp")
    keys = ["start_online", "list", "reload", "scale_down", "scale_up", "requests", "failed",
            "cpu"]
    vals = {k: {"corral": []} for k in keys}
    rows = []
    for i in range(ctx.runs):
        port = free_port()
        corral.fresh()
        t0 = time.monotonic()
        corral.cli("start", quick, "--name", "big", "-i", n, "--interpreter", "none",
                   env={"PORT": str(port)})
        corral.wait_online(n, timeout=120, name="big")
        vals["start_online"]["corral"].append((time.monotonic() - t0) * 1000)
        wait_for(lambda: get_once(port, 1.0), 30, what="the cluster to answer")
        vals["list"]["corral"].append(
            sorted(timed(lambda: corral.cli("list")) for _ in range(TIMED_LISTS))[TIMED_LISTS // 2])
        dpid = corral.daemon_pid()
        with Prober(port, threads=4) as prober:
            time.sleep(1.0)
            c0, t0 = cpu_seconds(dpid), time.monotonic()
            t_reload = timed(lambda: corral.cli("reload", "big"))
            t_down = timed(lambda: corral.cli("scale", "big", small))
            t_up = timed(lambda: corral.cli("scale", "big", n))
            corral.wait_online(n, timeout=120, name="big")
            time.sleep(1.0)
            cpu_share = (cpu_seconds(dpid) - c0) / (time.monotonic() - t0) * 100
        tally = prober.tally()
        for k, v in (("reload", t_reload), ("scale_down", t_down), ("scale_up", t_up),
                     ("requests", tally["ok"] + tally["failed"]), ("failed", tally["failed"]),
                     ("cpu", cpu_share)):
            vals[k]["corral"].append(v)
        rows.append([i + 1, f"{t_reload:.0f}", f"{t_down:.0f}", f"{t_up:.0f}",
                     tally["ok"] + tally["failed"], tally["failed"],
                     ", ".join(f"{k}: {v}" for k, v in tally["errors"].items()) or "–",
                     len(tally["per_pid"])])
        raw.append({"part": f"cluster {n}", "run": i + 1, "reload_ms": t_reload,
                    "scale_down_ms": t_down, "scale_up_ms": t_up, "daemon_cpu_pct": cpu_share,
                    **tally})
        log(f"scale run {i + 1} cluster {n}: reload {t_reload:.0f} ms, scale {n}→{small} "
            f"{t_down:.0f} ms, →{n} {t_up:.0f} ms, {tally['failed']} of "
            f"{tally['ok'] + tally['failed']} requests failed")
        corral.shutdown()
    metrics = [
        {"label": f"cluster of {n}: start until all online", "unit": "ms",
         "values": vals["start_online"]},
        {"label": f"cluster of {n}: list", "unit": "ms", "values": vals["list"]},
        {"label": f"cluster of {n}: reload of all, under load", "unit": "ms",
         "values": vals["reload"]},
        {"label": f"cluster: scale {n} → {small}, under load", "unit": "ms",
         "values": vals["scale_down"]},
        {"label": f"cluster: scale {small} → {n}, under load", "unit": "ms",
         "values": vals["scale_up"]},
        {"label": "cluster: requests during reload and scale", "unit": "count",
         "values": vals["requests"]},
        {"label": "cluster: failed requests", "unit": "count", "values": vals["failed"],
         "target": [{"op": "==", "value": 0, "stat": "max"}]},
        {"label": "cluster: daemon CPU meanwhile, % of a core", "unit": "%",
         "values": vals["cpu"]},
    ]
    table = {"title": f"Cluster of {n} quickhttp instances, per run",
             "header": ["run", "reload (ms)", f"scale → {small} (ms)", f"scale → {n} (ms)",
                        "requests", "failed", "errors", "pids that answered"],
             "rows": rows}
    return n, metrics, table


def run(ctx):
    raw = []
    napps, idle_s, metrics = thousand(ctx, raw)
    ninst, cmetrics, table = cluster(ctx, raw)
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"{napps} apps of `/bin/sleep 86400` (`interpreter: none`) from one ecosystem "
                 f"file, corral and PM2 in turn on a fresh daemon each, and the limit: "
                 f"bench/apps/spawnlimit.c starts the same {napps} processes with posix_spawn, "
                 f"each in its own session, then sends each group SIGTERM and reaps them (its "
                 f"start is the floor for `start` and `resurrect`, its stop for `stop all` and "
                 f"`delete all`). Times are until the CLI returns (corral's `stop` and `delete` "
                 f"return once every process is gone; the 'every app gone' rows poll /proc for "
                 f"both). `list` and `jlist`: the median of {TIMED_LISTS}, output to a pipe. RSS "
                 f"after 5 s idle with the {napps} apps online; CPU: the daemon's user+system "
                 f"seconds over {idle_s} idle seconds. Then a cluster app of {ninst} instances of "
                 f"bench/apps/quickhttp.c (corral only: PM2's cluster mode is Node's), a reload "
                 f"of all of them and a scale down and up again while a client opens a new "
                 f"connection per request (4 threads), counting every failure."),
        "params": {"apps": napps, "app": "/bin/sleep 86400 (interpreter none)",
                   "cluster instances": ninst, "idle seconds": idle_s,
                   "timed lists": TIMED_LISTS},
        "metrics": metrics + cmetrics,
        "tables": [table],
        "raw": raw,
    }
