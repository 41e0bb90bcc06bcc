"""Start N apps from one ecosystem file until all are online; then delete all."""
import os
import time

import ecosystem
from common import BenchError, children, log, record, wait_for
from managers import settle

NAME = "start"
TITLE = "Start and delete 100 apps"


def run(ctx):
    n = ctx.size(100, 10)
    eco = ecosystem.sleepers(os.path.join(ctx.work, "eco-sleepers.json"), n)
    keys = ["start_cli", "start_online", "delete_cli", "delete_gone"]
    vals = {k: {} for k in keys}
    raw = []
    for i in range(ctx.runs):
        for m in ctx.order(i):
            dpid = m.fresh()
            settle(1.0)
            t0 = time.monotonic()
            m.start_file(eco)
            t_cli = time.monotonic()
            # "online" as the manager reports it: jlist, back to back.
            m.wait_online(n, timeout=120)
            t_online = time.monotonic()
            running = len(children(dpid))
            if running < n:
                raise BenchError(f"{m.name}: {n} online but only {running} children")
            settle(1.0)
            t2 = time.monotonic()
            m.delete_all()
            t_del = time.monotonic()
            wait_for(lambda: not children(dpid), 60, interval=0.002,
                     what=f"{m.name}'s apps to exit")
            t_gone = time.monotonic()
            m.shutdown()
            row = {"start_cli": (t_cli - t0) * 1000, "start_online": (t_online - t0) * 1000,
                   "delete_cli": (t_del - t2) * 1000, "delete_gone": (t_gone - t2) * 1000}
            record(vals, raw, m.name, row, run=i + 1)
            log(f"start run {i + 1} {m.name}: online after {row['start_online']:.0f} ms, "
                f"gone after {row['delete_gone']:.0f} ms")
    return {
        "scenario": NAME, "title": TITLE.replace("100", str(n)),
        "what": (f"`start eco.json` with {n} `sleep` apps against a running, empty daemon: the "
                 f"time until the CLI returns, and until `jlist` (polled back to back) shows all "
                 f"{n} online. Then `delete all`: the time until the CLI returns, and until none "
                 f"of the apps is alive (the daemon has no children left, polled every 2 ms). "
                 f"PM2's jlist takes ~0.2 s, so its 'online' time can be late by up to one poll."),
        "params": {"apps": n},
        "metrics": [
            {"label": "start: CLI returns", "unit": "ms", "values": vals["start_cli"]},
            {"label": "start: all online (jlist)", "unit": "ms", "values": vals["start_online"]},
            {"label": "delete all: CLI returns", "unit": "ms", "values": vals["delete_cli"]},
            {"label": "delete all: every app gone", "unit": "ms", "values": vals["delete_gone"]},
        ],
        "raw": raw,
    }
