"""Updating the manager's daemon with 100 apps running (issue 17): `corral
update` (the daemon execs the binary on disk and takes every app over)
against `pm2 update` (PM2 saves the list, kills its daemon with every app,
starts a new daemon and resurrects them)."""
import os
import time

import ecosystem
from common import APPS, BenchError, free_port, log, record, wait_for
from httpload import Prober, get_once
from managers import settle

NAME = "update"
TITLE = "Update the daemon with 100 apps"
APP = os.path.join(APPS, "hello.js")


def run(ctx):
    n = ctx.size(100, 10)
    keys = ["cli_ms", "list_ms", "online_ms", "failed", "pids_changed"]
    vals = {k: {} for k in keys}
    raw = []
    for i in range(ctx.runs):
        for m in ctx.order(i):
            port = free_port()
            eco = ecosystem.write(os.path.join(ctx.work, f"eco-update-{m.name}.json"),
                                  [{"name": "web", "script": APP, "instances": 2,
                                    "exec_mode": "cluster", "env": {"PORT": str(port)}}] +
                                  [{"name": f"s{k}", "script": "/bin/sleep", "args": "86400",
                                    "interpreter": "none"} for k in range(n - 1)])
            m.fresh()
            m.start_file(eco)
            before = {p["name"] + str(p["pm_id"]): p["pid"] for p in m.wait_online(n + 1, 120)}
            wait_for(lambda: get_once(port, 1.0), 30, what="web to answer")
            settle(1.5)
            with Prober(port, threads=2, timeout=2.0) as prober:
                settle(0.5)
                t0 = time.monotonic()
                m.cli("update", timeout=300)
                t_cli = time.monotonic()
                m.cli("jlist")
                t_list = time.monotonic()
                after = m.wait_online(n + 1, 300)
                t_online = time.monotonic()
                settle(1.0)
            tally = prober.tally(t0 - 0.5, t_online + 1.0)
            now = {p["name"] + str(p["pm_id"]): p["pid"] for p in after}
            changed = sum(1 for k, pid in before.items() if now.get(k) != pid)
            if tally["ok"] == 0:
                raise BenchError(f"{m.name}: no request answered around the update")
            row = {"cli_ms": (t_cli - t0) * 1000, "list_ms": (t_list - t0) * 1000,
                   "online_ms": (t_online - t0) * 1000, "failed": tally["failed"],
                   "pids_changed": changed, "ok": tally["ok"], "errors": tally["errors"]}
            record(vals, raw, m.name, row, run=i + 1)
            log(f"update run {i + 1} {m.name}: list answered after {row['list_ms']:.0f} ms, all "
                f"online after {row['online_ms']:.0f} ms, {row['failed']} failed of "
                f"{row['failed'] + row['ok']}, {changed} pids changed")
            m.delete_all()
            m.shutdown()
    return {
        "scenario": NAME, "title": TITLE.replace("100", str(n)),
        "what": (f"{n} apps (a Node HTTP app with 2 cluster instances, and {n - 1} `sleep` apps), "
                 f"and a client opening a new connection per request (2 threads) to the HTTP "
                 f"app. Then `update`: the time until the CLI returns, until `jlist` answers "
                 f"after it, until every process is online again, the requests that failed from "
                 f"0.5 s before the update to 1 s after everything was online, and how many apps' "
                 f"pids changed. corral's update execs the same binary (a new build would do the "
                 f"same work); PM2's restarts every app."),
        "params": {"apps": n},
        "metrics": [
            {"label": "update: CLI returns", "unit": "ms", "values": vals["cli_ms"]},
            {"label": "update: jlist answers", "unit": "ms", "values": vals["list_ms"]},
            {"label": "update: every process online", "unit": "ms", "values": vals["online_ms"]},
            {"label": "failed requests", "unit": "", "values": vals["failed"],
             "target": [{"op": "==", "value": 0, "stat": "max"}]},
            {"label": "apps whose pid changed", "unit": "", "values": vals["pids_changed"]},
        ],
        "raw": raw,
    }
