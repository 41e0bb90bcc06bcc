"""Crash recovery: kill -9 an instance of an HTTP app; time until a replacement
process runs and answers, seen from outside.

Two apps: the headline is a Node app in cluster mode (what PM2 users run),
where node's own start-up is most of the time; the second is a C server that
is ready within a millisecond of exec, run as one fork-mode instance under
both managers, so its numbers are the managers' own restart latency."""
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
QUICK_SRC = os.path.join(APPS, "quickhttp.c")


def build_quick(ctx):
    """Compile the fast-starting C app into the run's work directory."""
    out = os.path.join(ctx.work, "quickhttp")
    r = subprocess.run(["cc", "-O2", "-o", out, QUICK_SRC], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"cc {QUICK_SRC}: {r.stderr.strip()[-400:]}")
    return out


def bare_boot_ms(ctx, argv, tries):
    """How long the app itself takes from exec to its first answer (no manager)."""
    times = []
    for _ in range(tries):
        port = free_port()
        env = {**ctx.env, "PORT": str(port)}
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: get_once(port, 1.0), 20, interval=0.001,
                     what=f"{argv[0]} to answer")
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


def one_kill(m, dpid, port, prober, instances):
    procs = m.wait_online(instances, timeout=30, name="crashy")
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


def measure(ctx, i, m, start, instances, boot_med, kills, vals, raw, label):
    """One manager, one run: start the app, kill -9 instance 0 `kills` times."""
    dpid = m.fresh()
    port = free_port()
    start(m, port)
    procs = m.wait_online(instances, timeout=30, name="crashy")
    wait_answering(port, {p["pid"] for p in procs})
    settle(1.2)  # past min_uptime, so the kill counts as a normal crash
    with Prober(port, threads=2, timeout=2.0) as prober:
        for k in range(kills):
            r = one_kill(m, dpid, port, prober, instances)
            r["overhead_ms"] = r["answering_ms"] - boot_med
            for key, v in vals.items():
                v.setdefault(m.name, []).append(r[key])
            raw.append({"run": i + 1, "kill": k + 1, "app": label, "manager": m.name,
                        "bare_boot_ms": boot_med, **r})
            log(f"crash run {i + 1} {label} {m.name}: running after {r['running_ms']:.0f} ms, "
                f"answering after {r['answering_ms']:.0f} ms, {r['failed']} failed")
            settle(1.2)
    m.delete_all()
    m.shutdown()


def run(ctx):
    kills = ctx.size(3, 1)
    keys = ["running_ms", "answering_ms", "overhead_ms", "failed"]
    node = {k: {} for k in keys}
    quick = {k: {} for k in keys}
    boots, qboots = [], []
    raw = []
    quick_bin = build_quick(ctx)

    def start_node(m, port):
        m.start_cluster(APP, "crashy", 2, {"PORT": str(port)})

    def start_quick(m, port):
        m.start_binary(quick_bin, "crashy", {"PORT": str(port)})

    for i in range(ctx.runs):
        boot = bare_boot_ms(ctx, ["node", APP], ctx.size(3, 1))
        qboot = bare_boot_ms(ctx, [quick_bin], ctx.size(3, 1))
        boots += boot
        qboots += qboot
        for m in ctx.order(i):
            measure(ctx, i, m, start_node, 2, statistics.median(boot), kills, node, raw, "node")
            measure(ctx, i, m, start_quick, 1, statistics.median(qboot), kills, quick, raw,
                    "quickhttp")
    boot_txt = f"{statistics.median(boots):.0f} ms (median of {len(boots)})"
    qboot_txt = f"{statistics.median(qboots):.1f} ms (median of {len(qboots)})"
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
                 "the replacement answered. The same is then measured with a C server that "
                 f"answers {qboot_txt} after exec (bench/apps/quickhttp.c), run as one "
                 "fork-mode instance binding the port itself under both managers: there the "
                 "time is the manager's own, and requests fail while no instance is up."),
        "params": {"instances": "2 (node, cluster), 1 (quickhttp, fork)",
                   "kills per run": kills, "apps": "bench/apps/hello.js, bench/apps/quickhttp.c"},
        "metrics": [
            {"label": "kill -9 → replacement running", "unit": "ms", "values": node["running_ms"]},
            {"label": "kill -9 → replacement answering", "unit": "ms",
             "values": node["answering_ms"],
             "target": [{"op": "<=", "factor": 1 / 5, "ref": "pm2"}]},
            {"label": "… above the app's own start-up", "unit": "ms",
             "values": node["overhead_ms"]},
            {"label": "failed requests per kill", "unit": "count", "values": node["failed"]},
            {"label": "fast-start app: kill -9 → replacement running", "unit": "ms",
             "values": quick["running_ms"]},
            {"label": "fast-start app: kill -9 → replacement answering", "unit": "ms",
             "values": quick["answering_ms"],
             "target": [{"op": "<=", "factor": 1 / 5, "ref": "pm2"}]},
        ],
        "notes": [f"node hello.js alone, exec → first answer: {boot_txt}.",
                  f"quickhttp alone, exec → first answer: {qboot_txt}."],
        "raw": raw,
    }
