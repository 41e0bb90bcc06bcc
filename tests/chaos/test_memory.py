"""Clients that never read what they asked for cannot grow the daemon:
its memory for clients is bounded per client and in total, whatever they
do, while a client that reads slowly still gets the whole of a big reply
and the CLI keeps answering."""
import json
import os
import select
import socket
import threading
import time

import pytest

from conftest import CORRAL, SLOW, connect, figures, wait_for
from fhelpers import rss_kb

HELLO = b'{"cmd":"hello","v":1}\n'
SANITIZED = "asan" in CORRAL
# The daemon's resident memory may not pass this, whatever its clients do.
# The sanitizer build keeps a shadow of its memory and freed blocks in
# quarantine (bounded below): it gets more room.
RSS_BOUND_KB = (96 if SANITIZED else 32) * 1024
# The sanitizer build is about ten times slower to build a 2 MB reply: a
# smaller flood keeps the test within its time.
BIG_REPLY_CLIENTS = 60 if SANITIZED else 200


@pytest.fixture(autouse=True)
def bounded_quarantine(corral):
    if SANITIZED:
        corral.env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + \
            ":quarantine_size_mb=16:allocator_release_to_os_interval_ms=100"


class Reader:
    """A client that reads its replies, at the pace it chooses."""

    def __init__(self, corral):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(corral.home + "/corral.sock")
        self.s.settimeout(30 * SLOW)
        self.buf = b""
        self.call({"cmd": "hello", "v": 1})

    def send(self, req):
        self.s.sendall(json.dumps(req).encode() + b"\n")

    def line(self, chunk=1 << 20, pause=0.0):
        while b"\n" not in self.buf:
            data = self.s.recv(chunk)
            assert data, "the daemon closed the connection"
            self.buf += data
            time.sleep(pause)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, req):
        self.send(req)
        r = self.line()
        assert r["ok"] is True, r
        return r


def settled_rss(pid):
    """The daemon's RSS once it has been quiet for a moment (it gives freed
    heap back after a second without requests)."""
    last = [None]

    def stable():
        now = rss_kb(pid)
        same = last[0] is not None and abs(now - last[0]) < 256
        last[0] = now
        return same and now
    return wait_for(stable, timeout=20, interval=0.6, what="the daemon's RSS to settle")


def test_500_clients_that_never_read(corral, sockets):
    corral.ok("start", "sleep", "--name", "pad", "-i", "8", "--", "1000")
    corral.wait_status("pad", "online", count=8)
    dpid = corral.daemon_pid()
    rss0 = rss_kb(dpid)
    # Each asks for thousands of listings (about 20 KB each) and reads none.
    flood = HELLO + b'{"id":1,"cmd":"list"}\n' * 3000
    socks = [connect(corral, sockets, flood) for _ in range(500)]
    t0 = time.monotonic()
    for verb in ("ping", "list", "jlist"):
        corral.ok(verb)
    cli_s = time.monotonic() - t0
    peak = rss_kb(dpid)
    rss = settled_rss(dpid)
    closed = corral.daemon_log().count("closed: ")
    figures("non_reading_clients", clients=500, daemon_rss_kb_before=rss0,
            daemon_rss_kb_peak_seen=peak, daemon_rss_kb=rss, clients_closed=closed,
            cli_seconds=round(cli_s, 2))
    assert rss < RSS_BOUND_KB, f"daemon RSS {rss} kB"
    assert peak < RSS_BOUND_KB, f"daemon RSS {peak} kB"
    for s in socks:
        s.close()
    corral.ok("ping")


