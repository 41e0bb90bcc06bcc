"""The live dashboard: `corral monit` against `pm2 monit`, each open for a
while in a tmux window over N running apps. What it costs the daemon (its
CPU time with the dashboard open, less its CPU time idle over as long), what
the dashboard itself burns, and, for corral, how soon a key press shows."""
import os
import shutil
import subprocess
import time

import ecosystem
from common import BenchError, children, cpu_ns, log, median, wait_for
from managers import settle

NAME = "monit"
TITLE = "Live dashboard (monit)"


class Window:
    """One tmux server of ours, one window running the dashboard."""

    def __init__(self, m, work, argv, cols=160, rows=48):
        self.sock = os.path.join(work, f"tmux-{m.name}.sock")
        self.env = {**m.env, "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        self.env.pop("NO_COLOR", None)
        self.tmux("new-session", "-d", "-x", str(cols), "-y", str(rows),
                  " ".join(argv))
        self.pane_pid = int(self.tmux("display-message", "-p", "#{pane_pid}").strip())

    def tmux(self, *args):
        r = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, env=self.env, timeout=30)
        if r.returncode != 0:
            raise BenchError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def screen(self):
        return self.tmux("capture-pane", "-p")

    def tree_ns(self):
        """CPU time (ns) of the pane's process and all its descendants."""
        todo, total, seen = [self.pane_pid], 0, set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            total += cpu_ns(pid)
            todo.extend(children(pid))
        return total

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True,
                       env=self.env, timeout=30)


def key_latency_ms(win, n):
    """corral: the time from sending Down (or Up) to the screen showing the
    next selection's log pane title, n times; the medians in ms. It
    includes tmux's own send-keys and capture-pane round trips."""
    times = []
    for i in range(n):
        key, want = ("Down", "logs: s1 [1]") if i % 2 == 0 else ("Up", "logs: s0 [0]")
        t0 = time.monotonic()
        win.tmux("send-keys", key)
        wait_for(lambda: want in win.screen(), 10, interval=0.001,
                 what=f"{want!r} after {key}")
        times.append((time.monotonic() - t0) * 1000)
    return times


def run(ctx):
    if not shutil.which("tmux"):
        raise BenchError("tmux is missing (apt-get install tmux)")
    n = ctx.size(100, 10)
    window_s = ctx.size(30, 5)
    eco = ecosystem.sleepers(os.path.join(ctx.work, "eco-monit.json"), n)
    added = {m.name: [] for m in ctx.managers}
    idle = {m.name: [] for m in ctx.managers}
    own = {m.name: [] for m in ctx.managers}
    keys = {"corral": []}
    raw = []
    for i in range(ctx.runs):
        for m in ctx.order(i):
            dpid = m.fresh()
            m.start_file(eco)
            m.wait_online(n, timeout=120)
            settle(2.0)
            t0, d0 = time.monotonic(), cpu_ns(dpid)
            time.sleep(window_s)
            idle_ns = cpu_ns(dpid) - d0
            idle_s = time.monotonic() - t0
            win = Window(m, ctx.work, m.argv("monit"))
            try:
                ready = "connected to the daemon" if m.name == "corral" else "s0"
                wait_for(lambda: ready in win.screen(), 30, interval=0.05,
                         what=f"{m.name} monit on screen")
                settle(2.0)   # its start-up is not what is measured
                t0, d0, w0 = time.monotonic(), cpu_ns(dpid), win.tree_ns()
                time.sleep(window_s)
                open_ns = cpu_ns(dpid) - d0
                mon_ns = win.tree_ns() - w0
                open_s = time.monotonic() - t0
                lat = key_latency_ms(win, ctx.size(20, 4)) if m.name == "corral" else []
            finally:
                win.close()
            # CPU time per window_s of wall time, in ms.
            idle_ms = idle_ns / 1e6 * window_s / idle_s
            open_ms = open_ns / 1e6 * window_s / open_s
            mon_ms = mon_ns / 1e6 * window_s / open_s
            idle[m.name].append(idle_ms)
            added[m.name].append(max(open_ms - idle_ms, 0.0))
            own[m.name].append(mon_ms)
            if lat:
                keys["corral"].append(median(lat))
            log(f"monit run {i + 1} {m.name}: daemon {idle_ms:.0f} ms idle, {open_ms:.0f} ms "
                f"with monit open ({window_s} s), monit itself {mon_ms:.0f} ms"
                + (f", key → screen median {median(lat):.1f} ms" if lat else ""))
            raw.append({"run": i + 1, "manager": m.name, "window_s": window_s,
                        "daemon_cpu_idle_ms": idle_ms, "daemon_cpu_open_ms": open_ms,
                        "monit_cpu_ms": mon_ms, "key_latency_ms": lat})
            m.delete_all()
            m.shutdown()
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"{n} `sleep` apps run; the manager's dashboard (`corral monit`, "
                 f"`pm2 monit`) is open in a detached 160x48 tmux window for {window_s} s, "
                 f"2 s after it first showed. The daemon's CPU time (user + system) over "
                 f"those {window_s} s (the kernel's scheduler clock of the process, in ns, not "
                 f"/proc's 10 ms ticks), less its CPU time over {window_s} s idle just before "
                 f"(same apps, no dashboard), is what the dashboard costs the daemon; the "
                 f"dashboard's own CPU time is that of the window's process tree. Key → "
                 f"screen (corral only): Down or Up sent with `tmux send-keys` until "
                 f"`tmux capture-pane` shows the log pane of the next selection, the "
                 f"median of {ctx.size(20, 4)} presses per run, tmux's own round trips "
                 f"included."),
        "params": {"apps": n, "window": f"{window_s} s", "terminal": "tmux 160x48"},
        "metrics": [
            {"label": f"daemon CPU added by an open dashboard, per {window_s} s", "unit": "ms",
             "values": added, "target": [{"op": "<=", "factor": 1 / 20, "ref": "pm2"}]},
            {"label": f"dashboard's own CPU, per {window_s} s", "unit": "ms", "values": own,
             "target": [{"op": "<=", "factor": 1 / 10, "ref": "pm2"}]},
            {"label": f"daemon CPU idle (no dashboard), per {window_s} s", "unit": "ms",
             "values": idle},
            {"label": "key press → on screen", "unit": "ms", "values": keys,
             "target": [{"op": "<=", "value": 50.0}]},
        ],
        "raw": raw,
    }
