"""Crash recovery: kill -9 an instance of an HTTP app; time until a replacement
process runs and answers, seen from outside."""
import os
import signal
import statistics
import subprocess
import time

from common import APPS, BenchError, children, free_port, log, wait_for
from httpload import Prober, get_once
from managers import settle

NAME = "crash"
TITLE = "Crash recovery"
APP = os.path.join(APPS, "hello.js")


def bare_boot_ms(ctx, tries):
    """How long the app itself takes from exec to its first answer (no manager)."""
    times = []
    for _ in range(tries):
        port = free_port()
        env = {**ctx.env, "PORT": str(port)}
        t0 = time.monotonic()
        p = subprocess.Popen(["node", APP], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: get_once(port, 1.0), 20, interval=0.001, what="node to answer")
            times.append((time.monotonic() - t0) * 1000)
        finally:
            p.kill()
            p.wait()
    return times


def wait_answering(port, pids, timeout=30):
    """Until every pid in pids has answered at least once (new connections)."""
    seen = set()

    def check():
        for _ in range(20):
            try:
                seen.add(get_once(port, 1.0))
            except OSError:
                pass
        return pids <= seen
    wait_for(check, timeout, what=f"pids {sorted(pids)} to answer")


def one_kill(m, dpid, port, prober):
    procs = m.wait_online(2, timeout=30, name="crashy")
    old = {p["pid"] for p in procs}
    victim = min(procs, key=lambda p: p["pm_id"])["pid"]
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    t_run = t_ans = None
    deadline = t0 + 30
    while time.monotonic() < deadline and (t_run is None or t_ans is None):
        if t_run is None and any(c not in old for c in children(dpid)):
            t_run = time.monotonic()
        if t_ans is None:
            hit = prober.first_from(t0, old)
            if hit:
                t_ans = hit[0]
                if t_run is None:  # it answered before our /proc scan saw it
                    t_run = t_ans
        time.sleep(0.0005)
    if t_ans is None:
        raise BenchError(f"{m.name}: no replacement answered within 30 s")
    time.sleep(0.5)
    tally = prober.tally(t0, t_ans + 0.5)
    return {"victim": victim, "running_ms": (t_run - t0) * 1000, "answering_ms": (t_ans - t0) * 1000,
            "failed": tally["failed"], "errors": tally["errors"], "ok": tally["ok"]}


def run(ctx):
    kills = ctx.size(3, 1)
    keys = ["running_ms", "answering_ms", "overhead_ms", "failed"]
    vals = {k: {} for k in keys}
    boots = []
    raw = []
    for i in range(ctx.runs):
        boot = bare_boot_ms(ctx, ctx.size(3, 1))
        boots += boot
        boot_med = statistics.median(boot)
        for m in ctx.order(i):
            dpid = m.fresh()
            port = free_port()
            m.start_cluster(APP, "crashy", 2, {"PORT": str(port)})
            procs = m.wait_online(2, timeout=30, name="crashy")
            wait_answering(port, {p["pid"] for p in procs})
            settle(1.2)  # past min_uptime, so the kill counts as a normal crash
            with Prober(port, threads=2, timeout=2.0) as prober:
                for k in range(kills):
                    r = one_kill(m, dpid, port, prober)
                    r["overhead_ms"] = r["answering_ms"] - boot_med
                    for key in keys:
                        vals[key].setdefault(m.name, []).append(r[key])
                    raw.append({"run": i + 1, "kill": k + 1, "manager": m.name,
                                "bare_boot_ms": boot_med, **r})
                    log(f"crash run {i + 1} {m.name}: running after {r['running_ms']:.0f} ms, "
                        f"answering after {r['answering_ms']:.0f} ms, {r['failed']} failed")
                    settle(1.2)
            m.delete_all()
            m.shutdown()
    boot_txt = f"{statistics.median(boots):.0f} ms (median of {len(boots)})"
    return {
        "scenario": NAME, "title": TITLE,
        "what": ("A Node HTTP app (bench/apps/hello.js) runs as 2 cluster instances. A client "
                 "outside the managers opens a new connection per request, 2 at a time, and "
                 "notes which pid answered. The harness sends SIGKILL to instance 0 and "
                 "measures the time until a new child of the daemon exists (running) and until "
                 "a request is answered by a pid that did not exist before (answering). "
                 f"{kills} kill(s) per run, 1.2 s apart; cells are over all kills. "
                 "'Above the app's own start-up' subtracts the time node itself needs from exec "
                 f"to first answer on this machine, measured in the same run: {boot_txt}. "
                 "Failed requests count the client's errors from the kill until 0.5 s after "
                 "the replacement answered."),
        "params": {"instances": 2, "kills per run": kills, "app": "bench/apps/hello.js"},
        "metrics": [
            {"label": "kill -9 → replacement running", "unit": "ms", "values": vals["running_ms"]},
            {"label": "kill -9 → replacement answering", "unit": "ms",
             "values": vals["answering_ms"],
             "target": [{"op": "<=", "factor": 1 / 5, "ref": "pm2"}]},
            {"label": "… above the app's own start-up", "unit": "ms",
             "values": vals["overhead_ms"]},
            {"label": "failed requests per kill", "unit": "count", "values": vals["failed"]},
        ],
        "notes": [f"node hello.js alone, exec → first answer: {boot_txt}."],
        "raw": raw,
    }
