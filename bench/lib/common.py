"""What every scenario needs: paths, /proc readers, waiting, statistics.

Nothing here knows about corral or PM2; see managers.py for those.
"""
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import time

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(BENCH)
APPS = os.path.join(BENCH, "apps")
PM2_PREFIX = os.path.join(BENCH, "pm2")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class BenchError(Exception):
    """A scenario could not be measured (a manager misbehaved, a timeout)."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_for(cond, timeout, interval=0.01, what="condition"):
    """Poll cond() until it returns something truthy; BenchError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = cond()
        except (OSError, ValueError, BenchError):
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- /proc ----

def proc_status_kb(pid, field):
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM...), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """User + system CPU time of pid (not its children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    """Pids of the live children of pid (all its threads)."""
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    found.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        return []
    return [p for p in found if alive(p)]


def pids_with(marker):
    """Live processes whose environment contains marker (the run's tag)."""
    found = []
    mark = marker.encode()
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if mark in env and alive(int(d)):
            found.append(int(d))
    return found


def kill_marked(marker, grace_s=3.0):
    """SIGTERM, then SIGKILL, whatever still carries marker. Returns the pids."""
    left = pids_with(marker)
    if not left:
        return []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and pids_with(marker):
            time.sleep(0.05)
        if not pids_with(marker):
            break
    return left


# ---- statistics ----

def record(vals, raw, manager, row, **tags):
    """Add one run's row of figures: each key of row to vals[key][manager],
    and the row (with tags such as run=) to raw."""
    for k, v in row.items():
        if k in vals:
            vals[k].setdefault(manager, []).append(v)
    raw.append({**tags, "manager": manager, **row})


def summary(values):
    """median, min, max, q1, q3 and n of a list of numbers (None values dropped)."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    if len(v) >= 4:
        q = statistics.quantiles(v, n=4)
        q1, q3 = q[0], q[2]
    else:
        q1, q3 = v[0], v[-1]
    return {"median": statistics.median(v), "min": v[0], "max": v[-1],
            "q1": q1, "q3": q3, "n": len(v)}


def median(values):
    s = summary(values)
    return s["median"] if s else None


# ---- the machine ----

def sh(cmd, timeout=20):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (r.stdout or r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def corral_commit():
    head = sh(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"])
    if not head:
        return "unknown"
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--",
                "src", "Makefile"])
    return head + ("-dirty" if dirty else "")


def pm2_version():
    try:
        with open(os.path.join(PM2_PREFIX, "node_modules", "pm2", "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


def machine_info():
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    os_name = None
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    wrk = sh(["wrk", "--version"])
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory_mb": mem_kb // 1024 if mem_kb else None,
        "os": os_name,
        "kernel": platform.release(),
        "node": sh(["node", "--version"]),
        "pm2": pm2_version(),
        "corral_commit": corral_commit(),
        "python": platform.python_version(),
        "wrk": " ".join(wrk.split()[:2]) if wrk else None,
        "hyperfine": sh(["hyperfine", "--version"]),
        "loadavg_at_start": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def cpu_ns(pid):
    """User + system CPU time of pid's whole thread group in ns, from the
    kernel's scheduler clock (clock_gettime on the process's CPU clock):
    exact, where /proc's utime and stime count 10 ms ticks. 0 if it is gone."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)   # MAKE_PROCESS_CPUCLOCK(pid, SCHED)
    except OSError:
        return 0


def cpu_ticks(pid):
    """utime + stime of pid in clock ticks, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def system_ticks():
    """(busy, total) clock ticks of the whole machine since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:9]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)
