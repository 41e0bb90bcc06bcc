"""CLI latency: wall time of list, jlist and describe with 1 and with N apps."""
import json
import os
import shlex
import shutil
import statistics
import subprocess
import time

import ecosystem
from common import BenchError, log
from managers import settle

NAME = "cli"
TITLE = "CLI latency"
COMMANDS = [("list", ["list"]), ("jlist", ["jlist"]), ("describe", ["describe", "s0"])]


def time_commands(m, commands, runs, warmup, out_json):
    """{label: median seconds} for each (label, argv) in commands."""
    if shutil.which("hyperfine") and all(" " not in a for _, argv in commands for a in argv):
        cmd = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
               "--export-json", out_json]
        for label, argv in commands:
            cmd += ["-n", label, shlex.join(argv)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=m.env, timeout=600)
        if r.returncode != 0:
            raise BenchError(f"hyperfine failed: {r.stderr[-500:]}")
        with open(out_json) as f:
            doc = json.load(f)
        return {res["command"]: res["median"] for res in doc["results"]}, "hyperfine"
    # Our own timing: fork/exec from Python adds ~0.5 ms, so prefer hyperfine.
    medians = {}
    for label, argv in commands:
        times = []
        for k in range(warmup + runs):
            t = time.perf_counter()
            r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=m.env)
            dt = time.perf_counter() - t
            if r.returncode != 0:
                raise BenchError(f"{label} failed ({r.returncode})")
            if k >= warmup:
                times.append(dt)
        medians[label] = statistics.median(times)
    return medians, "python subprocess timing"


def run(ctx):
    n = ctx.size(100, 10)
    one = ecosystem.sleepers(os.path.join(ctx.work, "eco-one.json"), 1)
    rest = ecosystem.write(os.path.join(ctx.work, "eco-rest.json"),
                           [{"name": f"s{i}", "script": "/bin/sleep", "args": "86400",
                             "interpreter": "none"} for i in range(1, n)])
    values = {}
    raw = []
    tool = None
    for i in range(ctx.runs):
        for m in ctx.order(i):
            fast = m.name == "corral"
            runs = ctx.size(30 if fast else 10, 5 if fast else 2)
            warmup = ctx.size(3, 1)
            m.fresh()
            for count, eco in ((1, one), (n, rest)):
                m.start_file(eco)
                m.wait_online(count, timeout=120)
                settle(1.0)
                cmds = [(f"{label} ({count} app{'s' if count > 1 else ''})", m.argv(*argv))
                        for label, argv in COMMANDS]
                out = os.path.join(ctx.work, f"hyperfine-{m.name}.json")
                medians, tool = time_commands(m, cmds, runs, warmup, out)
                for label, sec in medians.items():
                    values.setdefault(label, {}).setdefault(m.name, []).append(sec * 1000)
                    raw.append({"run": i + 1, "manager": m.name, "command": label,
                                "median_ms": sec * 1000, "timed_runs": runs})
                log(f"cli run {i + 1} {m.name} {count} apps: "
                    + ", ".join(f"{k.split()[0]} {v * 1000:.1f} ms" for k, v in medians.items()))
            m.delete_all()
            m.shutdown()
    target = [{"op": "<=", "factor": 1 / 50, "ref": "pm2"}]
    metrics = [{"label": label, "unit": "ms", "values": vals, "target": target}
               for label, vals in values.items()]
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"Wall time of one CLI command, from exec to exit, talking to a running daemon: "
                 f"`list` (the table), `jlist` (JSON) and `describe s0`, first with 1 app "
                 f"(`sleep`) and then with {n}. Each run times every command many times "
                 f"({tool}, after warm-up runs) and keeps the median; the table shows the median "
                 f"and spread of those per-run medians. Output goes to /dev/null."),
        "params": {"apps": n, "timing": tool,
                   "timed runs per command": f"corral {ctx.size(30, 5)}, PM2 {ctx.size(10, 2)}"},
        "metrics": metrics,
        "raw": raw,
    }
