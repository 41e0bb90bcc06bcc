"""Log throughput: W processes write L lines of 100 bytes each as fast as they can."""
import os
import re
import time
import zlib

import ecosystem
from common import BenchError, cpu_seconds, log, rss_kb, wait_for
from managers import settle

NAME = "logs"
TITLE = "Log throughput"
LINE_BYTES = 100
LINE_RE = re.compile(rb"^w(\d+) (\d{8}) ([0-9a-f]+) ([0-9a-f]{8})$")


def check_file(path, wid, lines):
    """(good, damaged, duplicates, missing) for one writer's log file."""
    seen = bytearray(lines)
    good = damaged = dup = 0
    with open(path, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\n")
            m = LINE_RE.match(line) if len(raw) == LINE_BYTES and raw.endswith(b"\n") else None
            if not m or m.group(1) != wid.encode() or \
                    int(m.group(4), 16) != zlib.crc32(line[:-9]):
                damaged += 1
                continue
            seq = int(m.group(2))
            if seq >= lines:
                damaged += 1
            elif seen[seq]:
                dup += 1
            else:
                seen[seq] = 1
                good += 1
    return good, damaged, dup, lines - good


def one_burst(ctx, m, writers, lines, eco, sync):
    for f in os.listdir(sync):
        os.unlink(os.path.join(sync, f))
    dpid = m.fresh()
    m.start_file(eco)
    procs = m.wait_online(writers, timeout=60)
    paths = {p["name"][1:]: p["out_log"] for p in procs}
    wait_for(lambda: len([f for f in os.listdir(sync) if f.startswith("ready-")]) == writers,
             120, interval=0.01, what="the writers to build their lines")
    settle(0.5)
    expected = writers * lines * LINE_BYTES
    rss0 = rss_kb(dpid)
    cpu0 = cpu_seconds(dpid)
    peak = rss0
    timeout = ctx.size(180, 60)

    def size():
        total = 0
        for p in paths.values():
            try:
                total += os.stat(p).st_size
            except OSError:
                pass
        return total
    base = size()  # start-up messages, if a manager writes any
    open(os.path.join(sync, "go"), "w").close()
    t0 = time.monotonic()
    last_size, last_change = base, t0
    stalled = False
    while True:
        now = time.monotonic()
        r = rss_kb(dpid)
        if r:
            peak = max(peak, r)
        s = size()
        if s != last_size:
            last_size, last_change = s, now
        if s - base >= expected:
            break
        if now - last_change > 5 or now - t0 > timeout:
            stalled = True
            break
        time.sleep(0.005)
    t1 = last_change
    cpu = cpu_seconds(dpid) - cpu0
    os.unlink(os.path.join(sync, "go"))  # the writers exit
    good = damaged = dup = missing = 0
    for wid, p in paths.items():
        g, d, u, miss = check_file(p, wid, lines)
        good, damaged, dup, missing = good + g, damaged + d, dup + u, missing + miss
    m.delete_all()
    m.shutdown()
    secs = max(t1 - t0, 1e-6)
    return {"seconds": secs, "lines_per_s": good / secs, "mb_per_s": good * LINE_BYTES / secs / 1e6,
            "lost": missing, "damaged": damaged, "duplicated": dup, "stalled": stalled,
            "daemon_cpu_s": cpu, "rss_before_mb": rss0 / 1024, "rss_peak_mb": peak / 1024,
            "rss_growth_mb": (peak - rss0) / 1024}


def run(ctx):
    writers, lines = 4, ctx.size(250_000, 20_000)
    sync = os.path.join(ctx.work, "logsync")
    os.makedirs(sync, exist_ok=True)
    eco = ecosystem.log_writers(os.path.join(ctx.work, "eco-logs.json"), writers, lines, sync)
    keys = ["lines_per_s", "seconds", "lost", "damaged", "daemon_cpu_s", "rss_peak_mb",
            "rss_growth_mb"]
    vals = {k: {} for k in keys}
    raw = []
    for i in range(ctx.runs):
        for m in ctx.order(i):
            r = one_burst(ctx, m, writers, lines, eco, sync)
            for k in keys:
                vals[k].setdefault(m.name, []).append(r[k])
            raw.append({"run": i + 1, "manager": m.name, **r})
            log(f"logs run {i + 1} {m.name}: {r['seconds']:.2f} s, {r['lines_per_s']:,.0f} lines/s, "
                f"lost {r['lost']}, damaged {r['damaged']}, cpu {r['daemon_cpu_s']:.2f} s, "
                f"rss {r['rss_before_mb']:.1f} → {r['rss_peak_mb']:.1f} MB"
                + (" (stalled)" if r["stalled"] else ""))
    total = writers * lines
    return {
        "scenario": NAME, "title": TITLE,
        "what": (f"{writers} processes (bench/apps/logwriter.py, fork mode) each write {lines:,} "
                 f"lines of {LINE_BYTES} bytes ({total * LINE_BYTES / 1e6:.0f} MB in all) to "
                 "stdout in 64 KiB blocks as fast as the pipe takes them, all starting at the "
                 "same moment. Measured: the time from the start signal until the log files "
                 "hold every byte (file sizes polled every 5 ms; if they stop growing for 5 s "
                 "the run ends there), then every line is checked (length, writer, sequence "
                 "number, CRC): lost = sequence numbers never seen, damaged = lines that fail "
                 "the check. Daemon CPU is user+system time of the daemon process during the "
                 "burst; memory is its VmRSS sampled every 5 ms (growth = peak − before)."),
        "params": {"writers": writers, "lines per writer": lines, "line bytes": LINE_BYTES},
        "metrics": [
            {"label": "throughput", "unit": "lines/s", "values": vals["lines_per_s"],
             "target": [{"op": ">=", "factor": 2, "ref": "pm2"}]},
            {"label": "time until every line is in the files", "unit": "s",
             "values": vals["seconds"]},
            {"label": "lines lost", "unit": "count", "values": vals["lost"],
             "target": [{"op": "==", "value": 0, "stat": "max"}]},
            {"label": "lines damaged", "unit": "count", "values": vals["damaged"],
             "target": [{"op": "==", "value": 0, "stat": "max"}]},
            {"label": "daemon CPU during the burst", "unit": "s", "values": vals["daemon_cpu_s"]},
            {"label": "daemon peak RSS", "unit": "MB", "values": vals["rss_peak_mb"]},
            {"label": "daemon RSS growth", "unit": "MB", "values": vals["rss_growth_mb"],
             "target": [{"op": "<=", "value": 1, "unit": "MB", "stat": "max"}]},
        ],
        "raw": raw,
    }
