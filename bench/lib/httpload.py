"""HTTP clients for the cluster and crash scenarios.

- Prober: a few threads, each opening a new connection per request
  (Connection: close) as fast as it can, recording the time, the outcome and
  the pid that answered (the app's X-Pid header). It is the "separate client"
  that counts failed requests during a reload or a kill -9, and the poller
  that sees a replacement instance answer.
- run_wrk: one bounded wrk run, parsed.
"""
import re
import socket
import subprocess
import threading
import time

from common import BenchError

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not in Python's socket module
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def get_once(port, timeout=2.0, source=None):
    """One request on a new connection. Returns the answering pid; raises on failure."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source:
            # choose the port at connect time: many short connections from
            # one bound address would run out of ports otherwise
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(REQUEST)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, _ = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 200"):
        raise OSError(f"bad response {lines[0][:60]!r}")
    for line in lines[1:]:
        if line[:6].lower() == b"x-pid:":
            return int(line[6:])
    raise OSError("no X-Pid header")


def classify(e):
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, BrokenPipeError):
        return "broken pipe"
    return type(e).__name__ + (f": {e}" if str(e) else "")


class Prober:
    """Background client, a new connection per request; see the module doc."""

    def __init__(self, port, threads=4, timeout=2.0, sources=16):
        self.port = port
        self.timeout = timeout
        # Requests come from 127.0.0.1..127.0.0.<sources> in turn, so that a
        # sticky (source-hashed) group sends them to every instance.
        self.sources = [f"127.0.0.{k}" for k in range(1, sources + 1)]
        self._next = 0
        self.records = []  # (monotonic time of completion, pid or None, error or None)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _loop(self):
        while not self._stop.is_set():
            self._next += 1  # races between threads only skew the rotation
            source = self.sources[self._next % len(self.sources)]
            try:
                pid = get_once(self.port, self.timeout, source)
                self.records.append((time.monotonic(), pid, None))
            except Exception as e:  # every failure is a data point
                self.records.append((time.monotonic(), None, classify(e)))
                # a refused connection returns at once: do not spin the CPU
                time.sleep(0.001)

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def since(self, t0):
        return [r for r in list(self.records) if r[0] >= t0]

    def first_from(self, t0, exclude):
        """Time of the first good answer after t0 from a pid not in exclude, or None."""
        for t, pid, _ in list(self.records):
            if t >= t0 and pid is not None and pid not in exclude:
                return t, pid
        return None

    def tally(self, t0=0.0, t1=float("inf")):
        ok = 0
        errors = {}
        pids = {}
        for t, pid, err in list(self.records):
            if not t0 <= t <= t1:
                continue
            if err is None:
                ok += 1
                pids[pid] = pids.get(pid, 0) + 1
            else:
                errors[err] = errors.get(err, 0) + 1
        return {"ok": ok, "failed": sum(errors.values()), "errors": errors,
                "per_pid": {str(k): v for k, v in pids.items()}}


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        return None
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(port, duration_s, connections=64, threads=2, close=False, timeout_s=2):
    """One wrk run against 127.0.0.1:port. Returns a dict of parsed numbers."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s}s",
           "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}/")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30)
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish")
    out = r.stdout
    res = {"command": " ".join(cmd[:-1]) + " http://127.0.0.1:PORT/", "rps": None,
           "p50_ms": None, "p99_ms": None, "requests": None, "socket_errors": 0, "non_2xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        if m:
            res[key] = _ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = sum(int(x) for x in m.groups())
        res["socket_errors_detail"] = dict(zip(("connect", "read", "write", "timeout"),
                                               map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non_2xx"] = int(m.group(1))
    if res["rps"] is None:
        raise BenchError(f"wrk printed no result: {out[-400:]} {r.stderr[-400:]}")
    return res
