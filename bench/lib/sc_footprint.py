"""Daemon footprint: resident memory of the idle daemon and with N apps running."""
import os

import ecosystem
from common import log, pss_kb, rss_kb
from managers import settle

NAME = "footprint"
TITLE = "Daemon footprint"


def run(ctx):
    n = ctx.size(100, 10)
    eco = ecosystem.sleepers(os.path.join(ctx.work, "eco-sleepers.json"), n)
    idle = {m.name: [] for m in ctx.managers}
    loaded = {m.name: [] for m in ctx.managers}
    idle_pss = {m.name: [] for m in ctx.managers}
    loaded_pss = {m.name: [] for m in ctx.managers}
    raw = []
    for i in range(ctx.runs):
        for m in ctx.order(i):
            pid = m.fresh()
            settle(1.0)
            r_idle, p_idle = rss_kb(pid), pss_kb(pid)
            m.start_file(eco)
            m.wait_online(n, timeout=120)
            settle(2.0)
            r_load, p_load = rss_kb(pid), pss_kb(pid)
            m.delete_all()
            m.shutdown()
            log(f"footprint run {i + 1} {m.name}: idle {r_idle} kB, {n} apps {r_load} kB")
            idle[m.name].append(r_idle / 1024)
            loaded[m.name].append(r_load / 1024)
            idle_pss[m.name].append(p_idle / 1024 if p_idle else None)
            loaded_pss[m.name].append(p_load / 1024 if p_load else None)
            raw.append({"run": i + 1, "manager": m.name, "daemon_pid": pid,
                        "rss_idle_kb": r_idle, "rss_loaded_kb": r_load,
                        "pss_idle_kb": p_idle, "pss_loaded_kb": p_load})
    target = [{"op": "<=", "factor": 1 / 20, "ref": "pm2"}]
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"Resident memory (VmRSS) of the daemon alone: started fresh and idle for 1 s, "
                 f"then with {n} `sleep` apps started from one ecosystem file, all online, "
                 f"2 s later. PM2's daemon is its God process (PM2_HOME/pm2.pid); the apps "
                 f"themselves are not counted for either. PSS (shared pages split among the "
                 f"processes that map them) is given too, since most of a small daemon's RSS is "
                 f"shared libc."),
        "params": {"apps": n, "app": "/bin/sleep 86400 (interpreter none)"},
        "metrics": [
            {"label": "daemon RSS, idle", "unit": "MB", "values": idle, "target": target},
            {"label": f"daemon RSS, {n} apps", "unit": "MB", "values": loaded, "target": target},
            {"label": "daemon PSS, idle", "unit": "MB", "values": idle_pss},
            {"label": f"daemon PSS, {n} apps", "unit": "MB", "values": loaded_pss},
        ],
        "raw": raw,
    }
