"""Daemon footprint: resident memory of the idle daemon and with N apps
running; for corral, of the daemon and of the daemon with its keeper."""
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
    both = {m.name: [] for m in ctx.managers}
    both_loaded = {m.name: [] for m in ctx.managers}
    raw = []

    def total_kb(m, pid):
        return sum(rss_kb(p) for p in [pid] + m.companion_pids())

    for i in range(ctx.runs):
        for m in ctx.order(i):
            pid = m.fresh()
            settle(1.0)
            r_idle, p_idle = rss_kb(pid), pss_kb(pid)
            t_idle = total_kb(m, pid)
            m.start_file(eco)
            m.wait_online(n, timeout=120)
            settle(2.0)
            r_load, p_load = rss_kb(pid), pss_kb(pid)
            t_load = total_kb(m, pid)
            m.delete_all()
            m.shutdown()
            log(f"footprint run {i + 1} {m.name}: idle {r_idle} kB, {n} apps {r_load} kB")
            idle[m.name].append(r_idle / 1024)
            loaded[m.name].append(r_load / 1024)
            both[m.name].append(t_idle / 1024)
            both_loaded[m.name].append(t_load / 1024)
            idle_pss[m.name].append(p_idle / 1024 if p_idle else None)
            loaded_pss[m.name].append(p_load / 1024 if p_load else None)
            raw.append({"run": i + 1, "manager": m.name, "daemon_pid": pid,
                        "rss_idle_kb": r_idle, "rss_loaded_kb": r_load,
                        "rss_with_companions_idle_kb": t_idle,
                        "rss_with_companions_loaded_kb": t_load,
                        "pss_idle_kb": p_idle, "pss_loaded_kb": p_load})
    target = [{"op": "<=", "factor": 1 / 20, "ref": "pm2"}]
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"Resident memory (VmRSS) of the daemon alone: started fresh and idle for 1 s, "
                 f"then with {n} `sleep` apps started from one ecosystem file, all online, "
                 f"2 s later. PM2's daemon is its God process (PM2_HOME/pm2.pid); the apps "
                 f"themselves are not counted for either. PSS (shared pages split among the "
                 f"processes that map them) is given too, since most of a small daemon's RSS is "
                 f"shared libc. corral's daemon runs with a keeper (its parent, which holds "
                 f"the apps' descriptors so they survive the daemon's death): the rows "
                 f"\"with its keeper\" add the keeper's RSS (PM2 has no such process)."),
        "params": {"apps": n, "app": "/bin/sleep 86400 (interpreter none)"},
        "metrics": [
            {"label": "daemon RSS, idle", "unit": "MB", "values": idle, "target": target},
            {"label": f"daemon RSS, {n} apps", "unit": "MB", "values": loaded, "target": target},
            {"label": "daemon RSS with its keeper, idle", "unit": "MB", "values": both,
             "target": target},
            {"label": f"daemon RSS with its keeper, {n} apps", "unit": "MB",
             "values": both_loaded, "target": target},
            {"label": "daemon PSS, idle", "unit": "MB", "values": idle_pss},
            {"label": f"daemon PSS, {n} apps", "unit": "MB", "values": loaded_pss},
        ],
        "raw": raw,
    }
