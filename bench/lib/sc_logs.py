"""Log throughput: W processes write L lines of 100 bytes each as fast as they can;
then the same with rotation (10 MB files, gzip) against the same without."""
import gzip
import os
import re
import struct
import time
import zlib

import ecosystem
from common import BenchError, cpu_seconds, log, rss_kb, wait_for
from managers import settle

NAME = "logs"
TITLE = "Log throughput"
LINE_BYTES = 100
LINE_RE = re.compile(rb"^w(\d+) (\d{8}) ([0-9a-f]+) ([0-9a-f]{8})$")


ROTATE_SIZE = "10M"


def rotated_files(path):
    """The files rotated from a log (<stem>__<date>.log, .log.gz), corral's and
    pm2-logrotate's names alike; a .log whose .gz is complete counts once."""
    folder, base = os.path.split(path)
    stem = base[:-4] if base.endswith(".log") else base
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    out = []
    for n in names:
        if not n.startswith(stem + "__") or n.endswith(".tmp"):
            continue
        if n.endswith(".log") and (n + ".gz") in names:
            continue
        out.append(os.path.join(folder, n))
    return sorted(out)


def plain_size(path):
    """The bytes a log file holds (a .gz: the size its trailer records)."""
    try:
        if not path.endswith(".gz"):
            return os.stat(path).st_size
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            return struct.unpack("<I", f.read(4))[0]
    except (OSError, struct.error):
        return 0


def file_lines(paths):
    for p in paths:
        if p.endswith(".gz"):
            with gzip.open(p, "rb") as f:
                yield from f
        else:
            with open(p, "rb") as f:
                yield from f


def check_file(paths, wid, lines):
    """(good, damaged, duplicates, missing) for one writer's log files."""
    seen = bytearray(lines)
    good = damaged = dup = 0
    for raw in file_lines(paths):
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


def one_burst(ctx, m, writers, lines, eco, sync, rotate=False):
    for f in os.listdir(sync):
        os.unlink(os.path.join(sync, f))
    dpid = m.fresh()
    m.log_rotation(ROTATE_SIZE if rotate else None, compress=True)
    m.start_file(eco)
    # Only the writers (PM2 lists its pm2-logrotate module too).
    procs = wait_for(lambda: (lambda ps: len(ps) == writers and all(
        p["status"] == "online" and p["pid"] for p in ps) and ps)(
        [p for p in m.procs() if re.fullmatch(r"w\d+", p["name"] or "")]),
        60, interval=0.005, what=f"{writers} {m.name} writers to be online")
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
            total += plain_size(p)
            if rotate:
                total += sum(plain_size(r) for r in rotated_files(p))
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
    rotations = 0
    if rotate:
        # The compressors finish (not timed: they run beside the apps).
        try:
            wait_for(lambda: not any(r.endswith(".log") for p in paths.values()
                                     for r in rotated_files(p)), 30, interval=0.05,
                     what="the rotated files to be compressed")
        except BenchError as e:
            log(f"logs {m.name}: {e}")
        rotations = sum(len(rotated_files(p)) for p in paths.values())
    good = damaged = dup = missing = 0
    for wid, p in paths.items():
        g, d, u, miss = check_file(rotated_files(p) + [p], wid, lines)
        good, damaged, dup, missing = good + g, damaged + d, dup + u, missing + miss
    m.delete_all()
    m.shutdown()
    secs = max(t1 - t0, 1e-6)
    return {"seconds": secs, "lines_per_s": good / secs, "mb_per_s": good * LINE_BYTES / secs / 1e6,
            "lost": missing, "damaged": damaged, "duplicated": dup, "stalled": stalled,
            "daemon_cpu_s": cpu, "rss_before_mb": rss0 / 1024, "rss_peak_mb": peak / 1024,
            "rss_growth_mb": (peak - rss0) / 1024, "rotate": rotate, "rotated_files": rotations}


def run(ctx):
    writers, lines = 4, ctx.size(250_000, 20_000)
    sync = os.path.join(ctx.work, "logsync")
    os.makedirs(sync, exist_ok=True)
    eco = ecosystem.log_writers(os.path.join(ctx.work, "eco-logs.json"), writers, lines, sync)
    keys = ["lines_per_s", "seconds", "lost", "damaged", "daemon_cpu_s", "rss_peak_mb",
            "rss_growth_mb"]
    vals = {k: {} for k in keys}
    # With rotation: corral (and PM2 with pm2-logrotate, when it is there)
    # against corral without rotation.
    rot = {k: {} for k in ["lines_per_s", "lost", "damaged", "rotated_files"]}
    raw = []
    for i in range(ctx.runs):
        for m in ctx.order(i):
            for rotate in (False, True):
                if rotate and not m.can_rotate():
                    continue
                r = one_burst(ctx, m, writers, lines, eco, sync, rotate)
                table = rot if rotate else vals
                for k in table:
                    table[k].setdefault(m.name, []).append(r[k])
                if rotate and m.name == "corral":
                    rot["lines_per_s"].setdefault("corral_norot", []).append(
                        vals["lines_per_s"]["corral"][-1])
                raw.append({"run": i + 1, "manager": m.name, **r})
                log(f"logs run {i + 1} {m.name}{' with rotation' if rotate else ''}: "
                    f"{r['seconds']:.2f} s, {r['lines_per_s']:,.0f} lines/s, "
                    f"lost {r['lost']}, damaged {r['damaged']}, cpu {r['daemon_cpu_s']:.2f} s, "
                    f"rss {r['rss_before_mb']:.1f} → {r['rss_peak_mb']:.1f} MB"
                    + (f", {r['rotated_files']} rotated files" if rotate else "")
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
            {"label": "throughput, no rotation", "unit": "lines/s", "values": vals["lines_per_s"],
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
            {"label": f"throughput, rotating at {ROTATE_SIZE} with gzip", "unit": "lines/s",
             "values": rot["lines_per_s"],
             "target": [{"op": ">=", "factor": 0.8, "ref": "corral_norot"}]},
            {"label": "lines lost, rotating", "unit": "count", "values": rot["lost"],
             "target": [{"op": "==", "value": 0, "stat": "max"}]},
            {"label": "lines damaged, rotating", "unit": "count", "values": rot["damaged"],
             "target": [{"op": "==", "value": 0, "stat": "max"}]},
            {"label": "rotated files kept", "unit": "count", "values": rot["rotated_files"]},
        ],
        "notes": [f"Rotation rows: the same burst with every log rotating at {ROTATE_SIZE} and "
                  "the rotated files gzipped (corral: `corral set logrotate:max_size "
                  f"{ROTATE_SIZE}`, `logrotate:compress true`); lost and damaged count the "
                  "lines of the live and the rotated files together, after the compressors "
                  "finished. The first rows are without rotation (`logrotate:max_size 0`). "
                  + ("PM2 rows with rotation use pm2-logrotate." if any(
                      "pm2" in v for v in rot.values()) else
                      "PM2 with pm2-logrotate was not measured (the module is not installed "
                      "in bench/pm2).")],
        "raw": raw,
    }