def test_200_clients_asking_for_2mb_replies_and_one_slow_reader(corral, sockets):
    corral.ok("ping")
    setup = Reader(corral)
    corral.ok("start", "sleep", "--name", "model", "--no-autostart", "--", "1000")
    spec = setup.call({"cmd": "list", "targets": ["model"]})["procs"][0]["spec"]
    # 20 stopped apps with 100 KB of environment each: `list env:true` is
    # a 2 MB reply.
    apps = [dict(spec, name=f"big{i}", autostart=False,
                 env={f"V{k}": "x" * 1000 for k in range(100)}) for i in range(20)]
    setup.call({"cmd": "start", "apps": apps})
    dpid = corral.daemon_pid()
    rss0 = settled_rss(dpid)
    slow = Reader(corral)
    slow.send({"id": "big", "cmd": "list", "env": True})
    t0 = time.monotonic()
    # It reads, 16 KiB at a time, all along the flood.
    got = {}
    reader = threading.Thread(target=lambda: got.update(
        r=slow.line(chunk=16 << 10, pause=0.005), s=time.monotonic() - t0))
    reader.start()
    socks = [connect(corral, sockets, HELLO + b'{"id":1,"cmd":"list","env":true}\n')
             for _ in range(BIG_REPLY_CLIENTS)]
    for verb in ("ping", "jlist"):
        corral.ok(verb)
    peak = rss_kb(dpid)
    reader.join(60 * SLOW)
    r = got.get("r")
    assert r and r["id"] == "big" and len(r["procs"]) == 21, r and r.get("error")
    assert all(len(p["spec"]["env"]) >= 100 for p in r["procs"] if p["name"] != "model")
    slow_s = got["s"]

    # A newcomer asking for as much while the non-readers still hold the
    # room gets it once they count as stalled: they are closed for it.
    def big_reply():
        try:
            late = Reader(corral)
            return len(late.call({"cmd": "list", "env": True})["procs"]) == 21
        except (AssertionError, OSError):
            return False
    wait_for(big_reply, timeout=30, interval=0.5, what="a big reply for a newcomer")
    rss = settled_rss(dpid)
    closed = corral.daemon_log().count("closed: ")
    figures("big_replies", clients=BIG_REPLY_CLIENTS, reply_bytes=len(json.dumps(r)),
            daemon_rss_kb_before=rss0, daemon_rss_kb_peak_seen=peak, daemon_rss_kb=rss,
            clients_closed=closed, slow_reader_seconds=round(slow_s, 1))
    assert rss < RSS_BOUND_KB and peak < RSS_BOUND_KB, (rss, peak)
    for s in socks:
        s.close()
    corral.ok("ping")


def test_log_subscribers_that_never_read(corral, sockets):
    corral.ok("ping")
    dpid = corral.daemon_pid()
    rss0 = rss_kb(dpid)
    subs = [connect(corral, sockets, HELLO + b'{"id":1,"cmd":"logs"}\n') for _ in range(300)]
    follower = Reader(corral)
    follower.call({"cmd": "logs"})
    # 200 000 lines of 100 bytes: 20 MB of pushes for each subscriber.
    lines = 200000
    corral.ok("start", "python3", "--name", "chatty", "--no-autorestart", "--", "-c",
              f"import sys\nfor i in range({lines}): sys.stdout.write('%099d\\n' % i)\n")
    corral.wait_status("chatty", "stopped", timeout=120)
    # One more line: the follower gets it, or a count of what it missed
    # that includes it, once it has caught up (the daemon says so as soon as
    # the follower's queue is empty, not only with a next line).
    corral.ok("start", "echo", "--name", "marker", "--no-autorestart", "--", "end")
    got = missed = 0
    marker = False
    while not marker and got + missed < lines + 1:
        e = follower.line()
        if e.get("event") == "missed":
            missed += e["count"]
        elif e.get("event") == "log" and e["name"] == "chatty" and e["stream"] == "out":
            got += 1
        elif e.get("event") == "log" and e["name"] == "marker":
            marker = True
    if not marker:
        missed -= 1             # the marker's line was among the missed
    peak = rss_kb(dpid)
    rss = settled_rss(dpid)
    dropped = corral.daemon_log().count("another client needs the room")
    figures("log_subscribers", subscribers=300, lines=lines, follower_got=got,
            follower_missed=missed, subscribers_dropped=dropped, daemon_rss_kb_before=rss0,
            daemon_rss_kb_peak_seen=peak, daemon_rss_kb=rss)
    # Every line reached the follower or was counted as missed.
    assert got + missed == lines, (got, missed)
    assert rss < RSS_BOUND_KB and peak < RSS_BOUND_KB, (rss, peak)
    for s in subs:
        s.close()


def test_100_clients_sending_endless_requests(corral, sockets):
    """Each sends 1 MiB of a request line and never ends it."""
    corral.ok("ping")
    dpid = corral.daemon_pid()
    rss0 = rss_kb(dpid)
    chunk = b'{"cmd":"hello","v":1,"pad":"' + b"x" * (1 << 20)
    held = [connect(corral, sockets) for _ in range(100)]
    socks = {s: 0 for s in held}
    deadline = time.monotonic() + 60 * SLOW
    refused = 0
    while socks and time.monotonic() < deadline:
        _, ready, _ = select.select([], list(socks), [], 1.0)
        for s in ready:
            try:
                socks[s] += s.send(chunk[socks[s]:socks[s] + 65536])
            except (BrokenPipeError, ConnectionResetError):
                refused += 1
                del socks[s]
                continue
            if socks[s] >= len(chunk):
                del socks[s]
    for verb in ("ping", "list"):
        corral.ok(verb)
    peak = rss_kb(dpid)
    rss = settled_rss(dpid)
    figures("endless_requests", clients=100, bytes_each=len(chunk), refused=refused,
            daemon_rss_kb_before=rss0, daemon_rss_kb_peak_seen=peak, daemon_rss_kb=rss)
    assert "bytes the daemon takes of requests in progress" in corral.daemon_log()
    assert rss < RSS_BOUND_KB and peak < RSS_BOUND_KB, (rss, peak)
    for s in held:
        s.close()
